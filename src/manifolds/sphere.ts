/**
 * The unit sphere of matrices: { X ∈ ℝ^{r×c} : ‖X‖_F = 1 }, the Frobenius norm taken over the last
 * two axes, with the metric induced by ⟨U, V⟩_F. Tag 'Sp'.
 *
 * - projx(X) = X/‖X‖_F
 * - proju(X, U) = U − ⟨X, U⟩X            (= egrad2rgrad)
 * - retr(X, U) = (X + U)/‖X + U‖_F
 * - expmap(X, U) = cos(‖U‖)X + sin(‖U‖)U/‖U‖   (sin t/t from its series below SINC_TAYLOR_BELOW)
 * - transp(X, Y, V) = proju(Y, V)
 * - dist(X, Y) = arccos⟨X, Y⟩, computed as 2·atan2(‖X − Y‖, ‖X + Y‖) (same value, float32-accurate)
 * - diameter π, sectional curvature 1 (for every shape).
 * - pointResidual = |‖X‖²_F − 1|; tangentResidual = |⟨X, U⟩| / max(‖U‖_F, 1).
 * - random: X = N/‖N‖ with N standard normal (uniform on the sphere).
 *
 * Tensor ownership: every method returns new tensors owned by the caller.
 */
import * as tf from '@tensorflow/tfjs';
import type { MatrixManifold } from './types.js';
import { frobInner, frobNormKeep, TINY } from './linalg.js';
import { assertMatrixShape, normalSample, relativeToTangent, sinc, unitAngle } from './common.js';

export function sphere(): MatrixManifold {
  const projx = (x: tf.Tensor) => tf.tidy(() => tf.div(x, tf.maximum(frobNormKeep(x), TINY)));
  const proju = (x: tf.Tensor, u: tf.Tensor) =>
    tf.tidy(() => tf.sub(u, tf.mul(tf.sum(tf.mul(x, u), [-2, -1], true), x)));
  return {
    name: 'sphere',
    tag: 'Sp',
    assertShape: (shape, where) => assertMatrixShape(shape, 'sphere', where),
    projx,
    proju,
    egrad2rgrad: proju,
    retr: (x, u) => tf.tidy(() => projx(tf.add(x, u))),
    expmap: (x, u) =>
      tf.tidy(() => {
        const t = frobNormKeep(u);
        return tf.add(tf.mul(tf.cos(t), x), tf.mul(sinc(t), u));
      }),
    transp: (_x, y, v) => proju(y, v),
    inner: (_x, u, v) => frobInner(u, v),
    dist: (x, y) => unitAngle(x, y, [-2, -1]),
    random: (shape, seed) => tf.tidy(() => projx(normalSample(shape, seed))),
    pointResidual: (x) => tf.tidy(() => tf.abs(tf.sub(tf.sum(tf.square(x), [-2, -1]), 1))),
    tangentResidual: (x, u) => tf.tidy(() => relativeToTangent(tf.abs(frobInner(x, u)), u)),
    diameter: () => Math.PI,
    curvature: () => 1,
  };
}
