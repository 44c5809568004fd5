/**
 * `fit`: the epoch loop as an event stream. For each epoch it asks the pipeline for that epoch's
 * batches, runs each batch through the pipeline's step operator (forwardBackward → manifoldStep),
 * and frames the result with `fitStart` / `epochStart` / `epochEnd` / `fitEnd`.
 *
 * **Demand.** The stream is pull-through (src/pull.ts): the step operator takes the next batch
 * from the data side only when the consumer asks for the next event, i.e. after the operators
 * downstream (evaluate, checkpoint, ...) have finished with the previous one. So an evaluation at
 * `epochEnd` sees the weights of the end of that epoch, and a checkpoint at `batchEnd` the weights
 * of that step. The types hold this: `batches` returns a `PullObservable`, `step` is a
 * `PullOperator`, and `fit(...).pipe(...)` stays a `PullObservable` only through pull operators
 * (which `withSession` requires), so a plain RxJS operator there does not compile.
 *
 * The step operator is subscribed once per epoch.
 *
 * **Stopping** is by completion, never by exception:
 * - `maxSteps`: once reached, no further batch is pulled; where it falls on an epoch's last batch
 *   (all of `samplesPerEpoch` seen), that epoch counts as complete and emits `epochEnd`;
 * - an interrupt (`session.interrupt$`, e.g. Ctrl-C): training stops at the next step boundary,
 *   also while waiting for data; `fitEnd` says `interrupted`;
 * - a non-finite loss: manifoldStep does not apply that step and emits `lossNonFinite`; the run
 *   ends there with `fitEnd` `nonFiniteLoss`.
 * An epoch whose data ran to its end emits `epochEnd`; one that was cut short does not.
 *
 * **Resume**: the epoch the session starts in is replayed from its start with the RNG states saved
 * at that epoch's start, and the batches the interrupted run trained on are dropped, so every later
 * batch is bit-identical to the uninterrupted run's.
 *
 * **stallMs**: the time from asking the data side for a batch to getting it.
 *
 * Tensor ownership: batches handed to the step belong to it (forwardBackward disposes them);
 * batches dropped here (replayed on resume, or arriving after an interrupt) are disposed here.
 */
import type { TensorBatch } from '../data/types.js';
import { pullable, pullFrom, type PullObservable, type PullOperator } from '../pull.js';
import type { FitEnd, FitEndReason, Position, TrainEvent } from '../events.js';
import { weightsDigest } from '../checkpoint.js';
import type { Rng } from '../random.js';
import { describeConfig } from './optimizer.js';
import type { Session } from './session.js';

/** The part of a batch the trainer reads. */
export type Batch = Pick<TensorBatch, 'x' | 'y'>;

/** A batch with its place in the run. `sampleIndex` counts this batch's samples in. */
export type PositionedBatch<B extends Batch = Batch> = B & { epoch: number; sampleIndex: number; stallMs: number };

/** What the pipeline's data factory gets for one epoch. */
export interface EpochPlan {
  epoch: number;
  /** The run's RNG stream `name` (shuffle, augment, ...), positioned for this epoch. */
  rng(name: string): Rng;
  /** A fresh int32 seed drawn from stream `name`, for stages that take a seed. */
  seed(name: string): number;
}

export interface FitOptions<B extends Batch> {
  session: Session;
  /** One epoch of training batches, in order, as a pull-through data stream. Called when the epoch starts. */
  batches: (plan: EpochPlan) => PullObservable<B>;
  /**
   * Turns batches into events, one `batchEnd` (or `lossNonFinite`) per batch: a pull operator
   * (`forwardBackward` → `manifoldStep`), so that it takes the next batch only when its events
   * have been consumed. Subscribed once per epoch.
   */
  step: PullOperator<PositionedBatch<B>, TrainEvent>;
  /**
   * Samples per epoch, when known exactly (for progress and ETA, and to tell that --max-steps fell
   * on an epoch's last batch).
   */
  samplesPerEpoch?: number;
  /** Samples the data side skipped so far (corrupt images), e.g. `() => skipCounter.count`. */
  skippedSamples?: () => number;
}

export function disposeBatch(b: Batch): void {
  b.x.dispose();
  b.y.dispose();
}

const INTERRUPTED = Symbol('interrupted');

