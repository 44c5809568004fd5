/**
 * The wiring that every pipeline and the CLI share, so that pipelines stay composition only:
 * - `RunOptions`: what the CLI (or `npm start`) asks of a pipeline;
 * - `sessionOptions`: a pipeline's defaults overlaid with those options;
 * - `resolveResume`: the options of a checkpointed run, overlaid with what was given explicitly;
 * - `runPipeline`: subscribe to a pipeline's events, write `summary.json` and the report, and
 *   say how the run ended (`exitCode`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import type { TrainEvent } from '../events.js';
import { writeFileAtomic } from '../atomic.js';
import { readLatestCheckpoint } from '../checkpoint.js';
import { revision } from '../provenance.js';
import { writeReport } from '../report.js';
import type { ConfigChange, Grouping, OptimizerConfig, ScheduledSwap } from './optimizer.js';
import { DEFAULT_MANIFOLDS, DEFAULT_STRATEGY } from '../fgsgd/grouping.js';
import type { ScheduleConfig, ScheduleName } from '../fgsgd/schedules.js';
import type { StepRule } from '../fgsgd/optimizer.js';
import type { BackendName } from '../backend/index.js';
import type { SessionOptions } from './session.js';
import { summarize, type Summary } from './summary.js';
import { UsageError } from '../usage.js';
import { existsSync, readFileSync } from 'node:fs';
import { checkpointPath, previousCheckpointPath } from '../checkpoint.js';

/** What a pipeline is asked to do: the CLI's options, all optional but `out`. */
export interface RunOptions {
  /** The pipeline's name or file, as given to the CLI (recorded in checkpoints). */
  pipeline?: string;
  data?: string;
  /** A model of the zoo (src/models) instead of the pipeline's. */
  model?: string;
  epochs?: number;
  maxSteps?: number;
  seed?: number;
  backend?: BackendName;
  optimizer?: 'sgd' | 'fgsgd';
  grouping?: Grouping;
  manifolds?: string;
  /** The rate, or the peak of the schedule. */
  lr?: number;
  /** Learning-rate schedule over the run (see `sessionOptions`); default: the pipeline's. */
  schedule?: ScheduleName;
  momentum?: number;
  /** Weight decay on Euclidean parameters (FG-SGD leaves constrained kernels alone). */
  weightDecay?: number;
  /** FG-SGD: `--bound B` is `--radius bound:B` (kept for earlier command lines). */
  bound?: number;
  /** FG-SGD's radius policy: 'init', 'data[:band]', 'bound:B' (src/fgsgd/radius.ts). */
  radius?: string;
  /** FG-SGD: radius policies by layer name (`--radius-layer conv1=1.41`). */
  radiusLayers?: Record<string, string>;
  /** FG-SGD's step rule: adaptive (on the unit manifold), adaptive-stored or fixed. */
  stepRule?: StepRule;
  /** FG-SGD: kernels per group. */
  groupSize?: number;
  /** FG-SGD, `data` policy: the floor of λ. */
  lambdaFloor?: number;
  /** FG-SGD, `data` policy: gather λ statistics every N steps. */
  lambdaEvery?: number;
  batch?: number;
  /**
   * Data-parallel model replicas, this thread's included (src/train/replicas.ts); default 1
   * (`fgsgd train` gives 'auto'). 'auto': one per core where the run can have replicas (a zoo
   * model on wasm or onednn), else 1. A given number is deterministic; different numbers give
   * different (equally valid) runs. Checkpoints record the number used, which --resume keeps.
   */
  workers?: number | 'auto';
  /** Output directory: metrics.jsonl, summary.json, checkpoint.ckpt, report.md. */
  out: string;
  /** Directory holding the checkpoint to continue from. */
  resume?: string;
  /** Fail on the first unreadable sample instead of skipping it. */
  strict?: boolean;
  /** Start afresh in an `out` that holds an unfinished run's checkpoint (the CLI refuses otherwise). */
  overwrite?: boolean;
  /**
   * Also checkpoint every N steps (`500`) or every so long (`'30s'`, `'5m'`, `'1h'`); default
   * `'5m'`. Checkpoints are always written at epoch ends and at the end of the run.
   */
  checkpointEvery?: number | string;
  /**
   * Hold the last N training samples (file order, before shuffling) out as a validation set,
   * evaluated at every epoch end besides the test set (fashion-mnist/idx/default; other pipelines refuse it).
   */
  validation?: number;
  /** Draw the progress bar (default: when stdout is a TTY). */
  progress?: boolean;
  /** Stop at the next step boundary, with a final checkpoint (the CLI wires Ctrl-C here). */
  interrupt?: Observable<string>;
  /** Optimizer configurations to hot-swap in while the run goes on. */
  configs?: Observable<ConfigChange>;
  /** Scheduled hot-swaps (the CLI's `--swap STEP:key=value,...`), plain data, recorded for --resume. */
  swaps?: ScheduledSwap[];
}

