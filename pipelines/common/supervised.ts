/**
 * The wiring every supervised pipeline shares, written once: a session from the pipeline's
 * defaults and the run's options, `fit` over the pipeline's training batches with the standard step
 * (`forwardBackward` → `manifoldStep`, hot-swaps from the run's options), then the standard tail:
 * `renormalize`, one `evaluate` per evaluated set (in the order given, each at every epoch end),
 * `checkpoint`, `saveModel`, `logMetrics` and `progress`. A pipeline supplies only what differs:
 * its data.
 */
import { pipe, type Observable } from 'rxjs';
import { join } from 'node:path';
import type { TensorBatch } from '../../src/data/types.js';
import { DEFAULT_CHECKPOINT_EVERY, parseCheckpointEvery } from '../../src/checkpoint.js';
import type { EvalSplit, TrainEvent } from '../../src/events.js';
import { pullPipe, type PullObservable } from '../../src/pull.js';
import { fit, type EpochPlan } from '../../src/train/fit.js';
import { sessionOptions, type PipelineDefaults, type RunOptions } from '../../src/train/run.js';
import { withSession, type Session } from '../../src/train/session.js';
import { forwardBackward } from '../../operators/forwardBackward.js';
import { manifoldStep } from '../../operators/manifoldStep.js';
import { renormalize } from '../../operators/renormalize.js';
import { evaluate } from '../../operators/evaluate.js';
import { checkpoint } from '../../operators/checkpoint.js';
import { saveModel } from '../../operators/saveModel.js';
import { logMetrics } from '../../operators/logMetrics.js';
import { progress } from '../../operators/progress.js';

/** A set evaluated at every epoch end. */
export interface Evaluated {
  /** 'test' (default) or 'validation'. */
  split?: EvalSplit;
  /** A fresh batch stream of the set, per evaluation. */
  batches: () => PullObservable<TensorBatch>;
  /** Samples its source skipped during the evaluation that just ran. */
  skippedSamples?: () => number;
}

export interface SupervisedSpec {
  /** The run's options (the CLI's) and the pipeline's defaults. */
  options: RunOptions;
  defaults: PipelineDefaults;
  /** Training samples per epoch, when known: progress, ETA, and schedules over the run. */
  trainSamples?: number;
  /** One epoch of training batches (the session gives the batch size). */
  train: (plan: EpochPlan, session: Session) => PullObservable<TensorBatch>;
  /** The sets evaluated at every epoch end, in this order. */
  evaluated: readonly Evaluated[];
  /** Training samples the data side skipped so far (unreadable images). */
  skippedSamples?: () => number;
}

export function supervised(spec: SupervisedSpec): Observable<TrainEvent> {
  const o = spec.options;
  return withSession(sessionOptions(o, spec.defaults, { trainSamples: spec.trainSamples }), (s) =>
    fit({
      session: s,
      batches: (plan) => spec.train(plan, s),
      step: pipe(
        forwardBackward({ model: s.model, observe: (x) => s.optimizer.observe(x), replicas: s.replicas }),
        manifoldStep({ optimizer: s.optimizer, configs: s.configs }),
      ),
      samplesPerEpoch: spec.trainSamples,
      skippedSamples: spec.skippedSamples,
    }).pipe(
      renormalize({ optimizer: s.optimizer }),
      pullPipe(spec.evaluated.map((e) => evaluate({ model: s.model, ...e }))),
      checkpoint({ dir: o.out, capture: (p) => s.capture(p), every: parseCheckpointEvery(o.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY) }),
      saveModel({ model: s.model, dir: join(o.out, 'model') }),
      logMetrics({ dir: o.out, append: o.resume !== undefined, resumedAt: s.start.step }),
      progress({ enabled: o.progress }),
    ),
  );
}
