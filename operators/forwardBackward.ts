import * as tf from '@tensorflow/tfjs';
import { lossAndGrads, trainableVariables } from '../src/train/step.js';
import { onDemand, type PullOperator } from '../src/pull.js';
import type { Batch } from '../src/train/fit.js';
import type { Replicas } from '../src/train/replicas.js';

export interface ForwardBackwardOptions {
  model: tf.LayersModel;
  /** Variables to differentiate (default: the model's trainable weights, in model order). */
  variables?: tf.Variable[];
  /**
   * Called with each batch's input before the pass, e.g. `(x) => optimizer.observe(x)` to gather
   * the layer-input statistics that FG-SGD's ℜ is estimated from. Must not dispose `x`.
   */
  observe?: (x: tf.Tensor) => void | Promise<void>;
  /**
   * Data-parallel replicas (`session.replicas`, src/train/replicas.ts): the batch is split across
   * them and the gradients summed. Absent: one pass on `model`.
   */
  replicas?: Replicas;
}

/** What `forwardBackward` passes on: the gradients of one batch and what it measured. */
export interface Gradients {
  /**
   * Gradient per tfjs variable name (as `tf.variableGrads` names them). Owned by the receiver,
   * which must dispose them (`manifoldStep` does).
   */
  grads: tf.NamedTensorMap;
  /** Mean softmax cross-entropy of the batch (NaN or ±Infinity when training diverged). */
  loss: number;
  /** Fraction of the batch classified correctly, in training mode, before the update. */
  accuracy: number;
  images: number;
  /** Forward and backward time. */
  ms: number;
  /** Copied from the incoming batch when present (see `PositionedBatch`, src/train/fit.ts). */
  epoch: number;
  sampleIndex: number;
  stallMs: number;
}

/**
 * One forward and backward pass per batch: logits in training mode, mean softmax cross-entropy
 * against the int32 labels, gradients with respect to the model's trainable weights. One batch at
 * a time, pulled only when the consumer asks (`onDemand`, src/pull.ts), because it reads the
 * weights that the next stage updates.
 *
 * Tensor ownership: it disposes each batch's `x` and `y` (also when the pass throws); the
 * gradients it emits belong to the receiver (gradients made but never delivered, because the
 * consumer left, are disposed here). Every other tensor is freed inside `tf.tidy`.
 *
 * @example
 * ```ts
 * batches$.pipe(
 *   forwardBackward({ model }),
 *   manifoldStep({ optimizer }),     // applies and disposes the gradients
 * );
 * ```
 */
export function forwardBackward<B extends Batch>(options: ForwardBackwardOptions): PullOperator<B, Gradients> {
  const { model } = options;
  const variables = options.variables ?? trainableVariables(model);
  return onDemand<B, Gradients>(
    () => ({
      async *handle(batch) {
        yield await pass(batch);
      },
    }),
    (g) => tf.dispose(g.grads),
  );

  /** The pass, then one asynchronous read of loss and accuracy (a GPU backend computes meanwhile). */
  async function pass(batch: B): Promise<Gradients> {
    const t0 = performance.now();
    const tag = batch as Partial<Pick<Gradients, 'epoch' | 'sampleIndex' | 'stallMs'>>;
    try {
      await options.observe?.(batch.x);
      if (options.replicas) {
        const { grads, loss, correct } = await options.replicas.lossAndGrads(batch.x, batch.y);
        const images = batch.x.shape[0];
        return { grads, loss, accuracy: correct / images, images, ms: performance.now() - t0, epoch: tag.epoch ?? 0, sampleIndex: tag.sampleIndex ?? 0, stallMs: tag.stallMs ?? 0 };
      }
      let correct: tf.Scalar | undefined;
      const { value, grads } = lossAndGrads(model, batch.x, batch.y, variables, (logits) => {
        // Kept out of the gradient scope; disposed below, after one read-back with the loss.
        correct = tf.keep(tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), batch.y.toInt()), 'float32')) as tf.Scalar);
      });
      const both = tf.stack([value, correct!]);
      tf.dispose([value, correct!]);
      let read: Float32Array;
      try {
        read = (await both.data()) as Float32Array;
      } catch (e) {
        tf.dispose(grads);
        throw e;
      } finally {
        both.dispose();
      }
      const [loss, accuracy] = read;
      return {
        grads,
        loss: loss!,
        accuracy: accuracy!,
        images: batch.x.shape[0],
        ms: performance.now() - t0,
        epoch: tag.epoch ?? 0,
        sampleIndex: tag.sampleIndex ?? 0,
        stallMs: tag.stallMs ?? 0,
      };
    } finally {
      batch.x.dispose();
      batch.y.dispose();
    }
  }
}
