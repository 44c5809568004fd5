import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { euclidean, oblique, product, scaled, sphere, stiefel } from '../../src/manifolds/index.js';
import { assertNoLeak } from '../helpers/leak.js';
import { checkBatched, checkManifold, onBackends, leakAsserter } from './props.js';

await onBackends(t, async (t) => {
  t.test('properties with a number radius', async (t) => {
    await assertNoLeak(leakAsserter(t), 'scaled properties', () => {
      const cases = [
        { m: scaled(sphere(), 3), r: 3 },
        { m: scaled(oblique(), 0.25), r: 0.25 },
        { m: scaled(stiefel({ retraction: 'polar' }), 2), r: 2 },
        { m: scaled(stiefel({ retraction: 'cayley' }), 0.5), r: 0.5 },
        { m: scaled(euclidean(), 2), r: 2 },
      ];
      for (const { m, r } of cases) {
        for (const shape of [[4, 3, 3], [3, 5, 3], [2, 1, 1]]) checkManifold(t, { label: `${m.name} ℜ=${r}`, m, shape, scale: r });
        checkBatched(t, { label: `${m.name} ℜ=${r}`, m, shape: [4, 3, 3], scale: r });
      }
    });
  });

  t.test('properties with a per-matrix radius tensor [B, 1, 1]', async (t) => {
    await assertNoLeak(leakAsserter(t), 'scaled tensor radius', () => {
      const radius = tf.tensor3d([0.5, 1, 2, 4], [4, 1, 1]);
      for (const base of [sphere(), stiefel({ retraction: 'qr' }), oblique()]) {
        const m = scaled(base, radius);
        checkManifold(t, { label: `${m.name} ℜ=[.5,1,2,4]`, m, shape: [4, 3, 3], scale: 1 });
        checkBatched(t, {
          label: `${m.name} ℜ=[.5,1,2,4]`,
          m,
          shape: [4, 3, 3],
          at: (i) => {
            const ri = tf.slice(radius, [i, 0, 0], [1, 1, 1]);
            return { m: scaled(base, ri), dispose: () => ri.dispose() };
          },
        });
      }
      radius.dispose();
    });
  });

  t.test('scaled points have the radius; geometry scales as documented', async (t) => {
    await assertNoLeak(leakAsserter(t), 'scaled geometry', () => {
      tf.tidy(() => {
        const r = 3;
        const m = scaled(sphere(), r);
        const x = m.random([5, 3, 3], 1);
        const n = tf.norm(x, 'euclidean', [-2, -1]);
        t.ok(tf.max(tf.abs(tf.sub(n, r))).dataSync()[0]! <= 1e-5, '‖x‖_F = ℜ');
        const st = scaled(stiefel(), tf.tensor3d([2, 0.5], [2, 1, 1]));
        const y = st.random([2, 4, 2], 1);
        const g = tf.matMul(y, y, true, false).arraySync() as number[][][];
        t.ok(Math.abs(g[0]![0]![0]! - 4) < 1e-5 && Math.abs(g[1]![1]![1]! - 0.25) < 1e-5, 'XᵀX = ℜ²I per matrix');
        // dist(x, expmap(x, v)) = ‖v‖ up to the diameter πℜ, i.e. the metric is the ambient one.
        const v0 = m.proju(x, tf.randomNormal([5, 3, 3], 0, 1, 'float32', 2));
        const v = tf.mul(tf.div(v0, tf.norm(v0, 'euclidean', [-2, -1], true)), 2.5 * r / 3);
        const d = m.dist!(x, m.expmap!(x, v));
        t.ok(tf.max(tf.abs(tf.sub(d, 2.5))).dataSync()[0]! <= 1e-4, 'dist(x, exp(x, v)) = ‖v‖_F');
        t.ok(tf.max(tf.abs(tf.sub(m.inner(x, v, v), tf.sum(tf.square(v), [-2, -1])))).dataSync()[0]! <= 1e-4, 'inner = ⟨u, v⟩_F');
      });
    });
    const radius = tf.tensor3d([0.5, 2], [2, 1, 1]);
    t.equal(scaled(sphere(), 3).diameter([3, 3]), 3 * Math.PI, 'diameter πℜ');
    t.equal(scaled(sphere(), 2).curvature([3, 3]), 0.25, 'curvature 1/ℜ²');
    t.equal(scaled(sphere(), radius).diameter([3, 3]), 2 * Math.PI, 'tensor radius: diameter bound uses max ℜ');
    t.equal(scaled(sphere(), radius).curvature([3, 3]), 4, 'tensor radius: curvature bound uses min ℜ');
    t.equal(scaled(euclidean(), 2).curvature([3, 3]), 0);
    t.equal(scaled(stiefel(), 2).dist, undefined, 'no dist where the base has none');
    t.equal(scaled(sphere(), 2).tag, 'Sp');
    t.throws(() => scaled(sphere(), 0), /positive finite/);
    const bad = tf.ones([4]);
    t.throws(() => scaled(sphere(), bad), /shape \[4\] would broadcast against the columns/);
    bad.dispose();
    radius.dispose();
  });

  t.test('a product of scaled components (one radius per kernel of a POM)', async (t) => {
    await assertNoLeak(leakAsserter(t), 'product of scaled', () => {
      const m = product([scaled(sphere(), 2), scaled(stiefel({ retraction: 'cayley' }), 0.5)]);
      checkManifold(t, { label: m.name, m, shape: [[3, 3, 3], [3, 4, 2]] });
    });
  });
});
