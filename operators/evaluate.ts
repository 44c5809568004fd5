import * as tf from '@tensorflow/tfjs';
import type { Observable, OperatorFunction } from 'rxjs';
import type { EvalEnd, TrainEvent } from '../src/events.js';
import { pullFrom } from '../src/data/pull.js';
import type { Batch } from '../src/train/fit.js';
import { streamOnDemand } from '../src/train/on_demand.js';

export interface EvaluateOptions {
  model: tf.LayersModel;
  /** The test set, as a fresh (pull-through) batch stream per evaluation. */
  batches: () => Observable<Batch>;
  /** Evaluate after every `everyEpochs` epochs (default 1; 0: only at the end). */
  everyEpochs?: number;
  /**
   * Also evaluate at `fitEnd` when steps were trained since the last evaluation and the run ended
   * normally (completed or --max-steps). Default true.
   */
  atEnd?: boolean;
}

/**
 * Test loss and accuracy of the model (inference mode) over the whole test stream, emitted as
 * `evalEnd` right after the `epochEnd` (or `fitEnd`) that triggered it. Other events pass through.
 *
 * Demand-preserving (src/train/on_demand.ts): `fit` trains no further batch until the evaluation
 * is done, so it measures exactly the weights at the end of the epoch.
 *
 * Tensor ownership: it disposes every test batch it pulls; intermediates are freed in `tf.tidy`.
 *
 * @example
 * ```ts
 * fit({ ... }).pipe(
 *   evaluate({ model, batches: () => readIdx(test).pipe(batch({ size: 256 }), toTensors()) }),
 * );
 * ```
 */
export function evaluate(options: EvaluateOptions): OperatorFunction<TrainEvent, TrainEvent> {
  const everyEpochs = options.everyEpochs ?? 1;
  const atEnd = options.atEnd ?? true;
  return streamOnDemand<TrainEvent, TrainEvent>(() => {
    let evaluatedStep = -1;
    return {
      async *handle(e) {
        yield e;
        const due =
          (e.type === 'epochEnd' && everyEpochs > 0 && (e.epoch + 1) % everyEpochs === 0) ||
          (e.type === 'fitEnd' && atEnd && (e.reason === 'completed' || e.reason === 'maxSteps') && e.steps !== evaluatedStep);
        if (!due) return;
        const epoch = e.type === 'epochEnd' ? e.epoch : e.position.epoch;
        evaluatedStep = e.type === 'epochEnd' ? e.step : e.steps;
        yield await evaluateOnce(options.model, options.batches(), epoch, evaluatedStep);
      },
    };
  });
}

/** One pass over `batches$`; returns the `evalEnd` event. Disposes every batch. */
export async function evaluateOnce(model: tf.LayersModel, batches$: Observable<Batch>, epoch: number, step: number): Promise<EvalEnd> {
  const t0 = performance.now();
  const controller = new AbortController();
  let lossSum = 0;
  let correct = 0;
  let images = 0;
  try {
    for await (const b of pullFrom(batches$, controller.signal)) {
      try {
        const sums = tf.tidy(() => {
          const logits = model.apply(b.x, { training: false }) as tf.Tensor2D;
          const labels = b.y.toInt();
          const onehot = tf.oneHot(labels, logits.shape[1]);
          const loss = tf.losses.softmaxCrossEntropy(onehot, logits, undefined, undefined, tf.Reduction.SUM);
          const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), 'float32'));
          return tf.stack([loss, hits]);
        });
        const [l, c] = sums.dataSync() as Float32Array;
        sums.dispose();
        lossSum += l!;
        correct += c!;
        images += b.x.shape[0];
      } finally {
        b.x.dispose();
        b.y.dispose();
      }
    }
  } finally {
    controller.abort();
  }
  return {
    type: 'evalEnd',
    epoch,
    step,
    testLoss: images ? lossSum / images : NaN,
    testAccuracy: images ? correct / images : NaN,
    images,
    ms: performance.now() - t0,
  };
}
