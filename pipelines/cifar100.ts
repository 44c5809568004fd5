/**
 * `cifar100`: `--data` holds the CIFAR-100 binary version (train.bin and test.bin, or the extracted
 * cifar-100-binary/ folder), read with the fine labels (100 classes). The paper's CIFAR recipe:
 * random crop with 4 pixels of padding, horizontal flip, per-channel normalisation, and a step
 * schedule (lr 0.1, ×0.1 at 50% and 75% of the run; `--schedule cosine` for cosine annealing).
 * ResNet-20 with FG-SGD (PIO, Sp+Ob+St+Euc) by default; `--model resnet44|resnet110|wrn-16-4` for
 * the paper's larger nets.
 */
import { from, switchMap, type Observable } from 'rxjs';
import type { TrainEvent } from '../src/events.js';
import type { PipelineDefaults, RunOptions } from '../src/train/run.js';
import { cifarPaths } from '../src/data/cifar.js';
import { readCifar } from '../operators/readCifar.js';
import { shuffle } from '../operators/shuffle.js';
import { augment } from '../operators/augment.js';
import { batch } from '../operators/batch.js';
import { toTensors } from '../operators/toTensors.js';
import { prefetch } from '../operators/prefetch.js';
import { UsageError } from '../src/usage.js';
import { supervised } from './common/supervised.js';

export const defaults: PipelineDefaults = {
  model: 'resnet20',
  inputShape: [32, 32, 3],
  numClasses: 100,
  epochs: 30,
  batch: 128,
  optimizer: {
    // FG-SGD with its default grouping and collection (PIO, Sp+Ob+St+Euc).
    optimizer: 'fgsgd',
    // A step schedule without milestones is stretched over the run: ×0.1 at 50% and 75%.
    lr: { name: 'step', lr: 0.1, factor: 0.1 },
    momentum: 0.9,
    weightDecay: 5e-4,
  },
};

/** The training set's size (the binary version's train.bin). */
const TRAIN_SAMPLES = 50_000;
/** CIFAR-100 training-set channel statistics, in [0, 1] units. */
const NORMALIZE = { name: 'normalize', mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] };
const EVAL_BATCH = 250;

export default function cifar100(o: RunOptions, d: PipelineDefaults = defaults): Observable<TrainEvent> {
  if (!o.data) throw new UsageError(`pipeline 'cifar100': --data must name the directory with the CIFAR-100 binary files (train.bin, test.bin)`);
  if (o.validation !== undefined) throw new UsageError(`pipeline 'cifar100' does not support --validation (it is implemented for fashion-mnist, idx and default)`);
  const files = Promise.all([cifarPaths(o.data, 'train', 'cifar100'), cifarPaths(o.data, 'test', 'cifar100')]);
  return from(files).pipe(
    switchMap(([train, test]) =>
      supervised({
        options: o,
        defaults: d,
        trainSamples: TRAIN_SAMPLES,
        train: (plan, s) =>
          readCifar({ files: train, variant: 'cifar100', label: 'fine' }).pipe(
            shuffle({ bufferSize: TRAIN_SAMPLES, rng: plan.rng('shuffle') }),
            augment({ rng: plan.rng('augment'), ops: [{ name: 'randomCrop', padding: 4 }, { name: 'flipHorizontal' }, NORMALIZE] }),
            batch({ size: s.batchSize }),
            toTensors(),
            prefetch({ size: 2 }),
          ),
        // normalize draws no random numbers; the seed only satisfies augment's contract.
        evaluated: [{ batches: () => readCifar({ files: test, variant: 'cifar100', label: 'fine' }).pipe(augment({ seed: 0, ops: [NORMALIZE] }), batch({ size: EVAL_BATCH }), toTensors()) }],
      }),
    ),
  );
}
