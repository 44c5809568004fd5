import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { sphere } from '../../src/manifolds/index.js';
import { assertNoLeak } from '../helpers/leak.js';
import { checkBatched, checkManifold, onBackends, leakAsserter } from './props.js';

const SHAPES = [[4, 3, 3], [5, 9, 1], [3, 5, 3], [2, 1, 1], [2, 3, 4, 2], [3, 3]];
/** float32 closed-form agreement with a float64 evaluation of the same formula. */
const CLOSED_FORM_TOL = 2e-6;

await onBackends(t, async (t) => {
  const m = sphere();
  t.test('properties', async (t) => {
    await assertNoLeak(leakAsserter(t), 'sphere properties', () => {
      for (const shape of SHAPES) checkManifold(t, { label: 'sphere', m, shape });
      checkBatched(t, { label: 'sphere', m, shape: [5, 3, 3] });
      checkBatched(t, { label: 'sphere', m, shape: [4, 9, 1] });
    });
  });

  t.test('expmap and dist match their closed forms evaluated in float64', async (t) => {
    await assertNoLeak(leakAsserter(t), 'sphere closed forms', () => {
      for (const [k, norm] of [1e-6, 3e-4, 0.3, 2.5, 3.1].entries()) {
        tf.tidy(() => {
          const x = m.random([3, 3], 10 + k);
          const u0 = m.proju(x, tf.randomNormal([3, 3], 0, 1, 'float32', 20 + k));
          const u = tf.mul(u0, norm / tf.norm(u0).dataSync()[0]!);
          const xs = Array.from(x.dataSync(), Number);
          const us = Array.from(u.dataSync(), Number);
          const nu = Math.hypot(...us);
          const want = xs.map((xi, i) => Math.cos(nu) * xi + (Math.sin(nu) / nu) * us[i]!);
          const got = m.expmap!(x, u).dataSync();
          const err = Math.max(...want.map((w, i) => Math.abs(w - got[i]!)));
          t.ok(err <= CLOSED_FORM_TOL, `expmap at ‖u‖ = ${norm}: |float32 − float64| = ${err.toExponential(2)}`);
          const y = m.expmap!(x, u);
          const ys = Array.from(y.dataSync(), Number);
          // Reference: the angle between the float32 points' directions, in float64, as
          // 2·asin(‖x̂ − ŷ‖/2) (arccos⟨x̂, ŷ⟩ is ill-conditioned near 0 even in float64).
          const nx = Math.hypot(...xs);
          const ny = Math.hypot(...ys);
          const chord = Math.hypot(...xs.map((xi, i) => xi / nx - ys[i]! / ny));
          const want64 = 2 * Math.asin(Math.min(1, chord / 2));
          const d = m.dist!(x, y).dataSync()[0]!;
          t.ok(Math.abs(d - want64) <= CLOSED_FORM_TOL, `dist at angle ${norm}: ${d} vs float64 ${want64}`);
          t.ok(Math.abs(d - norm) <= 1e-5, `dist(x, expmap(x, u)) = ‖u‖ = ${norm} (got ${d})`);
        });
      }
    });
  });

  t.test('constants', async (t) => {
    t.equal(m.diameter([3, 3]), Math.PI);
    t.equal(m.curvature([3, 3]), 1);
    t.equal(m.tag, 'Sp');
  });
});