export function fit<B extends Batch>(options: FitOptions<B>): PullObservable<TrainEvent> {
  const { session, batches, step } = options;
  const { epochs, maxSteps, batchSize } = session.options;
  const skipped = options.skippedSamples ?? (() => 0);

  return pullable<TrainEvent>(async function* (signal) {
    const start: Position = { ...session.start };
    let position: Position = { ...start };
    let stop: FitEndReason | undefined;
    let epochsDone = start.epoch;
    let images = 0;
    const t0 = performance.now();
    const atMax = () => maxSteps !== undefined && position.step >= maxSteps;

    // An interrupt wakes the data wait below, if one is in progress. One waiter per wait, cleared
    // after it: a promise shared by every wait would keep a reaction (and its batch) per step.
    let wake: (() => void) | undefined;
    const interruptSub = session.interrupt$.subscribe(() => {
      stop ??= 'interrupted';
      wake?.();
    });
    const nextOrInterrupt = <T>(pending: Promise<T>) =>
      new Promise<T | typeof INTERRUPTED>((resolve, reject) => {
        wake = () => resolve(INTERRUPTED);
        pending.then(resolve, reject);
      }).finally(() => (wake = undefined));

    try {
      yield {
        type: 'fitStart',
        epochs,
        start,
        samplesPerEpoch: options.samplesPerEpoch,
        batchSize,
        maxSteps,
        resumedFrom: session.resumedFrom,
        backend: session.backendName,
        workers: session.workers,
        model: session.modelName,
        optimizer: describeConfig(session.optimizer.config),
        seed: session.options.seed,
        startedAt: Date.now(),
      };

      for (let epoch = start.epoch; epoch < epochs && !stop && !atMax() && !signal.aborted; epoch++) {
        session.rngs.beginEpoch(epoch);
        const replay = epoch === start.epoch ? start.sampleIndex : 0;
        yield { type: 'epochStart', epoch, sampleIndex: replay, step: position.step };

        const te = performance.now();
        let seen = 0;
        let sourceDone = false;
        // Per-sample sums over the epoch; a resumed epoch continues the checkpoint's.
        const totals = session.epochTotals;
        if (epoch !== start.epoch || start.sampleIndex === 0) Object.assign(totals, { lossSum: 0, correctSum: 0, images: 0 });
        let epochImages = 0;

        const plan: EpochPlan = {
          epoch,
          rng: (name) => session.rngs.get(name),
          seed: (name) => session.rngs.get(name).seed(),
        };
        // The epoch's batches, positioned, as a pull-through stream: the step operator pulls one
        // when it is ready for it, which is after the events of the previous batch have been
        // consumed below (and by everything downstream); the stop conditions are checked then.
        const positioned = pullable<PositionedBatch<B>>(async function* (inner) {
          // Aborted on an interrupt, so that a source stalled on a slow shard or a long decode
          // stops at once (the sources honour their signal) instead of finishing that batch.
          const stall = new AbortController();
          const data = pullFrom(batches(plan), AbortSignal.any([inner, stall.signal]))[Symbol.asyncIterator]();
          let interrupted = false;
          try {
            while (!stop && !atMax()) {
              const t = performance.now();
              const pending = data.next();
              const r = await nextOrInterrupt(pending);
              if (r === INTERRUPTED) {
                // The batch still on its way belongs to no one: dispose it if it lands.
                void pending.then((p) => !p.done && disposeBatch(p.value), () => undefined);
                interrupted = true;
                stall.abort();
                return;
              }
              if (r.done) {
                sourceDone = true;
                return;
              }
              const b = r.value;
              const n = b.x.shape[0];
              if (seen + n <= replay) {
                seen += n;
                disposeBatch(b);
                continue;
              }
              if (stop) {
                disposeBatch(b);
                return;
              }
              seen += n;
              const stallMs = performance.now() - t;
              yield Object.assign(b, { epoch, sampleIndex: seen, stallMs }) as PositionedBatch<B>;
            }
          } finally {
            // After an interrupt the source may still be inside its stalled read: do not wait for it.
            if (interrupted) void data.return?.()?.catch(() => undefined);
            else await data.return?.();
          }
        }, disposeBatch);
        for await (const e of pullFrom(step(positioned), signal)) {
          if (e.type === 'batchEnd') {
            position = { epoch, sampleIndex: e.sampleIndex, step: e.step };
            totals.lossSum += e.loss * e.images;
            totals.correctSum += e.accuracy * e.images;
            totals.images += e.images;
            epochImages += e.images;
            images += e.images;
          } else if (e.type === 'lossNonFinite') {
            stop ??= 'nonFiniteLoss';
          }
          yield e;
        }
        // --max-steps reached on the epoch's last batch: no batch is pulled past the limit, so
        // the source cannot say it is done; the declared epoch size can. (Skipped samples make
        // `seen` fall short: such an epoch ends as cut short, as it would without this.)
        if (!sourceDone && !stop && atMax() && options.samplesPerEpoch !== undefined && seen >= options.samplesPerEpoch) sourceDone = true;
        if (!sourceDone || stop) break;
        epochsDone = epoch + 1;
        position = { epoch: epoch + 1, sampleIndex: 0, step: position.step };
        yield {
          type: 'epochEnd',
          epoch,
          step: position.step,
          trainLoss: totals.images ? totals.lossSum / totals.images : NaN,
          trainAccuracy: totals.images ? totals.correctSum / totals.images : NaN,
          images: epochImages,
          ms: performance.now() - te,
          skippedSamples: skipped(),
        };
      }

      const reason: FitEndReason = stop ?? (epochsDone < epochs ? 'maxSteps' : 'completed');
      const end: FitEnd = {
        type: 'fitEnd',
        reason,
        message: endMessage(reason, position),
        position,
        epochs: epochsDone,
        steps: position.step,
        images,
        ms: performance.now() - t0,
        skippedSamples: skipped(),
        weightsDigest: await weightsDigest(session.model),
        maxNormByGroupKind: await session.optimizer.norms(),
      };
      yield end;
    } finally {
      interruptSub.unsubscribe();
    }
  });
}

function endMessage(reason: FitEndReason, p: Position): string {
  const at = `epoch ${p.epoch}, sample ${p.sampleIndex}, step ${p.step}`;
  switch (reason) {
    case 'completed':
      return `training completed (${p.step} steps)`;
    case 'maxSteps':
      return `stopped at --max-steps (${at})`;
    case 'interrupted':
      return `interrupted at ${at}`;
    case 'nonFiniteLoss':
      return `loss became non-finite after ${at}; that step was not applied and the last good checkpoint is kept`;
    case 'error':
      return `stopped by an error at ${at}`;
  }
}
