import { log } from '../src/log.js';
import { decodeSample, type DecodeOptions } from '../src/data/decode.js';
import { DecodePool } from '../src/data/decode_pool.js';
import { ImageDecodeError } from '../src/data/errors.js';
import { mapConcurrent, pullable, pullFrom, SKIP, type PullOperator } from '../src/pull.js';
import { countSkip, type EncodedSample, type Sample, type SkipCounter } from '../src/data/types.js';

export interface DecodeImagesOptions extends DecodeOptions {
  /**
   * Images being decoded at once (sharp runs them on libuv threads), and the most held here. 4–8
   * suits small images on the main thread; with `workers`, take at least a batch (see below).
   */
  concurrent: number;
  /**
   * Worker threads to decode on (default 0: the main thread calls sharp). With a synchronous
   * training step (wasm) on the main thread, use 1 and `concurrent` ≥ the batch size: the worker
   * keeps decoding while the step blocks the main thread, whose share per image drops to passing
   * a path and receiving pixels (`src/data/decode_pool.ts`). A pool is started per subscription
   * and stopped when it ends. Same results, order and errors either way.
   */
  workers?: number;
  /** Fail the stream on the first undecodable image instead of skipping it. */
  strict?: boolean;
  /** Counts skipped images (see `createSkipCounter`); read it after the run. */
  skipped?: SkipCounter;
  /** Where skips are logged (default: the project's pino logger). */
  logger?: { warn(obj: object, msg: string): void };
}

/**
 * Decode `EncodedSample`s (bytes, or a file path) into raw-pixel `Sample`s with sharp:
 * `Uint8Array` HWC pixels, resized to `size` if given, converted to `channels` (default 3).
 *
 * Up to `concurrent` decodes run at once; results keep input order (unlike `mergeMap`), so a
 * seed fixes which images share a batch. Upstream is pulled only to keep `concurrent` decodes
 * busy while downstream asks (see `src/data/README.md`): at most `concurrent` images are held.
 *
 * A corrupt, truncated or missing image (`ImageDecodeError`) or one over `limitInputPixels`
 * (`ImageTooLargeError`, the decompression-bomb guard) is logged with its path, counted in
 * `skipped`, and dropped; with `strict`, the stream errors with it instead. Other errors (bugs, a
 * decode worker that died) always fail the stream. Creates no tensors.
 *
 * @example
 * ```ts
 * const skipped = createSkipCounter();
 * readImageFolder({ root }).pipe(
 *   shuffle({ bufferSize: 50_000, seed }),
 *   decodeImages({ concurrent: 4, size: [32, 32], channels: 3, skipped }),
 *   batch({ size: 64 }),
 * );
 * // feeding a synchronous training step: decode on a worker, a batch or two ahead
 * decodeImages({ concurrent: 128, workers: 1, size: [32, 32], channels: 3, skipped });
 * // after the run: summary.skippedSamples = skipped.count
 * ```
 */
export function decodeImages(options: DecodeImagesOptions): PullOperator<EncodedSample, Sample> {
  const { concurrent, workers = 0, strict = false, skipped, logger = log, ...decode } = options;
  if (!Number.isInteger(concurrent) || concurrent < 1) throw new RangeError(`decodeImages: concurrent must be an integer ≥ 1 (got ${concurrent})`);
  if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`decodeImages: workers must be an integer ≥ 0 (got ${workers})`);
  if (decode.channels !== undefined && ![1, 3, 4].includes(decode.channels)) {
    throw new RangeError(`decodeImages: channels must be 1, 3 or 4 (got ${decode.channels})`);
  }
  if (decode.size && !decode.size.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(`decodeImages: size must be [height, width] in whole pixels (got [${decode.size.join(', ')}])`);
  }
  const decodeOne = async (sample: EncodedSample, pool: DecodePool | undefined): Promise<Sample | typeof SKIP> => {
    try {
      return await decodeSample(sample, decode, pool);
    } catch (e) {
      if (strict || !(e instanceof ImageDecodeError)) throw e;
      if (skipped) countSkip(skipped, sample.source, e.name);
      logger.warn({ source: sample.source, key: sample.key, reason: e.name, err: e.message }, 'skipped undecodable image');
      return SKIP;
    }
  };
  return (source) =>
    pullable(async function* (signal) {
      const pool = workers > 0 ? new DecodePool(workers) : undefined;
      try {
        yield* mapConcurrent(pullFrom(source, signal), (s) => decodeOne(s, pool), concurrent);
      } finally {
        await pool?.close();
      }
    });
}
