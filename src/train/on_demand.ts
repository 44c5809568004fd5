/**
 * `streamOnDemand`: the building block of the event-stream operators (evaluate, checkpoint,
 * renormalize, logMetrics, progress). Like `concatMap`, it hands each value to `handle` and emits
 * what `handle` yields, in order; unlike `concatMap`, both its input and its output are
 * pull-through streams (src/data/pull.ts): it asks upstream for the next value only when its own
 * consumer asks and `handle` is done with the previous one. A chain of such operators after `fit`
 * therefore keeps `fit` from training the next batch while an evaluation or checkpoint write of
 * the current one is still running.
 *
 * (operators/concatMapOnDemand.ts does the same for the end of a data pipeline, but its output is
 * a plain Observable, so two in a row would not keep the demand.)
 *
 * `handle` may be an async generator; it runs inside the stream's iteration, so a `finally` in
 * `done` runs on completion, error and unsubscribe alike. Values are passed through untouched:
 * this creates and disposes nothing.
 */
import type { OperatorFunction } from 'rxjs';
import { pullable, pullFrom } from '../data/pull.js';

export interface OnDemandHooks<T, R> {
  /** Called for each value; yields the values to emit for it. */
  handle: (value: T) => AsyncIterable<R> | Iterable<R>;
  /** Called once after the source completes (not on error or unsubscribe); yields final values. */
  complete?: () => AsyncIterable<R> | Iterable<R>;
  /** Called once when the stream ends in any way (completion, error, unsubscribe). */
  done?: () => void | Promise<void>;
}

/** `setup` runs once per subscription, so per-run state lives in its closure. */
export function streamOnDemand<T, R>(setup: () => OnDemandHooks<T, R>): OperatorFunction<T, R> {
  return (source) =>
    pullable<R>(async function* (signal) {
      const hooks = setup();
      try {
        for await (const value of pullFrom(source, signal)) yield* hooks.handle(value);
        if (hooks.complete) yield* hooks.complete();
      } finally {
        await hooks.done?.();
      }
    });
}
