import { basename } from 'node:path';
import { DataFormatError } from '../src/data/errors.js';
import { readIdxFile } from '../src/data/idx.js';
import { pullable, type PullObservable } from '../src/pull.js';
import type { Sample } from '../src/data/types.js';

export interface ReadIdxOptions {
  /** IDX images file, gzipped or not: ubyte `[n, h, w]` (1 channel) or `[n, h, w, c]`. */
  images: string;
  /** IDX labels file, gzipped or not: ubyte or int32 `[n]`. */
  labels: string;
  /** Skip the first `offset` samples (default 0); keys keep the samples' true indices. */
  offset?: number;
  /** Emit at most `limit` samples (from `offset` on). */
  limit?: number;
}

/**
 * Source: the samples of a pair of IDX files (MNIST, Fashion-MNIST), in file order.
 *
 * Both files are read whole when the stream is first pulled (Fashion-MNIST's training images are
 * 47 MB unpacked); samples are then made one per pull, each a fresh copy of its pixels
 * (`Uint8Array`, HWC, values 0..255). `offset` and `limit` select the samples
 * `[offset, offset + limit)` (e.g. a held-out tail: `{ offset: n - k }`); keys are `<file>:<index>`
 * with the index in the file. Every subscription reads the files again. Errors name the file and
 * byte offset (`TruncatedDataError`, `DataFormatError`); an `offset` past the file's samples is a
 * `RangeError` naming the file. Creates no tensors.
 *
 * The result is pull-driven (see `src/data/README.md`): nothing is read until a consumer pulls.
 *
 * @example
 * ```ts
 * const { images, labels } = await idxPaths('data/fashion-mnist-subset', 'train');
 * readIdx({ images, labels }).pipe(
 *   shuffle({ bufferSize: 10_000, seed: 1 }),
 *   batch({ size: 64 }),
 *   toTensors(),
 *   prefetch({ size: 2 }),
 * );
 * ```
 */
export function readIdx(options: ReadIdxOptions): PullObservable<Sample> {
  const { images, labels, offset = 0, limit = Infinity } = options;
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`readIdx: offset must be a non-negative integer, got ${offset}`);
  return pullable<Sample>(async function* (signal) {
    const [img, lab] = await Promise.all([readIdxFile(images), readIdxFile(labels)]);
    if (img.dtype !== 'uint8' || (img.shape.length !== 3 && img.shape.length !== 4)) {
      throw new DataFormatError(images, `expected ubyte images of shape [n, h, w] or [n, h, w, c], found ${img.dtype} [${img.shape.join(', ')}]; is this a labels file?`);
    }
    if ((lab.dtype !== 'uint8' && lab.dtype !== 'int32') || lab.shape.length !== 1) {
      throw new DataFormatError(labels, `expected ubyte or int32 labels of shape [n], found ${lab.dtype} [${lab.shape.join(', ')}]; is this an images file?`);
    }
    const n = img.shape[0]!;
    if (lab.shape[0] !== n) {
      throw new DataFormatError(labels, `${lab.shape[0]} labels for ${n} images in ${images}; the two files do not belong together`);
    }
    const [, h, w, c = 1] = img.shape as [number, number, number, number?];
    const per = h * w * c;
    const name = basename(images);
    if (offset > n) throw new RangeError(`${images}: offset ${offset} is past its ${n} samples`);
    const end = Math.min(n, offset + limit);
    for (let i = offset; i < end; i++) {
      if (signal.aborted) return;
      yield {
        key: `${name}:${i}`,
        image: img.data.slice(i * per, (i + 1) * per) as Uint8Array,
        shape: [h, w, c],
        label: lab.data[i]!,
        source: images,
      };
    }
  });
}
