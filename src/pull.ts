/**
 * Pull-through streams: the one backpressure mechanism of the project, for the data side (see
 * `src/data/README.md`) and for the training events after `fit` alike.
 *
 * RxJS pushes. A source that pushes 60k decoded images into a slow training step fills memory,
 * because every async operator between them (`mergeMap`, `concatMap`) buffers what it cannot
 * process yet. The data operators therefore pass values by *pull*, the way tf.data and
 * tfjs-data's `LazyIterator` do:
 *
 * - Every data source and data operator returns a {@link PullObservable}: an ordinary
 *   `Observable` (so it composes with `pipe` and can be subscribed to) that is also a lazy
 *   `AsyncIterable`.
 * - A data operator does not subscribe to its input. It opens the input's iterator and calls
 *   `next()` only when its own consumer asks for a value ({@link pullFrom}). Demand therefore
 *   travels upstream one request at a time, and each stage holds at most its own bound:
 *   `decodeImages` `concurrent` items, `prefetch` `size` items, `shuffle` `bufferSize` items,
 *   `batch` one batch.
 * - At the end of the pipeline the consumer pulls too: `for await` ({@link iterate}), `concatMapOnDemand`
 *   (operators/concatMapOnDemand.ts), or a plain `subscribe` whose `next` handler is synchronous
 *   (the next value is pulled only after `next` returns).
 * - Operators are built with {@link onDemand} (one value in, the values it yields out, the next
 *   value pulled only when the consumer asks) and typed {@link PullOperator}.
 *
 * **Types keep compositions demand-preserving.** `PullObservable.pipe` of pull operators is a
 * `PullObservable`; one plain RxJS operator (`map`, `mergeMap`) makes the result a plain
 * `Observable`. Where demand matters the types ask for a `PullObservable`: `fit`'s data
 * (`batches`), its `step`, and the event stream a pipeline builds in `withSession`. There, a plain
 * operator fails to compile instead of letting a stage run ahead and buffer at run time. (Plain
 * operators after the last pull operator, e.g. `tap` on a pipeline's events, are fine.)
 *
 * Cancellation: unsubscribing (or `break` in `for await`) aborts an `AbortSignal` that every stage
 * passes upstream, so sources stop reading and HTTP requests are aborted.
 */
import { from, Observable, type ObservableInput, type OperatorFunction } from 'rxjs';
import { log } from './log.js';

/**
 * A demand-preserving operator: it takes any Observable (a push-only one is queued, see
 * {@link pullFrom}) and returns a pull-through stream.
 */
export type PullOperator<T, R> = (source: Observable<T>) => PullObservable<R>;

/** Brand that marks pull-capable observables (checked by property, not `instanceof`). */
const PULL = Symbol.for('fgsgd.data.pull');

/**
 * A hook for values produced but never delivered. Declared as a method so that it is checked
 * bivariantly: a `PullObservable<BatchEnd>` is then a `PullObservable<TrainEvent>`, as an
 * `Observable<BatchEnd>` is an `Observable<TrainEvent>` (the hook is only ever given the stream's
 * own values).
 */
export type Discard<T> = { hook(value: T): void }['hook'];

/** Opens a fresh lazy iteration of a stream; `signal` aborts when the consumer goes away. */
export type OpenFn<T> = (signal: AbortSignal) => AsyncIterable<T>;

/**
 * An `Observable` that is also a lazy `AsyncIterable`. Subscribing iterates it and pushes each
 * value, pulling the next one only after the subscriber's `next` has returned.
 */
export class PullObservable<T> extends Observable<T> implements AsyncIterable<T> {
  readonly [PULL] = true;