/** A pipeline: composition only, from options to the run's event stream. */
export type Pipeline = (options: RunOptions) => Observable<TrainEvent>;

/** What a pipeline fixes and what it leaves to the options. */
export interface PipelineDefaults {
  model: SessionOptions['model'];
  inputShape: [number, number, number];
  numClasses: number;
  epochs: number;
  batch: number;
  optimizer: OptimizerConfig;
}

export const DEFAULT_SEED = 1;

/**
 * The RunOptions fields that are plain data and worth recording in a checkpoint. The backend is
 * among them: another backend rounds differently, and a resumed run would not end where an
 * uninterrupted one does.
 */
const RECORDED = [
  'pipeline', 'data', 'model', 'backend', 'epochs', 'maxSteps', 'seed', 'optimizer', 'grouping', 'manifolds',
  'lr', 'schedule', 'momentum', 'weightDecay', 'bound', 'radius', 'radiusLayers', 'stepRule', 'groupSize', 'lambdaFloor', 'lambdaEvery',
  'swaps', 'batch', 'workers', 'strict', 'checkpointEvery',
  'validation',
] as const;

/** Fractions of the run at which a `step` schedule over the run multiplies the rate by its factor (He et al. 2016's 32k/48k of 64k). */
export const STEP_MILESTONES = [0.5, 0.75] as const;

/**
 * The learning rate of a run: the pipeline's rate or schedule, with `--schedule` (a schedule of
 * that kind) and `--lr` (its rate or peak) applied, and the parts that depend on the run's length
 * filled in. A schedule "over the run" is one whose length is left open:
 * - `cosine` with `totalSteps: 0` anneals over the run (epochs × steps per epoch);
 * - `step` without `milestones` or `every` multiplies by its factor (default 0.1) at 50% and 75%
 *   of the run;
 * - `robbins-monro` without `tau` (from `--schedule`) takes tau = steps per epoch, so the rate has
 *   halved after the first epoch (with tau = 1 it would be lr/(t + 1): gone in a few steps).
 * The run's length is epochs × ⌈trainSamples / batch⌉; it does not shrink with --max-steps, so that
 * a run stopped at --max-steps and resumed follows the schedule of the uninterrupted run.
 */
export function runSchedule(
  base: number | ScheduleConfig,
  o: Pick<RunOptions, 'lr' | 'schedule'>,
  run: { epochs: number; batchSize: number; trainSamples?: number },
): number | ScheduleConfig {
  const baseName = typeof base === 'number' ? 'constant' : base.name;
  const peak = o.lr ?? (typeof base === 'number' ? base : base.lr);
  let lr: number | ScheduleConfig;
  if (o.schedule === undefined || o.schedule === baseName) lr = typeof base === 'number' ? peak : { ...base, lr: peak };
  else if (o.schedule === 'constant') lr = { name: 'constant', lr: peak };
  else if (o.schedule === 'cosine') lr = { name: 'cosine', lr: peak, totalSteps: 0 };
  else if (o.schedule === 'step') lr = { name: 'step', lr: peak, factor: 0.1 };
  else lr = { name: 'robbins-monro', lr: peak };
  if (typeof lr === 'number') return lr;
  const stepsPerEpoch = run.trainSamples ? Math.ceil(run.trainSamples / run.batchSize) : undefined;
  const name = lr.name;
  const total = () => {
    if (!stepsPerEpoch) throw new Error(`a ${name} schedule over the run needs the number of training samples, which this pipeline does not give`);
    return stepsPerEpoch * run.epochs;
  };
  if (lr.name === 'cosine' && lr.totalSteps === 0) lr = { ...lr, totalSteps: total() };
  else if (lr.name === 'step' && lr.milestones === undefined && lr.every === undefined) {
    const t = total();
    lr = { ...lr, milestones: STEP_MILESTONES.map((f) => Math.max(1, Math.round(f * t))) };
  } else if (lr.name === 'robbins-monro' && lr.tau === undefined && o.schedule === 'robbins-monro' && stepsPerEpoch) {
    lr = { ...lr, tau: stepsPerEpoch };
  }
  return lr;
}

