/**
 * `fashion-mnist` (alias `idx`): `--data` holds the four IDX files of Fashion-MNIST (or MNIST),
 * gzipped or not. cnn-small, FG-SGD (PIO, Sp+Ob+St+Euc) by default. `--validation N` holds the
 * last N training images (in file order, before shuffling) out of training and evaluates them at
 * every epoch end besides the test set.
 */
import { from, switchMap, type Observable } from 'rxjs';
import type { TrainEvent } from '../src/events.js';
import { locateIdx } from '../src/train/datasets.js';
import type { PipelineDefaults, RunOptions } from '../src/train/run.js';
import { UsageError } from '../src/usage.js';
import { readIdx } from '../operators/readIdx.js';
import { shuffle } from '../operators/shuffle.js';
import { batch } from '../operators/batch.js';
import { toTensors } from '../operators/toTensors.js';
import { prefetch } from '../operators/prefetch.js';
import { supervised } from './common/supervised.js';

export const defaults: PipelineDefaults = {
  model: 'cnn-small',
  inputShape: [28, 28, 1],
  numClasses: 10,
  epochs: 5,
  batch: 64,
  optimizer: {
    // FG-SGD with its default grouping and collection (PIO, Sp+Ob+St+Euc).
    optimizer: 'fgsgd',
    // Cosine annealing over the whole run (totalSteps 0: epochs × steps per epoch).
    lr: { name: 'cosine', lr: 0.1, totalSteps: 0 },
    momentum: 0.9,
    // The baseline's weight decay; FG-SGD applies it to its Euclidean parameters only. The radius
    // policy is FG-SGD's default, `init`: every constrained kernel keeps its initializer's norm.
    weightDecay: 5e-4,
  },
};

/** Images per evaluation batch (inference only: larger is faster and still small in memory). */
const EVAL_BATCH = 500;

export default function fashionMnist(o: RunOptions, d: PipelineDefaults = defaults): Observable<TrainEvent> {
  if (!o.data) throw new UsageError(`pipeline 'fashion-mnist': --data must name the directory with the four IDX files`);
  return from(locateIdx(o.data)).pipe(
    switchMap(({ train, test, trainSamples: n }) => {
      const held = o.validation ?? 0;
      if (held >= n) throw new UsageError(`--validation ${held}: must be less than the ${n} training images in ${o.data}`);
      // Training reads samples [0, n − held), the validation set [n − held, n).
      const trainSamples = n - held;
      const evalBatches = (files: Parameters<typeof readIdx>[0]) => () => readIdx(files).pipe(batch({ size: EVAL_BATCH }), toTensors());
      return supervised({
        options: o,
        defaults: d,
        trainSamples,
        train: (plan, s) =>
          readIdx({ ...train, limit: trainSamples }).pipe(
            shuffle({ bufferSize: 60_000, rng: plan.rng('shuffle') }),
            batch({ size: s.batchSize }),
            toTensors(),
            prefetch({ size: 2 }),
          ),
        evaluated: [...(held > 0 ? [{ split: 'validation' as const, batches: evalBatches({ ...train, offset: trainSamples }) }] : []), { batches: evalBatches(test) }],
      });
    }),
  );
}
