/**
 * The training event stream's vocabulary, after fastai's callback events (before/after fit,
 * epoch, batch), as one discriminated union on `type`. A pipeline is an `Observable<TrainEvent>`;
 * loggers, checkpointers, schedules, progress bars and reports subscribe to it.
 *
 * Events are plain JSON-safe data: they hold no tensors, so no one disposes anything here.
 *
 * Order: `fitStart`, then per epoch `epochStart`, `batchEnd` × n (an `optimizerSwapped` just
 * before the `batchEnd` of the step that first used a new configuration), `epochEnd`, then
 * `fitEnd`. An operator that acts at a boundary (`batchEnd`, `epochEnd`, `fitEnd`) does its work
 * when the boundary event reaches it, passes the boundary event on, then emits its own event
 * (`renormalized`, `evalEnd`, `checkpointSaved`) — so operators further down see the state after
 * that work, and the events of boundary operators come in the reverse of their pipe order:
 * `renormalize → evaluate → checkpoint` gives `epochEnd, checkpointSaved, evalEnd, renormalized`.
 */

/** Where the training stream stands: `sampleIndex` samples of `epoch` have been trained on. */
export interface Position {
  epoch: number;
  sampleIndex: number;
  /** Optimizer steps applied since the run began (over all resumes). */
  step: number;
}

/** Why a run ended. Only `completed` and `maxSteps` mean the run did what it was asked. */
export type FitEndReason = 'completed' | 'maxSteps' | 'interrupted' | 'nonFiniteLoss' | 'error';

/** Largest Frobenius and spectral norm of constrained weights, per manifold kind ('Sp', 'Ob', ...). */
export type NormsByGroupKind = Record<string, { frobenius: number; spectral: number }>;

export interface FitStart {
  type: 'fitStart';
  /** Epochs the run trains in all (epochs are numbered from 0). */
  epochs: number;
  /** Where training starts: 0/0/0, or a checkpoint's position on resume. */
  start: Position;
  /** Samples per epoch, when the data source knows it. */
  samplesPerEpoch?: number;
  batchSize: number;
  maxSteps?: number;
  /** Directory of the checkpoint resumed from. */
  resumedFrom?: string;
  /** Compute backend in use ('wasm', 'tensorflow', ...). */
  backend: string;
  /** Data-parallel model replicas, this thread's included (1: no worker threads). */
  workers: number;
  model: string;
  optimizer: string;
  seed: number;
  /** Wall-clock start, ms since the epoch. */
  startedAt: number;
}

export interface EpochStart {
  type: 'epochStart';
  epoch: number;
  /** Samples skipped at the head of this epoch because a resumed run had trained on them. */
  sampleIndex: number;
  step: number;
}

/** One optimizer step done (fastai's after_batch). */
export interface BatchEnd {
  type: 'batchEnd';
  epoch: number;
  /** Global step number, 1 for the first step ever applied. */
  step: number;
  /** Samples of this epoch trained on, this batch included. */
  sampleIndex: number;
  loss: number;
  /** Batch accuracy (training mode, before the step). */
  accuracy: number;
  /** Learning rate the step used. */
  lr: number;
  /** Images in this batch. */
  images: number;
  /** Time the trainer waited for this batch after finishing the previous one. */
  stallMs: number;
  /** Time of forward, backward and update. */
  stepMs: number;
  /** Time of the optimizer update alone (part of stepMs), when the step operator measures it. */
  updateMs?: number;
}

/** Non-finite loss: the step was not applied and the run stops. */
export interface LossNonFinite {
  type: 'lossNonFinite';
  epoch: number;
  step: number;
  loss: number;
  message: string;
}

export interface Renormalized {
  type: 'renormalized';
  epoch: number;
  step: number;
  maxNormByGroupKind: NormsByGroupKind;
}

/** Which held-out set an evaluation measured. */
export type EvalSplit = 'test' | 'validation';

/**
 * Output channels of the model's first ReLU that are zero for every image and position of the
 * evaluated set (src/train/dead_channels.ts).
 */
export interface DeadChannels {
  /** Name of the first ReLU's layer (a layer with activation 'relu', or a ReLU layer). */
  layer: string;
  dead: number;
  channels: number;
}

export interface EvalEnd {
  type: 'evalEnd';
  epoch: number;
  step: number;
  /**
   * The set evaluated; absent (metrics written before it was recorded) means 'test'. The loss and
   * accuracy keep their names for either split, so `testLoss`/`testAccuracy` of a 'validation'
   * evaluation are the validation set's: consumers that want the test set use `isTestEval`.
   */
  split?: EvalSplit;
  testLoss: number;
  testAccuracy: number;
  images: number;
  ms: number;
  /** Dead channels of the first ReLU over this set (test evaluations; absent when not measured, null without a ReLU). */
  deadChannels?: DeadChannels | null;
  /** Samples of this set its source skipped as unreadable (absent when the source does not count). */
  skippedSamples?: number;
}

/** An evaluation of the test set (not of a validation set held out of the training data). */
export function isTestEval(e: TrainEvent): e is EvalEnd {
  return e.type === 'evalEnd' && (e.split ?? 'test') === 'test';
}

export interface EpochEnd {
  type: 'epochEnd';
  epoch: number;
  step: number;
  /**
   * Training loss and accuracy over the epoch's samples (per sample, not per batch: a short last
   * batch weighs by its size), in training mode before each update; a resumed epoch includes the
   * part trained before its checkpoint.
   */
  trainLoss: number;
  trainAccuracy: number;
  images: number;
  ms: number;
  /** Samples the data source skipped (corrupt or unreadable) so far, when it reports them. */
  skippedSamples: number;
}

export interface CheckpointSaved {
  type: 'checkpointSaved';
  path: string;
  position: Position;
  ms: number;
}

export interface OptimizerSwapped {
  type: 'optimizerSwapped';
  /** The swap takes effect for step `step` (the next one applied). */
  step: number;
  from: string;
  to: string;
}

export interface FitEnd {
  type: 'fitEnd';
  reason: FitEndReason;
  /** One line for people, e.g. why the run stopped. */
  message: string;
  position: Position;
  /** Epochs fully trained, counted from the start of the run (resumes included). */
  epochs: number;
  steps: number;
  /** Images trained on in this process, and the wall time of training them. */
  images: number;
  ms: number;
  skippedSamples: number;
  /** sha256 over all weights in name order (see src/checkpoint.ts). */
  weightsDigest: string;
  maxNormByGroupKind: NormsByGroupKind;
}

/** The trained model, saved in TensorFlow.js's LayersModel format (`operators/saveModel.ts`). */
export interface ModelSaved {
  type: 'modelSaved';
  /** The directory holding model.json and weights.bin. */
  path: string;
  step: number;
  ms: number;
}

export type TrainEvent =
  | FitStart
  | EpochStart
  | BatchEnd
  | LossNonFinite
  | Renormalized
  | EvalEnd
  | EpochEnd
  | CheckpointSaved
  | OptimizerSwapped
  | FitEnd
  | ModelSaved;

export type TrainEventType = TrainEvent['type'];

/** Narrowing helper: `filter(isEvent('batchEnd'))`. */
export function isEvent<K extends TrainEventType>(type: K) {
  return (e: TrainEvent): e is Extract<TrainEvent, { type: K }> => e.type === type;
}