/**
 * A pipeline's session: its defaults, overlaid with the options given. `--model` replaces the
 * pipeline's model (same input shape and classes); `--lr`/`--schedule` as `runSchedule` says
 * (`trainSamples` must be given for a schedule over the run); `--weight-decay` and FG-SGD's
 * `--radius`, `--radius-layer`, `--step-rule`, `--group-size`, `--lambda-floor`, `--lambda-every`
 * (and `--bound B`, which is `--radius bound:B`) replace the defaults' values.
 */
export function sessionOptions(o: RunOptions, d: PipelineDefaults, data: { trainSamples?: number } = {}): SessionOptions {
  const kind = o.optimizer ?? d.optimizer.optimizer;
  const epochs = o.epochs ?? d.epochs;
  const batchSize = o.batch ?? d.batch;
  const lr = runSchedule(d.optimizer.lr, o, { epochs, batchSize, trainSamples: data.trainSamples });
  const weightDecay = o.weightDecay ?? d.optimizer.weightDecay;
  if (o.bound !== undefined && o.radius !== undefined) throw new Error(`--bound ${o.bound} is --radius bound:${o.bound}; give one of --bound and --radius`);
  const radius = o.radius ?? (o.bound !== undefined ? `bound:${o.bound}` : undefined);
  const given = { radius, radiusLayers: o.radiusLayers, step: o.stepRule, lambdaFloor: o.lambdaFloor };
  const fgsgd = { ...d.optimizer.fgsgd, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  const optimizer: OptimizerConfig = {
    ...d.optimizer,
    optimizer: kind,
    lr,
    momentum: o.momentum ?? d.optimizer.momentum,
    ...(weightDecay !== undefined ? { weightDecay } : {}),
    ...(o.groupSize !== undefined ? { groupSize: o.groupSize } : {}),
    ...(o.lambdaEvery !== undefined ? { lambdaEvery: o.lambdaEvery } : {}),
    ...(Object.keys(fgsgd).length ? { fgsgd } : {}),
    ...(kind === 'fgsgd'
      ? { grouping: o.grouping ?? d.optimizer.grouping ?? DEFAULT_STRATEGY, manifolds: o.manifolds ?? d.optimizer.manifolds ?? DEFAULT_MANIFOLDS }
      : { grouping: undefined, manifolds: undefined }),
  };
  const run: Record<string, unknown> = {};
  for (const k of RECORDED) if (o[k] !== undefined) run[k] = o[k];
  return {
    model: o.model ?? d.model,
    inputShape: d.inputShape,
    numClasses: d.numClasses,
    seed: o.seed ?? DEFAULT_SEED,
    backend: o.backend ?? 'auto',
    optimizer,
    batchSize,
    epochs,
    maxSteps: o.maxSteps,
    out: o.out,
    resume: o.resume,
    configs: o.configs,
    swaps: o.swaps,
    interrupt: o.interrupt,
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    run: { options: run },
  };
}

/**
 * For `--resume DIR`: the options the checkpointed run was started with, overlaid with the ones
 * given now (`given` holds only what was given explicitly). The output directory defaults to DIR.
 * A saved --max-steps that the checkpoint has reached is dropped, so the resumed run goes on.
 */
export async function resolveResume(given: Partial<RunOptions> & { resume: string }): Promise<RunOptions> {
  const ckpt = await readLatestCheckpoint(given.resume).then((r) => r.checkpoint).catch((e: Error) => {
    throw e.message.startsWith('no checkpoint')
      ? new UsageError(`--resume ${given.resume}: ${e.message}; to start a fresh run there, leave out --resume and give --out ${given.resume}`)
      : e;
  });
  const saved = { ...((ckpt.run.options ?? {}) as Partial<RunOptions>) };
  // A run that stopped at its --max-steps is resumed to go on (to its epochs, or a new limit);
  // one killed before its limit keeps it.
  if (saved.maxSteps !== undefined && ckpt.position.step >= saved.maxSteps) delete saved.maxSteps;
  if (given.pipeline && saved.pipeline && given.pipeline !== saved.pipeline) {
    throw new Error(`--resume ${given.resume}: that checkpoint belongs to pipeline '${saved.pipeline}', not '${given.pipeline}'`);
  }
  // The replay drops the batches already trained by counting samples: another batch size would
  // train some samples twice and shift every later step.
  const savedBatch = ckpt.run.batchSize;
  if (given.batch !== undefined && typeof savedBatch === 'number' && given.batch !== savedBatch) {
    throw new Error(`--resume ${given.resume}: --batch ${given.batch} differs from the checkpoint's batch size ${savedBatch}; leave --batch out to resume, or start a new run with --batch ${given.batch}`);
  }
  // The number of replicas the run used: its checkpoints record it ('auto' resolved); one written
  // before they did was trained without worker threads.
  if (saved.workers === undefined || saved.workers === 'auto') saved.workers = typeof ckpt.run.workers === 'number' ? ckpt.run.workers : 1;
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  return { ...saved, out: given.resume, ...defined } as RunOptions;
}

/**
 * Refuse to start a fresh run in `out` when it holds the checkpoint of an unfinished run (one
 * whose summary.json does not say it completed): that run would be lost. The way out is named:
 * `--resume DIR` continues it, `--overwrite` starts afresh.
 */
export function assertNoUnfinishedRun(out: string): void {
  const ckpt = [checkpointPath(out), previousCheckpointPath(out)].find((p) => existsSync(p));
  if (!ckpt) return;
  let reason: unknown;
  try {
    reason = (JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { reason?: unknown }).reason;
  } catch {
    reason = undefined;
  }
  if (reason === 'completed') return;
  throw new UsageError(`--out ${out} holds the checkpoint of an unfinished run (${ckpt}); continue it with --resume ${out}, or start afresh there with --overwrite`);
}

export interface RunResult {
  summary: Summary;
  /** 0: completed or --max-steps; 130: interrupted; 1: non-finite loss or another failure. */
  exitCode: number;
}

/**
 * Run a pipeline to its end, then write `OUT/summary.json` (atomically, with the git revision)
 * and the report (`OUT/report.md` and
 * its plots, from `OUT/metrics.jsonl`). Errors of the pipeline reject the promise.
 */
export async function runPipeline(pipeline: Pipeline, options: RunOptions): Promise<RunResult> {
  const events: TrainEvent[] = [];
  // Training throughput over this process's steps: images over step and stall time.
  const training = { images: 0, ms: 0, stallMs: 0, stepMs: 0, updateMs: 0 as number | undefined };
  await new Promise<void>((resolve, reject) => {
    pipeline(options).subscribe({
      // Keep everything but the per-step events' bulk: the summary needs only a few of them.
      next: (e) => {
        if (e.type !== 'batchEnd') events.push(e);
        else {
          training.images += e.images;
          training.ms += e.stepMs + e.stallMs;
          training.stallMs += e.stallMs;
          training.stepMs += e.stepMs;
          // A step operator that does not time its update leaves the share unknown.
          training.updateMs = training.updateMs === undefined || e.updateMs === undefined ? undefined : training.updateMs + e.updateMs;
        }
      },
      error: reject,
      complete: resolve,
    });
  });
  const summary: Summary = { ...summarize(events, training, options.pipeline ?? 'pipeline'), git: revision() };
  await mkdir(options.out, { recursive: true });
  // Atomic: a sweep reads summary.json to tell finished runs.
  await writeFileAtomic(join(options.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  try {
    await writeReport(options.out);
  } catch (e) {
    // The report is a convenience; the run's results are in summary.json already.
    process.stderr.write(`report: ${e instanceof Error ? e.message : String(e)}\n`);
  }
  const exitCode = summary.reason === 'completed' || summary.reason === 'maxSteps' ? 0 : summary.reason === 'interrupted' ? 130 : 1;
  return { summary, exitCode };
}