  /**
   * @param open starts one iteration; called once per subscription or per `for await`.
   * @param discard called for a value that was produced but never delivered because the consumer
   *   left first (e.g. to dispose tensors). Operators that buffer values use it too.
   */
  constructor(
    readonly open: OpenFn<T>,
    readonly discard?: Discard<T>,
  ) {
    super((subscriber) => {
      const controller = new AbortController();
      const it = open(controller.signal)[Symbol.asyncIterator]();
      void (async () => {
        try {
          for (;;) {
            const r = await it.next();
            if (subscriber.closed) {
              if (!r.done) discard?.(r.value);
              return;
            }
            if (r.done) return subscriber.complete();
            subscriber.next(r.value);
            if (subscriber.closed) return;
          }
        } catch (e) {
          // After unsubscribe, the abort makes sources throw; nobody is listening any more.
          if (!subscriber.closed) subscriber.error(e);
        }
      })();
      return () => {
        controller.abort();
        it.return?.().catch(() => undefined);
      };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return abortOnReturn(this.open, new AbortController());
  }

  /**
   * As `Observable.pipe`; typed so that pull operators give a `PullObservable` and any plain
   * operator among them a plain `Observable` (see the top of this file).
   */
  pipe(): PullObservable<T>;
  pipe<A>(op1: PullOperator<T, A>): PullObservable<A>;
  pipe<A, B>(op1: PullOperator<T, A>, op2: PullOperator<A, B>): PullObservable<B>;
  pipe<A, B, C>(op1: PullOperator<T, A>, op2: PullOperator<A, B>, op3: PullOperator<B, C>): PullObservable<C>;
  pipe<A, B, C, D>(op1: PullOperator<T, A>, op2: PullOperator<A, B>, op3: PullOperator<B, C>, op4: PullOperator<C, D>): PullObservable<D>;
  pipe<A, B, C, D, E>(op1: PullOperator<T, A>, op2: PullOperator<A, B>, op3: PullOperator<B, C>, op4: PullOperator<C, D>, op5: PullOperator<D, E>): PullObservable<E>;
  pipe<A, B, C, D, E, F>(op1: PullOperator<T, A>, op2: PullOperator<A, B>, op3: PullOperator<B, C>, op4: PullOperator<C, D>, op5: PullOperator<D, E>, op6: PullOperator<E, F>): PullObservable<F>;
  pipe<A, B, C, D, E, F, G>(op1: PullOperator<T, A>, op2: PullOperator<A, B>, op3: PullOperator<B, C>, op4: PullOperator<C, D>, op5: PullOperator<D, E>, op6: PullOperator<E, F>, op7: PullOperator<F, G>): PullObservable<G>;
  pipe<A, B, C, D, E, F, G, H>(op1: PullOperator<T, A>, op2: PullOperator<A, B>, op3: PullOperator<B, C>, op4: PullOperator<C, D>, op5: PullOperator<D, E>, op6: PullOperator<E, F>, op7: PullOperator<F, G>, op8: PullOperator<G, H>): PullObservable<H>;
  pipe<A, B, C, D, E, F, G, H, I>(op1: PullOperator<T, A>, op2: PullOperator<A, B>, op3: PullOperator<B, C>, op4: PullOperator<C, D>, op5: PullOperator<D, E>, op6: PullOperator<E, F>, op7: PullOperator<F, G>, op8: PullOperator<G, H>, op9: PullOperator<H, I>): PullObservable<I>;
  pipe<A>(op1: OperatorFunction<T, A>): Observable<A>;
  pipe<A, B>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>): Observable<B>;
  pipe<A, B, C>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>): Observable<C>;
  pipe<A, B, C, D>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>): Observable<D>;
  pipe<A, B, C, D, E>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>): Observable<E>;
  pipe<A, B, C, D, E, F>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>, op6: OperatorFunction<E, F>): Observable<F>;
  pipe<A, B, C, D, E, F, G>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>, op6: OperatorFunction<E, F>, op7: OperatorFunction<F, G>): Observable<G>;
  pipe<A, B, C, D, E, F, G, H>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>, op6: OperatorFunction<E, F>, op7: OperatorFunction<F, G>, op8: OperatorFunction<G, H>): Observable<H>;
  pipe<A, B, C, D, E, F, G, H, I>(op1: OperatorFunction<T, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>, op6: OperatorFunction<E, F>, op7: OperatorFunction<F, G>, op8: OperatorFunction<G, H>, op9: OperatorFunction<H, I>): Observable<I>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  pipe(...operations: OperatorFunction<any, any>[]): Observable<unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  pipe(...operations: OperatorFunction<any, any>[]): Observable<unknown> {
    return (super.pipe as (...o: OperatorFunction<unknown, unknown>[]) => Observable<unknown>)(...operations);
  }
}

