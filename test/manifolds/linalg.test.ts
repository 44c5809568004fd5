import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { expm, mT, polar, qrPositive, solve } from '../../src/manifolds/linalg.js';
import { assertNoLeak } from '../helpers/leak.js';
import { onBackends, leakAsserter } from './props.js';
import { expm64, maxAbsDiff, type M } from './f64.js';

const maxOf = (x: tf.Tensor) => tf.tidy(() => tf.max(x).dataSync()[0]!);

await onBackends(t, async (t) => {
  t.test('qrPositive: Q orthonormal, R = QᵀX upper triangular with a positive diagonal, = tf.linalg.qr up to signs', async (t) => {
    await assertNoLeak(leakAsserter(t), 'qr', () => {
      tf.tidy(() => {
        for (const shape of [[6, 3, 3], [4, 9, 1], [3, 16, 8], [2, 2, 5, 3], [1, 1]]) {
          const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
          const q = qrPositive(x);
          const p = shape[shape.length - 1]!;
          const orth = maxOf(tf.abs(tf.sub(tf.matMul(q, q, true, false), tf.eye(p))));
          const r = tf.matMul(q, x, true, false);
          const lower = maxOf(tf.abs(tf.mul(r, tf.sub(1, tf.linalg.bandPart(tf.ones([p, p]), 0, -1)))));
          const minDiag = tf.tidy(() => tf.min(tf.mul(r, tf.eye(p)).sum(-1)).dataSync()[0]!);
          const recon = maxOf(tf.abs(tf.sub(tf.matMul(q, r), x)));
          t.ok(orth <= 1e-6 && lower <= 1e-5 && minDiag > 0 && recon <= 1e-5, `${JSON.stringify(shape)}: QᵀQ=I (${orth.toExponential(1)}), R triangular (${lower.toExponential(1)}), diag>0, QR=X`);
        }
        // Against tf.linalg.qr (Householder) on one matrix, after flipping signs to diag(R) > 0.
        const x = tf.randomNormal([5, 3], 0, 1, 'float32', 2);
        const [q0, r0] = tf.linalg.qr(x);
        const signs = tf.sign(tf.sum(tf.mul(r0!, tf.eye(3)), -1));
        const err = maxOf(tf.abs(tf.sub(tf.mul(q0!, signs), qrPositive(x))));
        t.ok(err <= 1e-5, `matches tf.linalg.qr with signs fixed (${err.toExponential(2)})`);
      });
    });
  });

  t.test('expm: float64 reference, per-matrix scaling in one batch, orthogonal for skew input', async (t) => {
    await assertNoLeak(leakAsserter(t), 'expm', () => {
      tf.tidy(() => {
        const sizes = [0, 1e-3, 0.3, 2, 9];
        const a = tf.mul(tf.randomNormal([sizes.length, 4, 4], 0, 1, 'float32', 3), tf.tensor1d(sizes).reshape([-1, 1, 1]));
        const got = expm(a).arraySync() as M[];
        const as = a.arraySync() as M[];
        sizes.forEach((s, i) => {
          const want = expm64(as[i]!);
          const scale = Math.max(1, ...want.flat().map(Math.abs));
          const err = maxAbsDiff(got[i]!, want) / scale;
          t.ok(err <= 2e-6 * Math.max(1, s), `‖A‖ ~ ${s}: relative error ${err.toExponential(2)}`);
        });
        const w = tf.randomNormal([8, 6, 6], 0, 2, 'float32', 4);
        const k = tf.sub(w, mT(w));
        const e = expm(k);
        const orth = maxOf(tf.abs(tf.sub(tf.matMul(e, e, true, false), tf.eye(6))));
        t.ok(orth <= 2e-5, `exp(skew) is orthogonal (${orth.toExponential(2)})`);
      });
    });
  });

  t.test('solve: partial pivoting handles zero leading pivots; residual small on random systems', async (t) => {
    await assertNoLeak(leakAsserter(t), 'solve', () => {
      tf.tidy(() => {
        const a = tf.tensor3d([[[0, 1], [1, 0]], [[0, 2], [3, 1]]]);
        const b = tf.tensor3d([[[2], [5]], [[4], [7]]]);
        const got = Array.from(solve(a, b).dataSync());
        const want = [5, 2, 5 / 3, 2];
        t.ok(got.every((v, i) => Math.abs(v - want[i]!) <= 1e-6), `zero pivots: [${got.join(', ')}] = [5, 2, 5/3, 2]`);
        const m = tf.randomNormal([16, 6, 6], 0, 1, 'float32', 5);
        const rhs = tf.randomNormal([16, 6, 3], 0, 1, 'float32', 6);
        const x = solve(m, rhs);
        const res = maxOf(tf.abs(tf.sub(tf.matMul(m, x), rhs)));
        t.ok(res <= 1e-4, `random 6×6 systems: ‖AX − B‖max = ${res.toExponential(2)}`);
        t.same(solve(tf.fill([3, 1, 1], 2), tf.ones([3, 1, 2])).shape, [3, 1, 2], '1×1 systems');
      });
    });
  });

  t.test('polar: converges for ill-conditioned matrices; already-orthonormal input is unchanged', async (t) => {
    await assertNoLeak(leakAsserter(t), 'polar', () => {
      tf.tidy(() => {
        const x = tf.randomNormal([512, 3, 3], 0, 1, 'float32', 7); // includes badly conditioned ones
        const p = polar(x);
        const res = maxOf(tf.norm(tf.sub(tf.matMul(p, p, true, false), tf.eye(3)), 'euclidean', [-2, -1]));
        t.ok(res <= 1e-5, `512 Gaussian 3×3: max ‖PᵀP − I‖ = ${res.toExponential(2)}`);
        const q = qrPositive(tf.randomNormal([8, 7, 4], 0, 1, 'float32', 8));
        const same = maxOf(tf.abs(tf.sub(polar(q), q)));
        t.ok(same <= 1e-6, `polar(Q) = Q (${same.toExponential(2)})`);
        // Degenerate inputs end (no endless loop) and do not invent finite values from NaN.
        t.ok(Array.from(polar(tf.fill([2, 3, 2], NaN)).dataSync()).every(Number.isNaN), 'polar(NaN) is NaN');
        t.same(Array.from(polar(tf.zeros([1, 3, 2])).dataSync()), [0, 0, 0, 0, 0, 0], 'polar(0) = 0 (no unique factor)');
        t.same(Array.from(qrPositive(tf.zeros([1, 2, 1])).dataSync()), [0, 0], 'qf(0) = 0');
        t.ok(Array.from(expm(tf.fill([1, 2, 2], Infinity)).dataSync()).every((v) => !Number.isFinite(v)), 'expm(Inf) ends, non-finite');
      });
    });
  });
});
