/**
 * `summary.json`: the run's results in one object, computed from its events (a pure function, so
 * that any consumer of the event stream can produce it). The fields named in DESIGN.md's CLI
 * contract are always present; a value that does not exist (no evaluation ran) is `null`.
 */
import { isEvent, isTestEval, type DeadChannels, type FitEndReason, type NormsByGroupKind, type TrainEvent } from '../events.js';
import type { Revision } from '../provenance.js';

export interface Summary {
  pipeline: string;
  /** Of the last evaluation of the test set. */
  testAccuracy: number | null;
  testLoss: number | null;
  /** Of the last evaluation of the validation set held out of the training data (--validation); null without one. */
  validationAccuracy: number | null;
  validationLoss: number | null;
  /** Dead channels of the first ReLU at the last test evaluation; null when not measured or the model has no ReLU. */
  deadChannels: DeadChannels | null;
  /** Epochs fully trained and optimizer steps applied since the run began (resumes included). */
  epochs: number;
  steps: number;
  /** Training throughput of this process: images over the time of its steps and data stalls. */
  imagesPerSecond: number;
  backend: string;
  /** Data-parallel model replicas the run trained with (1: no worker threads). */
  workers: number;
  /** Unreadable samples skipped: training (the last epoch's count) plus the last test evaluation's. */
  skippedSamples: number;
  /** The same, per split. */
  skippedSamplesBySplit: { train: number; test: number };
  maxNormByGroupKind: NormsByGroupKind;
  weightsDigest: string;
  reason: FitEndReason;
  message: string;
  model: string;
  optimizer: string;
  seed: number;
  /** Mean training loss and accuracy of the last full epoch. */
  trainLoss: number | null;
  trainAccuracy: number | null;
  /** Images trained on by this process. */
  images: number;
  /**
   * Wall time of training and evaluation in this process: from fitStart to fitEnd, plus the
   * evaluations that ran after fitEnd (the final one of a --max-steps run).
   */
  wallSeconds: number;
  /**
   * The optimizer update's share of step time (Σ updateMs / Σ stepMs over the steps of this
   * process), 0..1; null when the steps did not report their update time.
   */
  updateShare: number | null;
  /** Total time this process waited for data. */
  stallSeconds: number;
  resumedFrom: string | null;
  /** The last checkpoint this process saved. */
  checkpoint: { path: string; step: number } | null;
  /** The trained model as a TensorFlow.js LayersModel directory (model.json, weights.bin), or null. */
  modelPath: string | null;
  /** Every hot-swap of this process: the step it first applied to, and the configurations. */
  swaps: { step: number; from: string; to: string }[];
  /** The code that ran: git commit and whether tracked files had uncommitted changes (set by runPipeline). */
  git?: Revision;
}

/** Totals over the `batchEnd` events (which a caller may not want to keep). */
export interface StepTotals {
  images: number;
  /** Σ(stepMs + stallMs). */
  ms: number;
  /** Σ stallMs (optional). */
  stallMs?: number;
  /** Σ stepMs and Σ updateMs (optional; updateShare is null without both). */
  stepMs?: number;
  updateMs?: number;
}

/** Build the summary from a run's events (`batchEnd` may be left out when `totals` is given). */
export function summarize(events: readonly TrainEvent[], totals: StepTotals | undefined, pipeline: string): Summary {
  const last = <K extends TrainEvent['type']>(type: K): Extract<TrainEvent, { type: K }> | undefined => {
    for (let i = events.length - 1; i >= 0; i--) if (events[i]!.type === type) return events[i] as Extract<TrainEvent, { type: K }>;
    return undefined;
  };
  const start = last('fitStart');
  const end = last('fitEnd');
  const evals = events.filter(isEvent('evalEnd'));
  const evalEnd = evals.filter(isTestEval).at(-1);
  const validation = evals.filter((e) => e.split === 'validation').at(-1);
  const epochEnd = last('epochEnd');
  const saved = last('checkpointSaved');
  const model = last('modelSaved');
  const swaps = events.flatMap((e) => (e.type === 'optimizerSwapped' ? [{ step: e.step, from: e.from, to: e.to }] : []));
  let steps = totals;
  if (!steps) {
    const sums = { images: 0, ms: 0, stallMs: 0, stepMs: 0, updateMs: 0 as number | undefined };
    for (const e of events) {
      if (e.type !== 'batchEnd') continue;
      sums.images += e.images;
      sums.ms += e.stepMs + e.stallMs;
      sums.stallMs += e.stallMs;
      sums.stepMs += e.stepMs;
      sums.updateMs = sums.updateMs === undefined || e.updateMs === undefined ? undefined : sums.updateMs + e.updateMs;
    }
    steps = sums;
  }
  // Evaluations after fitEnd (the one at the end of a --max-steps run) count into the wall time.
  const endAt = end ? events.lastIndexOf(end) : -1;
  const lateEvalMs = endAt < 0 ? 0 : events.slice(endAt + 1).reduce((ms, e) => ms + (e.type === 'evalEnd' ? e.ms : 0), 0);
  const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return {
    pipeline,
    testAccuracy: finite(evalEnd?.testAccuracy),
    testLoss: finite(evalEnd?.testLoss),
    validationAccuracy: finite(validation?.testAccuracy),
    validationLoss: finite(validation?.testLoss),
    deadChannels: evalEnd?.deadChannels ?? null,
    epochs: end?.epochs ?? 0,
    steps: end?.steps ?? 0,
    imagesPerSecond: steps.ms > 0 ? (steps.images * 1000) / steps.ms : 0,
    backend: start?.backend ?? 'unknown',
    workers: start?.workers ?? 1,
    skippedSamples: (end?.skippedSamples ?? 0) + (evalEnd?.skippedSamples ?? 0),
    skippedSamplesBySplit: { train: end?.skippedSamples ?? 0, test: evalEnd?.skippedSamples ?? 0 },
    maxNormByGroupKind: end?.maxNormByGroupKind ?? {},
    weightsDigest: end?.weightsDigest ?? '',
    reason: end?.reason ?? 'error',
    message: end?.message ?? 'the run ended without a fitEnd event',
    model: start?.model ?? 'unknown',
    // The configuration in use at the end: the last swap's, else the one the run started with.
    optimizer: swaps.length ? swaps[swaps.length - 1]!.to : (start?.optimizer ?? 'unknown'),
    seed: start?.seed ?? 0,
    trainLoss: finite(epochEnd?.trainLoss),
    trainAccuracy: finite(epochEnd?.trainAccuracy),
    images: end?.images ?? steps.images,
    wallSeconds: ((end?.ms ?? 0) + lateEvalMs) / 1000,
    updateShare: steps.stepMs && steps.updateMs !== undefined ? Math.min(1, steps.updateMs / steps.stepMs) : null,
    stallSeconds: (steps.stallMs ?? 0) / 1000,
    resumedFrom: start?.resumedFrom ?? null,
    checkpoint: saved ? { path: saved.path, step: saved.position.step } : null,
    modelPath: model?.path ?? null,
    swaps,
  };
}
