/**
 * `cifar10`: `--data` holds the CIFAR-10 binary batches (data_batch_1.bin … test_batch.bin, or the
 * extracted cifar-10-batches-bin/ folder). ResNet-20, FG-SGD (PIO, Sp+Ob+St+Euc); the usual
 * augmentation: random crop with 4 pixels of padding, horizontal flip, per-channel normalisation.
 */
import { from, switchMap, type Observable } from 'rxjs';
import type { TrainEvent } from '../src/events.js';
import type { PipelineDefaults, RunOptions } from '../src/train/run.js';
import { locateCifar } from '../src/train/datasets.js';
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
  numClasses: 10,
  epochs: 30,
  batch: 128,
  // FG-SGD with its default grouping and collection (PIO, Sp+Ob+St+Euc).
  optimizer: { optimizer: 'fgsgd', lr: 0.1, momentum: 0.9 },
};

/** CIFAR-10 training-set channel statistics, in [0, 1] units. */
const NORMALIZE = { name: 'normalize', mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
const EVAL_BATCH = 250;

export default function cifar10(o: RunOptions, d: PipelineDefaults = defaults): Observable<TrainEvent> {
  if (!o.data) throw new UsageError(`pipeline 'cifar10': --data must name the directory with the CIFAR-10 binary batches`);
  if (o.validation !== undefined) throw new UsageError(`pipeline 'cifar10' does not support --validation (it is implemented for fashion-mnist, idx and default)`);
  return from(locateCifar(o.data)).pipe(
    switchMap(({ train, test }) =>
      // The sample count lets --schedule cosine|step stretch over the run.
      supervised({
        options: o,
        defaults: d,
        trainSamples: 50_000,
        train: (plan, s) =>
          readCifar({ files: train }).pipe(
            shuffle({ bufferSize: 50_000, rng: plan.rng('shuffle') }),
            augment({ rng: plan.rng('augment'), ops: [{ name: 'randomCrop', padding: 4 }, { name: 'flipHorizontal' }, NORMALIZE] }),
            batch({ size: s.batchSize }),
            toTensors(),
            prefetch({ size: 2 }),
          ),
        // normalize draws no random numbers; the seed only satisfies augment's contract.
        evaluated: [{ batches: () => readCifar({ files: test }).pipe(augment({ seed: 0, ops: [NORMALIZE] }), batch({ size: EVAL_BATCH }), toTensors()) }],
      }),
    ),
  );
}
