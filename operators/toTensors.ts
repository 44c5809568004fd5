import * as tf from '@tensorflow/tfjs';
import { pullable, pullFrom, type PullOperator } from '../src/pull.js';
import { samplesToTensors } from '../src/data/tensors.js';

/** Re-exported for callers that build a batch by hand (tests, evaluation). */
export { samplesToTensors };
import type { Sample, TensorBatch } from '../src/data/types.js';

export interface ToTensorsOptions {
  /** Factor for byte (`Uint8Array`) pixels (default 1/255, to [0, 1]); float pixels are taken as they are. */
  uint8Scale?: number;
}

/**
 * Turn a batch of samples into tensors: `x` float32 `[b, h, w, c]`, `y` int32 class ids `[b]`.
 * Byte pixels are scaled by `uint8Scale` (default 1/255); float pixels (e.g. from `augment`'s
 * `normalize`) are copied as they are. All samples of a batch must share one shape: decode with
 * `decodeImages({ size })` if the images differ.
 *
 * Ownership: **the consumer of each `TensorBatch` disposes `x` and `y`** (e.g. after the training
 * step). Tensors are created only when the batch is pulled; a batch created but never delivered
 * because the consumer left is disposed here, and `prefetch` disposes the batches it still holds
 * when unsubscribed.
 *
 * @example
 * ```ts
 * readIdx({ images, labels }).pipe(batch({ size: 64 }), toTensors(), prefetch({ size: 2 }))
 *   .pipe(concatMapOnDemand(async ({ x, y }) => {
 *     try { return await trainStep(x, y); } finally { tf.dispose([x, y]); }
 *   }));
 * ```
 */
export function toTensors(options: ToTensorsOptions = {}): PullOperator<readonly Sample[], TensorBatch> {
  const scale = options.uint8Scale ?? 1 / 255;
  return (source) =>
    pullable(
      async function* (signal) {
        for await (const samples of pullFrom(source, signal)) yield samplesToTensors(samples, scale);
      },
      (b) => tf.dispose([b.x, b.y]),
    );
}
