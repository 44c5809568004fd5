/**
 * What flows through the data side of a pipeline.
 *
 * `EncodedSample` (a file or bytes still to decode) → `decodeImages` → `Sample` (raw pixels)
 * → `augment` → `batch` → `Sample[]` → `toTensors` → `TensorBatch`.
 * Raw formats (IDX, CIFAR binary) produce `Sample`s directly.
 */
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs';

/** Height, width, channels. Pixels are stored HWC, row-major, channel last. */
export type ImageShape = [h: number, w: number, c: number];

/** One decoded example. `image` holds `h*w*c` values in HWC order. */
export interface Sample {
  /** Stable identity, unique within its dataset (e.g. `train-images-idx3-ubyte.gz:41`). */
  key: string;
  /** Pixels: bytes 0..255 as decoded, or floats once normalised by `augment`. */
  image: Uint8Array | Float32Array;
  shape: ImageShape;
  /** Class id (0-based). */
  label: number;
  /** Where it came from (file, `shard#member`), for error messages and logs. */
  source?: string;
}

/** One example before decoding: its image is in `bytes`, or in the file at `path`. */
export type EncodedSample = {
  key: string;
  label: number;
  /** File path or `shard#member`: what errors and logs name. */
  source: string;
} & ({ bytes: Uint8Array; path?: undefined } | { path: string; bytes?: undefined });

/**
 * A batch as tensors, made by `toTensors`. `x`: float32 `[b, h, w, c]`; `y`: int32 class ids `[b]`.
 * Whoever receives a `TensorBatch` owns it and must dispose `x` and `y`.
 */
export interface TensorBatch {
  x: Tensor4D;
  y: Tensor1D;
  keys: string[];
}

/**
 * Counts samples skipped by a lenient stage (`decodeImages` without `strict`). Create it with
 * {@link createSkipCounter}, pass it in, read it after the run (e.g. for `summary.json`'s
 * `skippedSamples`).
 */
export interface SkipCounter {
  count: number;
  /** Count per error name (`ImageDecodeError`, `ImageTooLargeError`, ...). */
  byReason: Record<string, number>;
  /** The first {@link SKIP_EXAMPLES} skipped sources, for the report. */
  examples: string[];
}

export const SKIP_EXAMPLES = 20;

export function createSkipCounter(): SkipCounter {
  return { count: 0, byReason: {}, examples: [] };
}

/** Record one skipped sample. */
export function countSkip(counter: SkipCounter, source: string, reason: string): void {
  counter.count++;
  counter.byReason[reason] = (counter.byReason[reason] ?? 0) + 1;
  if (counter.examples.length < SKIP_EXAMPLES) counter.examples.push(source);
}
