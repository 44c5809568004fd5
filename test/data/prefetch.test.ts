import t from 'tap';
import { range, take, concat, throwError, of } from 'rxjs';
import { iterate, pullable } from '../../src/pull.js';
import { prefetch } from '../../operators/prefetch.js';
import { concatMapOnDemand } from '../../operators/concatMapOnDemand.js';
import { collect, streamError } from './fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pull source 0..n-1 that records how many were produced. */
function source(n: number) {
  const stats = { produced: 0 };
  const src = pullable<number>(async function* () {
    for (let i = 0; i < n; i++) {
      stats.produced++;
      yield i;
    }
  });
  return { src, stats };
}

t.test('prefetch passes values in order and completes', async (t) => {
  const seen: number[] = [];
  for await (const v of iterate(range(0, 3))) seen.push(v);
  t.same(seen, [0, 1, 2], 'iterate also reads push-only sources');
  t.same(await collect(range(0, 10).pipe(prefetch({ size: 3 }))), [...Array(10).keys()]);
  t.same(await collect(source(10).src.pipe(prefetch({ size: 3 }))), [...Array(10).keys()]);
  t.throws(() => prefetch({ size: 0 }), /size must be an integer ≥ 1/);
});

t.test('prefetch works ahead by exactly size while the consumer is busy', async (t) => {
  const { src, stats } = source(1000);
  const it = iterate(src.pipe(prefetch({ size: 4 })))[Symbol.asyncIterator]();
  t.same(await it.next(), { value: 0, done: false });
  await sleep(20); // the consumer "works"; prefetch fills
  t.equal(stats.produced, 5, 'the item handed over + 4 ahead');
  await sleep(20);
  t.equal(stats.produced, 5, 'and no more');
  await it.return?.();
});

t.test('prefetch: errors pass; discard gets held items on unsubscribe', async (t) => {
  const boom = new Error('boom');
  t.equal(await streamError(concat(range(0, 3), throwError(() => boom)).pipe(prefetch({ size: 2 }))), boom);
  const discarded: number[] = [];
  const { src } = source(100);
  t.same(await collect(src.pipe(prefetch({ size: 3, discard: (v: number) => discarded.push(v) }), take(2))), [0, 1]);
  await sleep(20);
  t.same(discarded.sort((a, b) => a - b), [2, 3, 4], 'the items prefetched past the last one taken');
});

t.test('concatMapOnDemand: one at a time, in order; errors; plain sources', async (t) => {
  const { src, stats } = source(50);
  let active = 0;
  let maxActive = 0;
  const out = await collect(
    src.pipe(
      concatMapOnDemand(async (v, i) => {
        active++;
        maxActive = Math.max(maxActive, active);
        t.equal(stats.produced, i + 1, 'the next item is pulled only after the step completed');
        await sleep(1);
        active--;
        return v * 2;
      }),
      take(5),
    ),
  );
  t.same(out, [0, 2, 4, 6, 8]);
  t.equal(maxActive, 1);
  const boom = new Error('step failed');
  t.equal(await streamError(source(5).src.pipe(concatMapOnDemand(async () => { throw boom; }))), boom);
  t.same(await collect(of(1, 2).pipe(concatMapOnDemand((v) => of(v, v)))), [1, 1, 2, 2], 'plain source: concatMap');
});
