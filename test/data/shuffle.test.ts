import t from 'tap';
import { range, take, concat, throwError } from 'rxjs';
import { Rng } from '../../src/random.js';
import { shuffle } from '../../operators/shuffle.js';
import { collect, streamError } from './fixtures.js';

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

t.test('shuffle is a permutation, seeded, and differs between epochs', async (t) => {
  const op = shuffle<number>({ bufferSize: 50, seed: 1 });
  const e1 = await collect(range(0, 200).pipe(op));
  const e2 = await collect(range(0, 200).pipe(op));
  t.same(sorted(e1), [...Array(200).keys()], 'every item exactly once');
  t.notSame(e1, [...Array(200).keys()], 'not the input order');
  t.notSame(e1, e2, 'a new order each epoch (the generator advances)');
  const again = shuffle<number>({ bufferSize: 50, seed: 1 });
  t.same(await collect(range(0, 200).pipe(again)), e1, 'same seed, same first epoch');
  t.notSame(await collect(range(0, 200).pipe(shuffle<number>({ bufferSize: 50, seed: 2 }))), e1, 'other seed, other order');
});

t.test('shuffle state saves and restores at an epoch boundary', async (t) => {
  const rng = Rng.create(9, 'shuffle');
  const op = shuffle<number>({ bufferSize: 1000, rng });
  await collect(range(0, 100).pipe(op)); // epoch 1
  const saved = rng.state();
  const epoch2 = await collect(range(0, 100).pipe(op));
  const resumed = await collect(range(0, 100).pipe(shuffle<number>({ bufferSize: 1000, rng: Rng.fromState(saved) })));
  t.same(resumed, epoch2);
});

t.test('a buffer of 1 keeps the order; a buffer ≥ n mixes globally', async (t) => {
  t.same(await collect(range(0, 10).pipe(shuffle<number>({ bufferSize: 1, seed: 3 }))), [...Array(10).keys()]);
  // with a small buffer an item can come at most bufferSize - 1 positions early
  const out = await collect(range(0, 500).pipe(shuffle<number>({ bufferSize: 10, seed: 3 })));
  t.ok(out.every((v, i) => v - i < 10), 'only the buffer is drawn from');
  t.ok(out.some((v, i) => v - i === 9), 'and all of it is');
  const global = await collect(range(0, 500).pipe(shuffle<number>({ bufferSize: 500, seed: 3 })));
  t.ok(global.slice(0, 50).some((v) => v > 400), 'a full buffer can emit late items first');
});

t.test('shuffle: errors, unsubscribe, options', async (t) => {
  const boom = new Error('boom');
  t.equal(await streamError(concat(range(0, 5), throwError(() => boom)).pipe(shuffle({ bufferSize: 3, seed: 1 }))), boom);
  t.equal((await collect(range(0, 100).pipe(shuffle({ bufferSize: 10, seed: 1 }), take(5)))).length, 5);
  t.throws(() => shuffle({ bufferSize: 0, seed: 1 }), /bufferSize/);
  t.throws(() => shuffle({ bufferSize: 3 }), /seed or an rng/);
});