/** Build a pull-capable stream from a function that opens an async iteration. */
export function pullable<T>(open: OpenFn<T>, discard?: (value: T) => void): PullObservable<T> {
  return new PullObservable(open, discard);
}

export function isPullable<T>(source: Observable<T>): source is PullObservable<T> {
  return (source as Partial<Record<typeof PULL, unknown>>)[PULL] === true;
}

/** The `discard` hook of a pull-capable source, if it has one. */
export function discardOf<T>(source: Observable<T>): ((value: T) => void) | undefined {
  return isPullable(source) ? source.discard : undefined;
}

/**
 * Iterate `source` on demand. A {@link PullObservable} is pulled one value per `next()`; any other
 * Observable is subscribed to and its values are queued (unbounded: the push source sets the pace).
 */
export function pullFrom<T>(source: Observable<T>, signal: AbortSignal): AsyncIterable<T> {
  if (isPullable(source)) return source.open(signal);
  return queuePushed(source, signal);
}

/**
 * `for await` over any Observable: pulls a {@link PullObservable} on demand (typed `Observable`
 * after `pipe`, it is still pull-capable underneath); queues a push-only one.
 *
 * @example
 * ```ts
 * for await (const b of iterate(batches$)) { await step(b); tf.dispose([b.x, b.y]); }
 * ```
 */
export function iterate<T>(source: Observable<T>): AsyncIterable<T> {
  if (isPullable(source)) return source;
  return { [Symbol.asyncIterator]: () => abortOnReturn(() => queuePushed(source), new AbortController()) };
}

let warnedPush = false;

/** Subscribe to a push-only source and queue what it pushes; ends when `signal` aborts. */
async function* queuePushed<T>(source: Observable<T>, signal?: AbortSignal): AsyncGenerator<T> {
  if (!warnedPush) {
    warnedPush = true;
    log.debug('a data operator reads a push-only Observable: values are queued without bound');
  }
  let queue: T[] = [];
  let head = 0;
  let finished = false;
  let failed = false;
  let error: unknown;
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort, { once: true });
  const sub = source.subscribe({
    next: (v) => {
      queue.push(v);
      wake?.();
    },
    error: (e) => {
      failed = true;
      error = e;
      wake?.();
    },
    complete: () => {
      finished = true;
      wake?.();
    },
  });
  try {
    for (;;) {
      if (head < queue.length) {
        const v = queue[head++]!;
        // Compact now and then so that a long queue does not keep consumed values alive.
        if (head > 1024 && head * 2 > queue.length) {
          queue = queue.slice(head);
          head = 0;
        }
        yield v;
        continue;
      }
      if (failed) throw error;
      if (finished || signal?.aborted) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    sub.unsubscribe();
  }
}

/** Marker a mapping function returns to drop a value (e.g. a skipped corrupt image). */
export const SKIP: unique symbol = Symbol('skip');
export type Skip = typeof SKIP;

const DONE: unique symbol = Symbol('done');

/**
 * Map `source` with an async `fn`, at most `concurrent` calls in flight, results in input order.
 *
 * Input order (rather than `mergeMap`'s completion order) keeps runs reproducible: with the same
 * seed the same images land in the same batches whatever the decode timings. Upstream is pulled
 * only to keep `concurrent` calls busy while the consumer asks for values, so at most
 * `concurrent` inputs are held here at any time.
 */
export async function* mapConcurrent<A, B>(
  source: AsyncIterable<A>,
  fn: (value: A) => Promise<B | Skip>,
  concurrent: number,
): AsyncGenerator<B> {
  if (!Number.isInteger(concurrent) || concurrent < 1) {
    throw new RangeError(`concurrent must be an integer ≥ 1 (got ${concurrent})`);
  }
  const it = source[Symbol.asyncIterator]();
  // Pulls are chained, never overlapped: an arbitrary AsyncIterator need not allow concurrent next().
  let chain: Promise<unknown> = Promise.resolve();
  const start = (): Promise<B | Skip | typeof DONE> => {
    const pulled: Promise<IteratorResult<A>> = chain.then(() => it.next());
    chain = pulled.catch(() => undefined);
    const task = pulled.then((r): B | Skip | typeof DONE | Promise<B | Skip> => (r.done ? DONE : fn(r.value)));
    task.catch(() => undefined); // awaited in order below; this only silences early rejections
    return task;
  };
  const window: Promise<B | Skip | typeof DONE>[] = [];
  let upstreamDone = false;
  try {
    for (;;) {
      while (!upstreamDone && window.length < concurrent) window.push(start());
      const head = window.shift();
      if (head === undefined) return;
      const r = await head;
      if (r === DONE) {
        upstreamDone = true; // later pulls in the window resolve DONE too
        continue;
      }
      if (r === SKIP) continue;
      yield r as B;
    }
  } finally {
    void chain.then(() => it.return?.()).catch(() => undefined);
  }
}

