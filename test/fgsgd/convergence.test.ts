/**
 * Convergence on problems with known optima, checked against an independent float64 Jacobi
 * eigen-decomposition:
 * - the Rayleigh quotient xᵀAx on the unit sphere reaches the smallest eigenvalue λ₁;
 * - the Brockett cost tr(XᵀAXN), N = diag(p, …, 1), on St(n, p) reaches Σᵢ Nᵢᵢλᵢ (the largest
 *   weight on the smallest eigenvalue).
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { buildGrouping, type WeightSpec } from '../../src/fgsgd/grouping.js';
import { FGSGD, type FGSGDConfig } from '../../src/fgsgd/optimizer.js';
import { jacobiEigenvalues, randomSymmetric } from './helpers.js';

await useBackend('wasm');

/** Objective values must reach the optimum within this (float32 arithmetic, n = 8). */
const OPT_TOL = 1e-3;

function specOf(v: tf.Variable, name: string): WeightSpec[] {
  return [{ layerName: name, weightName: name, variableName: v.name, shape: [...v.shape], role: 'kernel' }];
}

/** Minimise f over a one-component manifold variable; returns the final value. */
function minimise(x: tf.Variable, manifolds: string, f: () => tf.Scalar, steps: number, config: FGSGDConfig): number {
  const [rows, cols] = x.shape as [number, number];
  const grouping = buildGrouping(specOf(x, 'x'), { manifolds, strategy: 'PI', groupSize: 1, overrides: { x: { block: { rows, cols } } } });
  // Unit manifolds: γ = 1 and ℜ = 1 (a hand-made spec has no initializer for the init policy).
  const opt = new FGSGD(grouping, { gamma: 'one', radius: 'bound:1', ...config });
  for (let i = 0; i < steps; i++) {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(f, [x]);
      opt.applyGradients(grads);
    });
  }
  opt.dispose();
  return tf.tidy(() => f().dataSync()[0]!);
}

t.test('Rayleigh quotient on the sphere reaches the smallest eigenvalue', async (t) => {
  const n = 8;
  const a = randomSymmetric(n, 3);
  const lambda = jacobiEigenvalues(a, n);
  for (const step of ['adaptive', 'fixed'] as const) {
    await assertNoLeak(t, `rayleigh ${step}`, () => {
      const A = tf.tensor2d(Float32Array.from(a), [n, n]);
      const x0 = tf.randomNormal([n, 1], 0, 1, 'float32', 7);
      const x = tf.variable(x0, true, `rayleigh_${step}`);
      x0.dispose();
      const f = () => tf.sum(tf.mul(x, tf.matMul(A, x))) as tf.Scalar;
      const value = minimise(x, 'Sp', f, step === 'adaptive' ? 700 : 200, { lr: 0.2, step });
      const norm = tf.tidy(() => tf.norm(x).dataSync()[0]!);
      t.ok(Math.abs(value - lambda[0]!) < OPT_TOL, `${step}: xᵀAx = ${value.toFixed(6)} vs λ₁ = ${lambda[0]!.toFixed(6)}`);
      t.ok(Math.abs(norm - 1) < 1e-5, `${step}: x stays on the unit sphere (‖x‖ = ${norm})`);
      x.dispose();
      A.dispose();
    });
  }
});

t.test('Brockett cost on Stiefel reaches the weighted sum of the p smallest eigenvalues', async (t) => {
  const n = 8;
  const p = 3;
  const a = randomSymmetric(n, 5);
  const lambda = jacobiEigenvalues(a, n);
  const weights = Array.from({ length: p }, (_, i) => p - i); // N = diag(3, 2, 1)
  const optimum = weights.reduce((s, w, i) => s + w * lambda[i]!, 0);
  for (const retraction of ['qr', 'polar', 'cayley'] as const) {
    await assertNoLeak(t, `brockett ${retraction}`, () => {
      const A = tf.tensor2d(Float32Array.from(a), [n, n]);
      const N = tf.tensor1d(weights);
      const x0 = tf.randomNormal([n, p], 0, 1, 'float32', 11);
      const x = tf.variable(x0, true, `brockett_${retraction}`);
      x0.dispose();
      const f = () => tf.sum(tf.mul(tf.mul(x, tf.matMul(A, x)), N)) as tf.Scalar;
      const value = minimise(x, 'St', f, 250, { lr: 0.05, step: 'fixed', stiefelRetraction: retraction, momentum: 0.5 });
      const ortho = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.matMul(x, x, true, false), tf.eye(p)))).dataSync()[0]!);
      t.ok(Math.abs(value - optimum) < OPT_TOL, `${retraction}: tr(XᵀAXN) = ${value.toFixed(6)} vs ${optimum.toFixed(6)}`);
      t.ok(ortho < 1e-4, `${retraction}: XᵀX = I (max deviation ${ortho})`);
      x.dispose();
      A.dispose();
      N.dispose();
    });
  }
});
