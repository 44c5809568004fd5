import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { ManifoldShapeError, sphere, stiefel, STIEFEL_RETRACTIONS } from '../../src/manifolds/index.js';
import { cayleyRetraction } from '../../src/manifolds/stiefel.js';
import { qrPositive } from '../../src/manifolds/linalg.js';
import { assertNoLeak } from '../helpers/leak.js';
import { checkBatched, checkManifold, maxAbsDiff, onBackends, leakAsserter } from './props.js';
import { expm64, maxAbsDiff as maxAbsDiff64, mul, type M } from './f64.js';

const SHAPES = [[4, 3, 3], [5, 9, 1], [3, 5, 3], [2, 1, 1], [2, 16, 4], [2, 3, 5, 2], [6, 2]];
/** float32 results against float64 references. */
const REF_TOL = 5e-6;

await onBackends(t, async (t) => {
  for (const retraction of STIEFEL_RETRACTIONS) {
    t.test(`properties, retraction '${retraction}'`, async (t) => {
      const m = stiefel({ retraction });
      await assertNoLeak(leakAsserter(t), `stiefel(${retraction}) properties`, () => {
        for (const shape of SHAPES) checkManifold(t, { label: `stiefel(${retraction})`, m, shape });
        checkBatched(t, { label: `stiefel(${retraction})`, m, shape: [5, 3, 3] });
        checkBatched(t, { label: `stiefel(${retraction})`, m, shape: [3, 9, 2] });
      });
    });
  }

  t.test("projection 'qr' variant", async (t) => {
    const m = stiefel({ projection: 'qr' });
    await assertNoLeak(leakAsserter(t), 'stiefel qr projection', () => {
      for (const shape of [[4, 3, 3], [3, 5, 3]]) checkManifold(t, { label: 'stiefel(projx qr)', m, shape });
    });
  });

  t.test('projx (polar) is the closest point: no farther than the QR factor, and UVᵀ of a known SVD', async (t) => {
    await assertNoLeak(leakAsserter(t), 'polar closest point', () => {
      tf.tidy(() => {
        const m = stiefel();
        const g = tf.randomNormal([64, 5, 3], 0, 1, 'float32', 5);
        const dPolar = tf.sum(tf.square(tf.sub(g, m.projx(g))), [-2, -1]);
        const dQr = tf.sum(tf.square(tf.sub(g, qrPositive(g))), [-2, -1]);
        const worst = tf.max(tf.sub(dPolar, dQr)).dataSync()[0]!;
        t.ok(worst <= 1e-5, `‖G − polar(G)‖² ≤ ‖G − qf(G)‖² for all 64 matrices (worst excess ${worst.toExponential(2)})`);
        // X = U diag(s) Vᵀ with singular values spanning 3 decades: polar(X) = UVᵀ.
        const u = m.random([5, 3], 1);
        const v = m.random([3, 3], 2);
        const x = tf.matMul(tf.mul(u, tf.tensor1d([3, 0.5, 3e-3])), v, false, true);
        const err = maxAbsDiff(m.projx(x), tf.matMul(u, v, false, true));
        t.ok(err <= 1e-4, `polar(U Σ Vᵀ) = UVᵀ for σ = 3, 0.5, 3e-3 (error ${err.toExponential(2)})`);
      });
    });
  });

  t.test('rows < cols is an error naming the shape and the place, suggesting a fix', async (t) => {
    const m = stiefel();
    t.throws(() => m.assertShape([8, 2, 3], 'conv2/kernel'), ManifoldShapeError);
    t.throws(() => m.assertShape([8, 2, 3], 'conv2/kernel'), /shape \[8, 2, 3\] \(at conv2\/kernel\) has rows 2 < cols 3.*Transpose.*'Ob' or 'Sp'/);
    t.throws(() => m.random([1, 3], 1), /shape \[1, 3\] has rows 1 < cols 3/);
    const x = tf.zeros([2, 3]);
    t.throws(() => m.projx(x), /rows 2 < cols 3/);
    t.throws(() => m.retr(x, x), /rows 2 < cols 3/);
    x.dispose();
    t.throws(() => m.assertShape([3], 'dense/bias'), /not a stack of matrices/);
    t.throws(() => stiefel({ retraction: 'exp' as never }), /unknown retraction 'exp'; valid: qr, polar, cayley/);
  });

  t.test('expmap: closed forms (St(n,1) = sphere; O(n): X·exp(XᵀU)) and geodesic acceleration ⟂ tangent space', async (t) => {
    await assertNoLeak(leakAsserter(t), 'stiefel expmap', () => {
      tf.tidy(() => {
        const st = stiefel();
        const sp = sphere();
        // St(9, 1) is the unit sphere in ℝ⁹.
        const x1 = st.random([4, 9, 1], 1);
        const u1 = st.proju(x1, tf.mul(tf.randomNormal([4, 9, 1], 0, 1, 'float32', 2), 0.8));
        const e1 = maxAbsDiff(st.expmap!(x1, u1), sp.expmap!(x1, u1));
        t.ok(e1 <= 1e-5, `St(9,1) geodesic = great circle (${e1.toExponential(2)})`);
        // St(3, 3) = O(3): the geodesic of the bi-invariant metric is X·exp(XᵀU), here in float64.
        for (const [k, size] of [0.1, 1, 4].entries()) {
          const x = st.random([3, 3], 10 + k);
          const u = st.proju(x, tf.mul(tf.randomNormal([3, 3], 0, 1, 'float32', 20 + k), size));
          const X = x.arraySync() as M;
          const A = mul(X.map((_, i) => X.map((row) => row[i]!)), u.arraySync() as M); // XᵀU
          const want = mul(X, expm64(A));
          const err = maxAbsDiff64(st.expmap!(x, u).arraySync() as M, want);
          t.ok(err <= REF_TOL * Math.max(1, size), `O(3), ‖U‖ ~ ${size}: expmap = X·exp(XᵀU) (float64 error ${err.toExponential(2)})`);
        }
        // On St(5, 3), the embedded-metric geodesic has acceleration normal to the manifold at
        // every t (checked at t0 = 0.7 by a second difference); a retraction curve does not.
        const x = st.random([4, 5, 3], 3);
        const v0 = st.proju(x, tf.randomNormal([4, 5, 3], 0, 1, 'float32', 4));
        const v = tf.div(v0, tf.norm(v0, 'euclidean', [-2, -1]).reshape([4, 1, 1]));
        const [t0, h] = [0.7, 0.02];
        const tangentialShare = (f: (s: number) => tf.Tensor) => {
          const y = f(t0);
          const acc = tf.div(tf.add(tf.sub(f(t0 + h), tf.mul(y, 2)), f(t0 - h)), h * h);
          const tan = st.proju(y, acc);
          return tf.max(tf.div(tf.norm(tan, 'euclidean', [-2, -1]), tf.norm(acc, 'euclidean', [-2, -1]))).dataSync()[0]!;
        };
        const geo = tangentialShare((s) => st.expmap!(x, tf.mul(v, s)));
        const qr = tangentialShare((s) => st.retr(x, tf.mul(v, s)));
        t.ok(geo <= 1e-2, `expmap curve: tangential share of the acceleration ${geo.toExponential(2)} ≤ 1e-2`);
        t.ok(qr >= 0.1, `control: the QR retraction curve is not a geodesic (share ${qr.toExponential(2)})`);
      });
    });
  });

  t.test('Cayley: the n×n and Woodbury 2p×2p forms agree; the result is orthonormal for a non-tangent U', async (t) => {
    await assertNoLeak(leakAsserter(t), 'cayley forms', () => {
      tf.tidy(() => {
        const st = stiefel({ retraction: 'cayley' });
        for (const shape of [[3, 7, 2], [3, 4, 3], [2, 9, 1]] as [number, number, number][]) {
          const x = st.random(shape, 1) as tf.Tensor3D;
          const u = st.proju(x, tf.randomNormal(shape, 0, 1, 'float32', 2)) as tf.Tensor3D;
          const err = maxAbsDiff(cayleyRetraction(x, u, 'direct'), cayleyRetraction(x, u, 'woodbury'));
          t.ok(err <= 1e-5, `${JSON.stringify(shape)}: direct = Woodbury (${err.toExponential(2)})`);
        }
        const x = st.random([3, 6, 2], 3);
        const g = tf.randomNormal([3, 6, 2], 0, 1, 'float32', 4);
        const r = tf.max(st.pointResidual(st.retr(x, g))).dataSync()[0]!;
        t.ok(r <= 1e-5, `retr(x, non-tangent g) stays orthonormal (${r.toExponential(2)})`);
      });
    });
  });

  t.test('constants', async (t) => {
    const m = stiefel();
    t.equal(m.diameter([3, 3]), Math.PI * Math.sqrt(3));
    t.equal(m.diameter([9, 1]), Math.PI, 'St(n, 1) is the sphere');
    t.equal(m.curvature([5, 3]), 1);
    t.equal(m.tag, 'St');
  });
});
