/**
 * `summary.json`: the run's results in one object, computed from its events (a pure function, so
 * that any consumer of the event stream can produce it). The fields named in DESIGN.md's CLI
 * contract are always present; a value that does not exist (no evaluation ran) is `null`.
 */
import type { FitEndReason, NormsByGroupKind, TrainEvent } from '../events.js';

export interface Summary {
  pipeline: string;
  testAccuracy: number | null;
  testLoss: number | null;
  /** Epochs fully trained and optimizer steps applied since the run began (resumes included). */
  epochs: number;
  steps: number;
  /** Training throughput of this process: images over the time of its steps and data stalls. */
  imagesPerSecond: number;
  backend: string;
  skippedSamples: number;
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
  /** Images trained on by this process, and its wall time from fitStart to fitEnd. */
  images: number;
  wallSeconds: number;
  /** Total time this process waited for data. */
  stallSeconds: number;
  resumedFrom: string | null;
  /** The last checkpoint this process saved. */
  checkpoint: { path: string; step: number } | null;
}

/** Totals over the `batchEnd` events (which a caller may not want to keep). */
export interface StepTotals {
  images: number;
  /** Σ(stepMs + stallMs). */
  ms: number;
  /** Σ stallMs (optional). */
  stallMs?: number;
}

/** Build the summary from a run's events (`batchEnd` may be left out when `totals` is given). */
export function summarize(events: readonly TrainEvent[], totals: StepTotals | undefined, pipeline: string): Summary {
  const last = <K extends TrainEvent['type']>(type: K): Extract<TrainEvent, { type: K }> | undefined => {
    for (let i = events.length - 1; i >= 0; i--) if (events[i]!.type === type) return events[i] as Extract<TrainEvent, { type: K }>;
    return undefined;
  };
  const start = last('fitStart');
  const end = last('fitEnd');
  const evalEnd = last('evalEnd');
  const epochEnd = last('epochEnd');
  const saved = last('checkpointSaved');
  let steps = totals;
  if (!steps) {
    steps = { images: 0, ms: 0, stallMs: 0 };
    for (const e of events) {
      if (e.type !== 'batchEnd') continue;
      steps.images += e.images;
      steps.ms += e.stepMs + e.stallMs;
      steps.stallMs! += e.stallMs;
    }
  }
  const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return {
    pipeline,
    testAccuracy: finite(evalEnd?.testAccuracy),
    testLoss: finite(evalEnd?.testLoss),
    epochs: end?.epochs ?? 0,
    steps: end?.steps ?? 0,
    imagesPerSecond: steps.ms > 0 ? (steps.images * 1000) / steps.ms : 0,
    backend: start?.backend ?? 'unknown',
    skippedSamples: end?.skippedSamples ?? 0,
    maxNormByGroupKind: end?.maxNormByGroupKind ?? {},
    weightsDigest: end?.weightsDigest ?? '',
    reason: end?.reason ?? 'error',
    message: end?.message ?? 'the run ended without a fitEnd event',
    model: start?.model ?? 'unknown',
    optimizer: start?.optimizer ?? 'unknown',
    seed: start?.seed ?? 0,
    trainLoss: finite(epochEnd?.trainLoss),
    trainAccuracy: finite(epochEnd?.trainAccuracy),
    images: end?.images ?? steps.images,
    wallSeconds: (end?.ms ?? 0) / 1000,
    stallSeconds: (steps.stallMs ?? 0) / 1000,
    resumedFrom: start?.resumedFrom ?? null,
    checkpoint: saved ? { path: saved.path, step: saved.position.step } : null,
  };
}
