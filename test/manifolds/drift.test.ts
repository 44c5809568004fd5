/**
 * float32 drift: 10,000 steps of retr (or expmap) with random tangent steps stay on the manifold
 * when the point is re-projected every STABILIZE_EVERY steps (geoopt's `stabilize`). The residual is
 * read just before each re-projection, where the accumulated drift is largest.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { oblique, sphere, stiefel, scaled, type MatrixManifold } from '../../src/manifolds/index.js';
import { assertNoLeak } from '../helpers/leak.js';
import { useBackend } from '../helpers/backend.js';
import { TEST_BACKENDS, leakAsserter } from './props.js';

const STEPS = 10_000;
/**
 * For small matrices the time per step is tfjs's per-kernel overhead (~10–30 µs on the cpu
 * backend), not arithmetic: 10 kernels per sphere step, ~40 for QR, ~60 for polar, ~80 for Cayley,
 * ~100 for the Stiefel exponential. The default retractions (sphere, Stiefel QR) run the full
 * 10,000 steps; the others run 30 re-projection cycles instead of 100, to keep the file near 30 s
 * on 2 shared cores. A cycle's drift does not depend on how many cycles came before, since each
 * starts from a re-projected point.
 */
const STEPS_OTHERS = 3_000;
const STABILIZE_EVERY = 100;
/** Largest residual tolerated after STABILIZE_EVERY float32 steps. */
const DRIFT_TOL = 1e-4;
/** Step length factor on a standard normal ambient direction (‖u‖ ≈ 0.3·√(rows·cols)). */
const STEP = 0.3;

const cases: [string, MatrixManifold, number[], 'retr' | 'expmap', number][] = [
  ['sphere retr', sphere(), [4, 3, 3], 'retr', STEPS],
  ['scaled(sphere, 3) expmap', scaled(sphere(), 3), [4, 3, 3], 'expmap', STEPS_OTHERS],
  ['oblique expmap', oblique(), [4, 3, 3], 'expmap', STEPS_OTHERS],
  ['stiefel qr', stiefel({ retraction: 'qr' }), [4, 5, 3], 'retr', STEPS],
  ['stiefel polar', stiefel({ retraction: 'polar' }), [4, 5, 3], 'retr', STEPS_OTHERS],
  ['stiefel cayley', stiefel({ retraction: 'cayley' }), [4, 5, 3], 'retr', STEPS_OTHERS],
  ['stiefel expmap', stiefel(), [4, 5, 3], 'expmap', STEPS_OTHERS],
];

// One backend is enough here (the property suites cover both); the first one listed.
await useBackend(TEST_BACKENDS[0]);

for (const [label, m, shape, how, steps] of cases) {
  t.test(`${label}: ${steps} steps, re-projected every ${STABILIZE_EVERY}`, async (t) => {
    const start = performance.now();
    await assertNoLeak(leakAsserter(t), label, () => {
      let x = m.random(shape, 1);
      let worst = 0;
      for (let chunk = 0; chunk < steps / STABILIZE_EVERY; chunk++) {
        const gs = tf.tidy(() => tf.unstack(tf.mul(tf.randomNormal([STABILIZE_EVERY, ...shape], 0, 1, 'float32', 100 + chunk), STEP)));
        for (const g of gs) {
          const next = tf.tidy(() => {
            const u = m.proju(x, g);
            return how === 'expmap' ? m.expmap!(x, u) : m.retr(x, u);
          });
          x.dispose();
          g.dispose();
          x = next;
        }
        worst = Math.max(worst, tf.tidy(() => tf.max(m.pointResidual(x)).dataSync()[0]!));
        const y = m.projx(x);
        x.dispose();
        x = y;
      }
      x.dispose();
      t.ok(worst <= DRIFT_TOL, `worst residual before re-projection: ${worst.toExponential(2)} ≤ ${DRIFT_TOL}`);
    });
    t.comment(`${label}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  });
}
