import t from 'tap';
import { Subject, take, toArray, lastValueFrom, of, throwError, concat } from 'rxjs';
import { isPullable, mapConcurrent, pullable, pullFrom, SKIP } from '../src/pull.js';
import { collect, streamError } from './data/fixtures.js';

async function* items<T>(xs: T[]): AsyncGenerator<T> {
  yield* xs;
}

/** A pull source of 0..n-1 that counts what it produced and records returns/aborts. */
function counting(n: number) {
  const stats = { produced: 0, returned: false, aborted: false };
  const source = pullable<number>(async function* (signal) {
    signal.addEventListener('abort', () => (stats.aborted = true));
    try {
      for (let i = 0; i < n; i++) {
        stats.produced++;
        yield i;
      }
    } finally {
      stats.returned = true;
    }
  });
  return { source, stats };
}

t.test('PullObservable: values and completion, once per subscription', async (t) => {
  const { source, stats } = counting(5);
  t.ok(isPullable(source));
  t.notOk(isPullable(of(1)));
  t.equal(stats.produced, 0, 'lazy: nothing produced before subscribe');
  t.same(await collect(source), [0, 1, 2, 3, 4]);
  t.same(await collect(source), [0, 1, 2, 3, 4], 're-subscribable');
  const seen: number[] = [];
  for await (const v of source) seen.push(v);
  t.same(seen, [0, 1, 2, 3, 4], 'also an AsyncIterable');
});

t.test('PullObservable: errors reach the subscriber', async (t) => {
  const boom = new Error('boom');
  const failing = pullable<number>(async function* () {
    yield 1;
    throw boom;
  });
  t.equal(await streamError(failing), boom);
});

t.test('PullObservable: unsubscribe stops production, aborts the signal, and returns the iterator', async (t) => {
  const { source, stats } = counting(1_000_000);
  t.same(await lastValueFrom(source.pipe(take(3), toArray())), [0, 1, 2]);
  await new Promise((r) => setTimeout(r, 10));
  t.ok(stats.produced <= 4, `pulled on demand only (${stats.produced} produced)`);
  t.ok(stats.aborted, 'signal aborted');
  t.ok(stats.returned, 'generator finally ran');

  const c2 = counting(1_000_000);
  let n = 0;
  for await (const _ of c2.source) if (++n === 3) break;
  t.ok(c2.stats.returned && c2.stats.aborted, 'break in for-await returns and aborts');
});

t.test('PullObservable: a synchronous subscriber paces the source', async (t) => {
  const { source, stats } = counting(100);
  const lags: number[] = [];
  let received = 0;
  await new Promise<void>((resolve) =>
    source.subscribe({
      next: () => {
        received++;
        lags.push(stats.produced - received);
      },
      complete: resolve,
    }),
  );
  t.equal(Math.max(...lags), 0, 'the next value is produced only after next() returned');
});

t.test('pullFrom queues a push-only source; errors and completion pass', async (t) => {
  const ctl = new AbortController();
  const subject = new Subject<number>();
  const it = pullFrom(subject, ctl.signal)[Symbol.asyncIterator]();
  const first = it.next();
  subject.next(1);
  subject.next(2);
  subject.complete();
  t.same(await first, { value: 1, done: false });
  t.same(await it.next(), { value: 2, done: false });
  t.same((await it.next()).done, true);
  const boom = new Error('x');
  const vals: number[] = [];
  await t.rejects(
    (async () => {
      for await (const v of pullFrom(concat(of(1), throwError(() => boom)), ctl.signal)) vals.push(v);
    })(),
    boom,
  );
  t.same(vals, [1]);
});

t.test('mapConcurrent: input order, bounded concurrency, SKIP, errors', async (t) => {
  let running = 0;
  let maxRunning = 0;
  const slowDouble = async (x: number) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, (7 - x) % 4)); // later inputs often finish first
    running--;
    return x % 3 === 0 ? SKIP : x * 2;
  };
  const out: number[] = [];
  for await (const v of mapConcurrent(items([1, 2, 3, 4, 5, 6, 7]), slowDouble, 3)) out.push(v);
  t.same(out, [2, 4, 8, 10, 14]);
  t.equal(maxRunning, 3);
  const boom = new Error('bad 2');
  await t.rejects(
    (async () => {
      for await (const _ of mapConcurrent(items([1, 2, 3]), async (x) => {
        if (x === 2) throw boom;
        return x;
      }, 2));
    })(),
    boom,
  );
  await t.rejects((async () => { for await (const _ of mapConcurrent(items([1]), async (x) => x, 0)); })(), /concurrent must be/);
});
