/**
 * A complete pipeline on the tiny fixture data (test/train/fixtures.ts), for the trainer and CLI
 * tests: `fgsgd train test/train/tiny-pipeline.ts` works like a built-in pipeline. The same
 * composition as pipelines/fashion-mnist.ts, on 96 training and 30 test images of 8×8.
 */
import { pipe, type Observable } from 'rxjs';
import type { TrainEvent } from '../../src/events.js';
import { fit } from '../../src/train/fit.js';
import { sessionOptions, type PipelineDefaults, type RunOptions } from '../../src/train/run.js';
import { withSession } from '../../src/train/session.js';
import { forwardBackward } from '../../operators/forwardBackward.js';
import { manifoldStep } from '../../operators/manifoldStep.js';
import { renormalize } from '../../operators/renormalize.js';
import { evaluate } from '../../operators/evaluate.js';
import { checkpoint } from '../../operators/checkpoint.js';
import { logMetrics } from '../../operators/logMetrics.js';
import { progress } from '../../operators/progress.js';
import { CLASSES, makeSamples, SIDE, testBatches, tinyNet, trainBatches } from './fixtures.js';
import { join } from 'node:path';
import { DEFAULT_CHECKPOINT_EVERY, parseCheckpointEvery } from '../../src/checkpoint.js';
import { saveModel } from '../../operators/saveModel.js';

export const TRAIN = makeSamples(96);
export const TEST = makeSamples(30, 9);

export const defaults: PipelineDefaults = {
  model: tinyNet,
  inputShape: [SIDE, SIDE, 1],
  numClasses: CLASSES,
  epochs: 3,
  batch: 8,
  optimizer: { optimizer: 'sgd', lr: 0.05, momentum: 0.9 },
};

export default function tinyPipeline(o: RunOptions): Observable<TrainEvent> {
  return withSession({ ...sessionOptions(o, defaults), backend: o.backend ?? null }, (s) =>
    fit({
      session: s,
      batches: trainBatches(TRAIN, s.batchSize),
      step: pipe(
        forwardBackward({ model: s.model, observe: (x) => s.optimizer.observe(x), replicas: s.replicas }),
        manifoldStep({ optimizer: s.optimizer, configs: s.configs }),
      ),
      samplesPerEpoch: TRAIN.length,
    }).pipe(
      renormalize({ optimizer: s.optimizer }),
      evaluate({ model: s.model, batches: testBatches(TEST) }),
      checkpoint({ dir: o.out, capture: (p) => s.capture(p), every: parseCheckpointEvery(o.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY) }),
      saveModel({ model: s.model, dir: join(o.out, 'model') }),
      logMetrics({ dir: o.out, append: o.resume !== undefined, resumedAt: s.start.step }),
      progress({ enabled: o.progress }),
    ),
  );
}