/** An iterator over `open(controller.signal)` whose `return()` also aborts the controller. */
function abortOnReturn<T>(open: OpenFn<T>, controller: AbortController): AsyncIterator<T> {
  const it = open(controller.signal)[Symbol.asyncIterator]();
  return {
    next: () => it.next(),
    return: async (value?: unknown) => {
      controller.abort();
      return (await it.return?.(value)) ?? { done: true, value: undefined };
    },
    throw: it.throw ? (e?: unknown) => it.throw!(e) : undefined,
  };
}

export interface OnDemandHooks<T, R> {
  /** Called for each value; yields the values to emit for it (an iterable, async iterable or Observable input). */
  handle: (value: T, index: number) => AsyncIterable<R> | Iterable<R> | ObservableInput<R>;
  /** Called once after the source completes (not on error or unsubscribe); yields final values. */
  complete?: () => AsyncIterable<R> | Iterable<R>;
  /** Called once when the stream ends in any way (completion, error, unsubscribe). */
  done?: () => void | Promise<void>;
}

/**
 * The operator building block: like `concatMap`, each value goes to `handle` and what `handle`
 * yields is emitted, in order; unlike `concatMap`, the next value is pulled from upstream only when
 * the consumer asks for one and `handle` is done with the previous value. `setup` runs once per
 * subscription (or iteration), so per-run state lives in its closure; `done` runs on completion,
 * error and unsubscribe alike. `discard` is handed values produced but never delivered.
 *
 * @example
 * ```ts
 * const tagEpochs = onDemand<TrainEvent, TrainEvent>(() => ({
 *   *handle(e) { yield e; if (e.type === 'epochEnd') yield { ...e, type: 'note' } as TrainEvent; },
 * }));
 * ```
 */
export function onDemand<T, R>(setup: () => OnDemandHooks<T, R>, discard?: (value: R) => void): PullOperator<T, R> {
  return (source) =>
    pullable<R>(async function* (signal) {
      const hooks = setup();
      const discardIn = discardOf(source);
      let index = 0;
      try {
        for await (const value of pullFrom(source, signal)) {
          // Pulled after the consumer left: not handled, handed to the source's discard hook.
          if (signal.aborted) return discardIn?.(value);
          yield* asIterable(hooks.handle(value, index++));
        }
        if (hooks.complete) yield* hooks.complete();
      } finally {
        await hooks.done?.();
      }
    }, discard);
}

/** A pull operator that passes values through: the neutral element where one is optional. */
export function passThrough<T>(): PullOperator<T, T> {
  return (source) => (isPullable(source) ? source : pullable((signal) => pullFrom(source, signal)));
}

/** Iterables and async iterables as they are; an Observable or Promise pulled through {@link iterate}. */
function asIterable<R>(v: AsyncIterable<R> | Iterable<R> | ObservableInput<R>): AsyncIterable<R> | Iterable<R> {
  if (v instanceof Observable) return iterate(v);
  if (typeof (v as Iterable<R>)[Symbol.iterator] === 'function') return v as Iterable<R>;
  if (typeof (v as AsyncIterable<R>)[Symbol.asyncIterator] === 'function') return v as AsyncIterable<R>;
  return iterate(from(v as ObservableInput<R>));
}

/** Pull operators of one type applied in order, as one (none: {@link passThrough}). */
export function pullPipe<T>(operators: readonly PullOperator<T, T>[]): PullOperator<T, T> {
  return (source) => operators.reduce<PullObservable<T>>((s, op) => op(s), passThrough<T>()(source));
}
