/**
 * float32 drift: 10,000 steps of retr (or expmap) with random tangent steps stay on the manifold
 * when the point is re-projected every STABILIZE_EVERY steps (geoopt's `stabilize`), for every
 * manifold and retraction. The residual is read just before each re-projection, where the
 * accumulated drift is largest.
 *
 * Cost: for small matrices the time per step is tfjs's per-kernel overhead, not arithmetic:
 * ~10 kernels per sphere/oblique retr step, ~20 for their expmap, ~45 for Stiefel QR, ~70 for
 * polar (Newton–Schulz, a read-back per iteration), ~85 for Cayley, ~105 for the Stiefel
 * exponential. 9 × 10,000 steps are ~3.5M kernel calls, so the harness adds as little as it can:
 * - one matrix per case (`[1, r, c]`): the cpu backend's broadcasting binary ops (I − W/2, the
 *   pivot rows of `solve`, ...) cost per element, and a batch of 4 made the Stiefel cases ~1.7×
 *   slower; the drift of a matrix does not depend on the others of its batch (the property suites
 *   cover batching);
 * - the random ambient directions of a cycle in one kernel (`randomNormal` with the step's scale,
 *   then unstacked), one `tf.tidy` per step, one read-back per cycle.
 * About 25 s of CPU in all on one core; each case reports its time as a comment.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { oblique, sphere, stiefel, scaled, type MatrixManifold } from '../../src/manifolds/index.js';
import { assertNoLeak } from '../helpers/leak.js';
import { useBackend } from '../helpers/backend.js';
import { TEST_BACKENDS } from './props.js';

const STEPS = 10_000;
const STABILIZE_EVERY = 100;
/** Largest residual tolerated after STABILIZE_EVERY float32 steps. */
const DRIFT_TOL = 1e-4;
/** Step length factor on a standard normal ambient direction (‖u‖ ≈ 0.3·√(rows·cols)). */
const STEP = 0.3;

const SQUARE = [1, 3, 3];
const TALL = [1, 5, 3];
const cases: [string, MatrixManifold, number[], 'retr' | 'expmap'][] = [
  ['sphere retr', sphere(), SQUARE, 'retr'],
  ['sphere expmap', sphere(), SQUARE, 'expmap'],
  ['scaled(sphere, 3) expmap', scaled(sphere(), 3), SQUARE, 'expmap'],
  ['oblique retr', oblique(), SQUARE, 'retr'],
  ['oblique expmap', oblique(), SQUARE, 'expmap'],
  ['stiefel qr', stiefel({ retraction: 'qr' }), TALL, 'retr'],
  ['stiefel polar', stiefel({ retraction: 'polar' }), TALL, 'retr'],
  ['stiefel cayley', stiefel({ retraction: 'cayley' }), TALL, 'retr'],
  ['stiefel expmap', stiefel(), TALL, 'expmap'],
];

// One backend is enough here (the property suites cover both); the first one listed.
await useBackend(TEST_BACKENDS[0]);

for (const [label, m, shape, how] of cases) {
  t.test(`${label}: ${STEPS} steps, re-projected every ${STABILIZE_EVERY}`, async (t) => {
    const start = performance.now();
    const step = how === 'expmap' ? m.expmap! : m.retr;
    await assertNoLeak(t, label, () => {
      let x = m.random(shape, 1);
      let worst = 0;
      for (let cycle = 0; cycle < STEPS / STABILIZE_EVERY; cycle++) {
        const gs = tf.tidy(() => tf.unstack(tf.randomNormal([STABILIZE_EVERY, ...shape], 0, STEP, 'float32', 100 + cycle)));
        for (const g of gs) {
          const next = tf.tidy(() => step(x, m.proju(x, g)));
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
