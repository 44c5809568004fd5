import type { ObservableInput } from 'rxjs';
import { onDemand, type PullOperator } from '../src/pull.js';

/**
 * `concatMap` for the end of a data pipeline: project each item to an Observable, Promise or
 * iterable, one at a time, and pull the next item from a pull-driven source (any data operator's
 * output) only when the previous projection has completed and the consumer asks. This is how a
 * slow consumer, such as a training step, keeps the data side bounded (see `src/data/README.md`):
 * plain `concatMap` would subscribe and let the source push every item into its buffer. Its
 * output is a pull-through stream too (`onDemand`, src/pull.ts), so it composes with the other
 * pull operators.
 *
 * On a push-only source the items are queued as they come (as `concatMap` would).
 *
 * Ownership: items are handed to `project`, which owns them (dispose a `TensorBatch` there). An
 * item pulled after unsubscribe is given to the source's `discard` hook.
 *
 * @example
 * ```ts
 * batches$.pipe(
 *   concatMapOnDemand(async (b) => {
 *     try { return await step(b.x, b.y); } finally { tf.dispose([b.x, b.y]); }
 *   }),
 * );
 * ```
 */
export function concatMapOnDemand<T, R>(project: (item: T, index: number) => ObservableInput<R>): PullOperator<T, R> {
  return onDemand<T, R>(() => ({ handle: (item, index) => project(item, index) }));
}
