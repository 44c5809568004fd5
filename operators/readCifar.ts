import { cifarRecord, readCifarFile, type CifarLabel, type CifarVariant } from '../src/data/cifar.js';
import { pullable, type PullObservable } from '../src/pull.js';
import type { Sample } from '../src/data/types.js';

export interface ReadCifarOptions {
  /** Binary batch files, read in this order (see `cifarPaths(dir, split)`). */
  files: readonly string[];
  /** Record layout (default `cifar10`). */
  variant?: CifarVariant;
  /** CIFAR-100 only: which label to emit (default `fine`, 100 classes; `coarse`: 20). */
  label?: CifarLabel;
}

/**
 * Source: the samples of CIFAR-10 or CIFAR-100 binary batches, in file order, converted from the
 * files' CHW to HWC (`Uint8Array`, shape `[32, 32, 3]`).
 *
 * One batch file (about 30 MB) is held at a time; it is read and checked whole when first
 * pulled, so a truncated file fails before any of its samples are emitted
 * (`TruncatedDataError` with the file and the offset of the cut record). Labels out of range are
 * a `DataFormatError` at the label's byte. Creates no tensors. Pull-driven (see `src/data/README.md`).
 *
 * @example
 * ```ts
 * readCifar({ files: await cifarPaths(dir, 'train') }).pipe(
 *   shuffle({ bufferSize: 10_000, seed }),
 *   augment({ seed, ops: [{ name: 'randomCrop', padding: 4 }, { name: 'flipHorizontal' }] }),
 *   batch({ size: 128 }),
 *   toTensors(),
 * );
 * ```
 */
export function readCifar(options: ReadCifarOptions): PullObservable<Sample> {
  const { files, variant = 'cifar10', label = 'fine' } = options;
  if (files.length === 0) throw new RangeError('readCifar: files is empty');
  return pullable<Sample>(async function* (signal) {
    for (const file of files) {
      const { bytes, records } = await readCifarFile(file, variant);
      for (let i = 0; i < records; i++) {
        if (signal.aborted) return;
        yield cifarRecord(bytes, i, file, variant, label);
      }
    }
  });
}
