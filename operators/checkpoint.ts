import { writeCheckpoint, type Checkpoint, type CheckpointInterval } from '../src/checkpoint.js';
import type { FileLayer } from '../src/atomic.js';
import type { CheckpointSaved, Position, TrainEvent } from '../src/events.js';
import { log } from '../src/log.js';
import { onDemand, type PullOperator } from '../src/pull.js';

export interface CheckpointOptions {
  /** Directory to write `checkpoint.ckpt` into. */
  dir: string;
  /**
   * Takes a consistent snapshot of the run at `position` (e.g. `session.capture`): the state as it
   * is when it is called; the promise resolves once its values are read back.
   */
  capture: (position: Position) => Checkpoint | Promise<Checkpoint>;
  /**
   * Also save every so many steps (`{ steps: 500 }`) or seconds (`{ seconds: 300 }`, checked at
   * step boundaries, counted from the last save or the start). Default: only at epoch ends and at
   * the end.
   */
  every?: CheckpointInterval;
  /** The clock of `every: { seconds }`, in ms (default `performance.now`; tests pass their own). */
  now?: () => number;
  /** The file layer checkpoints are written through (tests inject disk faults). */
  io?: FileLayer;
  /** Save after every `everyEpochs` epochs (default 1; 0: never at epoch ends). */
  everyEpochs?: number;
}

/**
 * Save a checkpoint (src/checkpoint.ts: weights, optimizer state, RNG states, position; written
 * atomically, the previous one kept beside it) at epoch ends, every N steps or seconds (`every`), and at `fitEnd` — the final checkpoint of a
 * run that completed, hit --max-steps or was interrupted (Ctrl-C). Emits `checkpointSaved` right
 * after the event that triggered it.
 *
 * The snapshot is taken when the triggering event arrives, and the stream is demand-preserving
 * (src/pull.ts), so it is exactly the state after that step. Never saved:
 * - after `lossNonFinite`, and at a `fitEnd` of reason `nonFiniteLoss` or `error`: the last good
 *   checkpoint is kept;
 * - a snapshot whose weights are not all finite (a step produced NaN or ±Infinity weights).
 *
 * Tensor ownership: snapshots are typed arrays; it creates no tensors.
 *
 * @example
 * ```ts
 * fit({ session, ... }).pipe(checkpoint({ dir: out, capture: (p) => session.capture(p), every: { seconds: 300 } }));
 * ```
 */
export function checkpoint(options: CheckpointOptions): PullOperator<TrainEvent, TrainEvent> {
  const everyEpochs = options.everyEpochs ?? 1;
  const every = options.every;
  const now = options.now ?? (() => performance.now());
  return onDemand<TrainEvent, TrainEvent>(() => {
    let saved: Position | undefined;
    let savedAt = now();
    let poisoned = false;
    const dueAt = (step: number) =>
      every !== undefined && ('steps' in every ? step % every.steps === 0 : now() - savedAt >= every.seconds * 1000);
    return {
      async *handle(e) {
        let position: Position | undefined;
        if (e.type === 'lossNonFinite') poisoned = true;
        else if (e.type === 'batchEnd' && dueAt(e.step)) {
          position = { epoch: e.epoch, sampleIndex: e.sampleIndex, step: e.step };
        } else if (e.type === 'epochEnd' && everyEpochs > 0 && (e.epoch + 1) % everyEpochs === 0) {
          position = { epoch: e.epoch + 1, sampleIndex: 0, step: e.step };
        } else if (e.type === 'fitEnd' && (e.reason === 'completed' || e.reason === 'maxSteps' || e.reason === 'interrupted')) {
          position = e.position;
        }
        if (!position || poisoned || (saved && samePosition(saved, position))) return yield e;
        const t0 = performance.now();
        const taken = options.capture(position);
        yield e;
        const snapshot = await taken;
        const bad = Object.entries(snapshot.weights).find(([, t]) => !t.data.every(Number.isFinite));
        if (bad) {
          log.warn({ weight: bad[0], position }, 'checkpoint: weights are not finite; keeping the last good checkpoint');
          return;
        }
        let path: string;
        try {
          path = await writeCheckpoint(options.dir, snapshot, options.io);
        } catch (err) {
          // A full disk or an I/O error: the run stops here, and says where and what is left.
          const code = (err as NodeJS.ErrnoException).code;
          throw new Error(
            `checkpoint: cannot write to ${options.dir} (${code ? `${code}: ` : ''}${(err as Error).message}); ` +
              (saved ? `the previous checkpoint there (step ${saved.step}) is intact: ` : 'no checkpoint was written: ') +
              `free space or fix the disk, then run again with --resume ${options.dir}`,
            { cause: err },
          );
        }
        saved = position;
        savedAt = now();
        const event: CheckpointSaved = { type: 'checkpointSaved', path, position, ms: performance.now() - t0 };
        yield event;
      },
    };
  });
}

function samePosition(a: Position, b: Position): boolean {
  return a.step === b.step && a.epoch === b.epoch && a.sampleIndex === b.sampleIndex;
}
