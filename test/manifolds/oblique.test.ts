import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { oblique } from '../../src/manifolds/index.js';
import { assertNoLeak } from '../helpers/leak.js';
import { checkBatched, checkManifold, onBackends, leakAsserter } from './props.js';

const SHAPES = [[4, 3, 3], [5, 9, 1], [3, 5, 3], [2, 1, 1], [2, 3, 4, 2], [3, 16]];
/** float32 closed-form agreement with a float64 evaluation of the same formula. */
const CLOSED_FORM_TOL = 2e-6;

await onBackends(t, async (t) => {
  const m = oblique();
  t.test('properties', async (t) => {
    await assertNoLeak(leakAsserter(t), 'oblique properties', () => {
      for (const shape of SHAPES) checkManifold(t, { label: 'oblique', m, shape });
      checkBatched(t, { label: 'oblique', m, shape: [5, 3, 3] });
      checkBatched(t, { label: 'oblique', m, shape: [4, 16, 2] });
    });
  });

  t.test('every column is a unit vector; expmap and dist work column by column (float64 reference)', async (t) => {
    await assertNoLeak(leakAsserter(t), 'oblique closed forms', () => {
      tf.tidy(() => {
        const [r, c] = [4, 3];
        const norms = [1e-6, 0.7, 2.9]; // one column each: guard, ordinary, near-antipodal
        const x = m.random([r, c], 3);
        const colN = tf.sqrt(tf.sum(tf.square(x), 0)).dataSync();
        t.ok(Math.max(...Array.from(colN, (v) => Math.abs(v - 1))) <= 1e-6, 'random has unit columns');
        const u0 = m.proju(x, tf.randomNormal([r, c], 0, 1, 'float32', 4));
        const u = tf.mul(u0, tf.div(tf.tensor1d(norms), tf.sqrt(tf.sum(tf.square(u0), 0))));
        const X = x.arraySync() as number[][];
        const U = u.arraySync() as number[][];
        const Y = m.expmap!(x, u).arraySync() as number[][];
        let err = 0;
        let dist2 = 0;
        for (let j = 0; j < c; j++) {
          const nu = Math.hypot(...U.map((row) => row[j]!));
          for (let i = 0; i < r; i++) {
            const want = Math.cos(nu) * X[i]![j]! + (Math.sin(nu) / nu) * U[i]![j]!;
            err = Math.max(err, Math.abs(want - Y[i]![j]!));
          }
          dist2 += nu * nu;
        }
        t.ok(err <= CLOSED_FORM_TOL, `expmap per column: |float32 − float64| = ${err.toExponential(2)}`);
        const d = m.dist!(x, m.expmap!(x, u)).dataSync()[0]!;
        t.ok(Math.abs(d - Math.sqrt(dist2)) <= 1e-5, `dist = sqrt(Σ θ_j²): ${d} vs ${Math.sqrt(dist2)}`);
      });
    });
  });

  t.test('constants', async (t) => {
    t.equal(m.diameter([3, 3]), Math.PI * Math.sqrt(3), 'diameter π√cols');
    t.equal(m.diameter([8, 16, 1]), Math.PI);
    t.equal(m.curvature([3, 3]), 1);
    t.equal(m.tag, 'Ob');
  });
});
