/**
 * `image-folder`: `--data` holds one sub-folder of images per class, or `train/` and `test/` (or
 * `val/`) folders that each do. Without a test folder, every tenth image (by a hash of its path)
 * is held out for testing. Images are decoded with sharp and resized to 32×32 RGB; unreadable
 * images are skipped and counted (`--strict` fails instead). ResNet-20, FG-SGD by default.
 */
import { createHash } from 'node:crypto';
import { filter, from, pipe, switchMap, type Observable } from 'rxjs';
import type { TrainEvent } from '../src/events.js';
import { createSkipCounter, type EncodedSample, type SkipCounter } from '../src/data/types.js';
import { locateImageFolder } from '../src/train/datasets.js';
import { fit } from '../src/train/fit.js';
import { sessionOptions, type PipelineDefaults, type RunOptions } from '../src/train/run.js';
import { withSession } from '../src/train/session.js';
import { readImageFolder } from '../operators/readImageFolder.js';
import { shuffle } from '../operators/shuffle.js';
import { decodeImages } from '../operators/decodeImages.js';
import { batch } from '../operators/batch.js';
import { toTensors } from '../operators/toTensors.js';
import { prefetch } from '../operators/prefetch.js';
import { forwardBackward } from '../operators/forwardBackward.js';
import { manifoldStep } from '../operators/manifoldStep.js';
import { renormalize } from '../operators/renormalize.js';
import { evaluate } from '../operators/evaluate.js';
import { checkpoint } from '../operators/checkpoint.js';
import { logMetrics } from '../operators/logMetrics.js';
import { progress } from '../operators/progress.js';

const SIZE = 32;

export const defaults: Omit<PipelineDefaults, 'numClasses'> = {
  model: 'resnet20',
  inputShape: [SIZE, SIZE, 3],
  epochs: 10,
  batch: 64,
  optimizer: { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp+Ob+St+Euc', lr: 0.05, momentum: 0.9 },
};

/** Images decoded at once (sharp; 4–8 in flight suits small images). */
const DECODE_CONCURRENCY = 4;
const EVAL_BATCH = 128;

/** Held out for testing when the data has no test folder: one image in ten, by path hash. */
const heldOut = (s: EncodedSample) => createHash('sha1').update(s.key).digest()[0]! % 10 === 0;

export default function imageFolder(o: RunOptions): Observable<TrainEvent> {
  if (!o.data) throw new Error(`pipeline 'image-folder': --data must name a folder with one sub-folder of images per class`);
  // Counted per epoch (each epoch meets the same unreadable files again); test skips apart.
  let skipped = createSkipCounter();
  const decode = (counter: SkipCounter) => decodeImages({ concurrent: DECODE_CONCURRENCY, size: [SIZE, SIZE], channels: 3, strict: o.strict, skipped: counter });
  return from(locateImageFolder(o.data)).pipe(
    switchMap(({ train, test, classes }) =>
      withSession(sessionOptions(o, { ...defaults, numClasses: classes.length }), (s) =>
        fit({
          session: s,
          batches: (plan) => {
            skipped = createSkipCounter();
            return readImageFolder({ root: train, classes }).pipe(
              // Paths only so far: a plain filter here queues cheap items, not images.
              filter((x) => test !== undefined || !heldOut(x)),
              shuffle({ bufferSize: 1_000_000, rng: plan.rng('shuffle') }),
              decode(skipped),
              batch({ size: s.batchSize }),
              toTensors(),
              prefetch({ size: 2 }),
            );
          },
          step: pipe(
            forwardBackward({ model: s.model, observe: (x) => s.optimizer.observe(x) }),
            manifoldStep({ optimizer: s.optimizer, configs: s.configs }),
          ),
          skippedSamples: () => skipped.count,
        }).pipe(
          renormalize({ optimizer: s.optimizer }),
          evaluate({
            model: s.model,
            batches: () =>
              readImageFolder({ root: test ?? train, classes }).pipe(
                filter((x) => test !== undefined || heldOut(x)),
                decode(createSkipCounter()),
                batch({ size: EVAL_BATCH }),
                toTensors(),
              ),
          }),
          checkpoint({ dir: o.out, capture: (p) => s.capture(p), everySteps: o.checkpointEvery }),
          logMetrics({ dir: o.out, append: o.resume !== undefined }),
          progress({ enabled: o.progress }),
        ),
      ),
    ),
  );
}
