/**
 * Pull-through streams: the data side's one backpressure mechanism (see `src/data/README.md`).
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
 *
 * A plain RxJS operator (`map`, `take`, `mergeMap`) in the middle of a data pipeline returns a
 * plain `Observable`. The next data operator then has to subscribe to it and queue what it pushes:
 * correct, but the bound is lost upstream of that point. Put plain operators after the last data
 * operator, or build the stage with {@link pullable}.
 *
 * Cancellation: unsubscribing (or `break` in `for await`) aborts an `AbortSignal` that every stage
 * passes upstream, so sources stop reading and HTTP requests are aborted.
 */
import { Observable } from 'rxjs';
import { log } from '../log.js';

/** Brand that marks pull-capable observables (checked by property, not `instanceof`). */
const PULL = Symbol.for('fgsgd.data.pull');

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
    readonly discard?: (value: T) => void,
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
  return queuePushed(source);
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

async function* queuePushed<T>(source: Observable<T>): AsyncGenerator<T> {
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
      if (finished) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
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
