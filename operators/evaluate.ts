import * as tf from '@tensorflow/tfjs';
import type { Observable } from 'rxjs';
import type { EvalEnd, EvalSplit, TrainEvent } from '../src/events.js';
import { DeadChannelCounter, deadChannelProbe, type DeadChannelProbe } from '../src/train/dead_channels.js';
import type { Batch } from '../src/train/fit.js';
import { onDemand, pullFrom, type PullOperator } from '../src/pull.js';

export interface EvaluateOptions {
  model: tf.LayersModel;
  /** The evaluated set (the test set by default), as a fresh (pull-through) batch stream per evaluation. */
  batches: () => Observable<Batch>;
  /**
   * Which set `batches` holds, recorded as the event's `split` (default 'test'). A 'validation'
   * evaluation reports its loss and accuracy in the same `testLoss`/`testAccuracy` fields.
   */
  split?: EvalSplit;
  /**
   * Count the dead channels of the model's first ReLU over the set (src/train/dead_channels.ts),
   * as the event's `deadChannels`. Default: true for the test split, false for validation.
   */
  deadChannels?: boolean;
  /** Evaluate after every `everyEpochs` epochs (default 1; 0: only at the end). */
  everyEpochs?: number;
  /**
   * Samples the set's source skipped (unreadable) during the evaluation that just ran, read after
   * it, as the event's `skippedSamples` (e.g. the decode counter of the test stream).
   */
  skippedSamples?: () => number;
  /**
   * Also evaluate at `fitEnd` when steps were trained since the last evaluation and the run ended
   * normally (completed or --max-steps). Default true.
   */
  atEnd?: boolean;
}

/**
 * Loss and accuracy of the model (inference mode) over the whole test (or validation) stream,
 * emitted as `evalEnd` right after the `epochEnd` (or `fitEnd`) that triggered it, with the dead
 * channels of the first ReLU on the test split. Other events pass through.
 *
 * Demand-preserving (src/pull.ts): `fit` trains no further batch until the evaluation
 * is done, so it measures exactly the weights at the end of the epoch.
 *
 * Tensor ownership: it disposes every test batch it pulls; intermediates are freed in `tf.tidy`.
 * The dead-channel probe shares the model's layers and holds no tensors of its own.
 *
 * @example
 * ```ts
 * fit({ ... }).pipe(
 *   evaluate({ model, split: 'validation', batches: () => readIdx({ ...train, offset: n - k }).pipe(batch({ size: 256 }), toTensors()) }),
 *   evaluate({ model, batches: () => readIdx(test).pipe(batch({ size: 256 }), toTensors()) }),
 * );
 * ```
 */
export function evaluate(options: EvaluateOptions): PullOperator<TrainEvent, TrainEvent> {
  const everyEpochs = options.everyEpochs ?? 1;
  const atEnd = options.atEnd ?? true;
  const split = options.split ?? 'test';
  const countDead = options.deadChannels ?? split === 'test';
  return onDemand<TrainEvent, TrainEvent>(() => {
    let evaluatedStep = -1;
    // Built at the first evaluation, once per subscription (null: the model has no ReLU to probe).
    let probe: DeadChannelProbe | null | undefined;
    return {
      async *handle(e) {
        yield e;
        const due =
          (e.type === 'epochEnd' && everyEpochs > 0 && (e.epoch + 1) % everyEpochs === 0) ||
          (e.type === 'fitEnd' && atEnd && (e.reason === 'completed' || e.reason === 'maxSteps') && e.steps !== evaluatedStep);
        if (!due) return;
        const epoch = e.type === 'epochEnd' ? e.epoch : e.position.epoch;
        evaluatedStep = e.type === 'epochEnd' ? e.step : e.steps;
        if (countDead && probe === undefined) probe = deadChannelProbe(options.model);
        const ev = await evaluateOnce(options.model, options.batches(), epoch, evaluatedStep, { split, probe: countDead ? probe : undefined });
        yield options.skippedSamples ? { ...ev, skippedSamples: options.skippedSamples() } : ev;
      },
    };
  });
}

/**
 * One pass over `batches$`; returns the `evalEnd` event. Disposes every batch. With `probe` the
 * event has `deadChannels` (null when the probe is null, the model having no ReLU, or the set is
 * empty); without it, no such field.
 */
export async function evaluateOnce(
  model: tf.LayersModel,
  batches$: Observable<Batch>,
  epoch: number,
  step: number,
  options: { split?: EvalSplit; probe?: DeadChannelProbe | null } = {},
): Promise<EvalEnd> {
  const t0 = performance.now();
  const dead = options.probe ? new DeadChannelCounter(options.probe) : undefined;
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
        // Asynchronous reads: on a GPU backend the data side goes on meanwhile.
        const [l, c] = (await sums.data()) as Float32Array;
        sums.dispose();
        await dead?.add(b.x);
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
    split: options.split ?? 'test',
    testLoss: images ? lossSum / images : NaN,
    testAccuracy: images ? correct / images : NaN,
    images,
    ms: performance.now() - t0,
    ...(options.probe !== undefined ? { deadChannels: dead && images ? dead.result() : null } : {}),
  };
}
