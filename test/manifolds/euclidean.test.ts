import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { euclidean } from '../../src/manifolds/index.js';
import { assertNoLeak } from '../helpers/leak.js';
import { checkBatched, checkManifold, onBackends, leakAsserter } from './props.js';

await onBackends(t, async (t) => {
  const m = euclidean();
  t.test('properties', async (t) => {
    await assertNoLeak(leakAsserter(t), 'euclidean properties', () => {
      for (const shape of [[4, 3, 3], [5, 9, 1], [2, 1, 1], [1, 10]]) checkManifold(t, { label: 'euclidean', m, shape });
      checkBatched(t, { label: 'euclidean', m, shape: [5, 3, 3] });
    });
  });
  t.test('identity geometry', async (t) => {
    await assertNoLeak(leakAsserter(t), 'euclidean identity', () => {
      tf.tidy(() => {
        const x = tf.tensor2d([[1, 2], [3, 4]]);
        const y = tf.tensor2d([[1, 2], [3, 1]]);
        const u = tf.tensor2d([[0.5, 0], [0, -1]]);
        t.same(Array.from(m.retr(x, u).dataSync()), [1.5, 2, 3, 3]);
        t.same(Array.from(m.proju(x, u).dataSync()), Array.from(u.dataSync()));
        t.equal(m.dist!(x, y).dataSync()[0], 3, 'dist = Frobenius distance');
        t.equal(m.pointResidual(x).dataSync()[0], 0);
        const p = m.projx(x);
        t.not(p, x, 'projx returns a new tensor, not its argument');
      });
    });
    t.equal(m.diameter([3, 3]), Infinity);
    t.equal(m.curvature([3, 3]), 0);
  });
});
