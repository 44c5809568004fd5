import t from 'tap';
import { from, range, take, concat, throwError } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { collect, streamError } from './fixtures.js';

t.test('batch groups in order; remainder kept or dropped', async (t) => {
  t.same(await collect(range(0, 7).pipe(batch({ size: 3 }))), [[0, 1, 2], [3, 4, 5], [6]]);
  t.same(await collect(range(0, 7).pipe(batch({ size: 3, dropRemainder: true }))), [[0, 1, 2], [3, 4, 5]]);
  t.same(await collect(range(0, 6).pipe(batch({ size: 3 }))), [[0, 1, 2], [3, 4, 5]]);
  t.same(await collect(from([] as number[]).pipe(batch({ size: 3 }))), []);
});

t.test('batch: errors pass, unsubscribe works, bad sizes are refused', async (t) => {
  const boom = new Error('boom');
  t.equal(await streamError(concat(range(0, 4), throwError(() => boom)).pipe(batch({ size: 2 }))), boom);
  t.same(await collect(range(0, 1000).pipe(batch({ size: 10 }), take(2))), [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]]);
  t.throws(() => batch({ size: 0 }), /size must be an integer ≥ 1/);
});
