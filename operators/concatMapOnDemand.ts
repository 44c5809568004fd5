import { concatMap, from, Observable, type ObservableInput, type OperatorFunction, type Subscription } from 'rxjs';
import { isPullable } from '../src/data/pull.js';

/**
 * `concatMap` for the end of a data pipeline: project each item to an Observable, Promise or
 * iterable, one at a time, and pull the next item from a pull-driven source (any data operator's
 * output) only when the previous projection has completed. This is how a slow consumer, such as
 * a training step, keeps the data side bounded (see `src/data/README.md`): plain `concatMap`
 * would subscribe and let the source push every item into its buffer.
 *
 * On a push-only source it is exactly `concatMap(project)`.
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
export function concatMapOnDemand<T, R>(project: (item: T, index: number) => ObservableInput<R>): OperatorFunction<T, R> {
  return (source) => {
    if (!isPullable(source)) return source.pipe(concatMap(project));
    return new Observable<R>((subscriber) => {
      const controller = new AbortController();
      const it = source.open(controller.signal)[Symbol.asyncIterator]();
      let inner: Subscription | undefined;
      let index = 0;
      const pullNext = (): void => {
        it.next().then(
          (r) => {
            if (subscriber.closed) {
              if (!r.done) source.discard?.(r.value);
              return;
            }
            if (r.done) return subscriber.complete();
            let projected: ObservableInput<R>;
            try {
              projected = project(r.value, index++);
            } catch (e) {
              return subscriber.error(e);
            }
            inner = from(projected).subscribe({
              next: (v) => subscriber.next(v),
              error: (e) => subscriber.error(e),
              complete: () => {
                inner = undefined;
                pullNext();
              },
            });
          },
          (e) => {
            if (!subscriber.closed) subscriber.error(e);
          },
        );
      };
      pullNext();
      return () => {
        controller.abort();
        inner?.unsubscribe();
        it.return?.().catch(() => undefined);
      };
    });
  };
}
