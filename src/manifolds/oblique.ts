/**
 * The oblique manifold: { X ∈ ℝ^{r×c} : every column of X has unit Euclidean norm }, the product
 * of c unit spheres in ℝ^r, with the metric induced by ⟨U, V⟩_F. Tag 'Ob'.
 *
 * Column by column (x_j, u_j the j-th columns; norms over the row axis):
 * - projx: x_j/‖x_j‖
 * - proju: u_j − ⟨x_j, u_j⟩x_j           (= egrad2rgrad)
 * - retr: (x_j + u_j)/‖x_j + u_j‖
 * - expmap: cos(‖u_j‖)x_j + sin(‖u_j‖)u_j/‖u_j‖   (sin t/t from its series near 0)
 * - transp(X, Y, V) = proju(Y, V)
 * - dist(X, Y) = sqrt(Σ_j arccos²⟨x_j, y_j⟩), each angle as 2·atan2(‖x_j − y_j‖, ‖x_j + y_j‖)
 * - diameter π√c (c spheres of diameter π), sectional curvature in [0, 1].
 * - pointResidual = ‖(‖x_j‖² − 1)_j‖₂; tangentResidual = ‖(⟨x_j, u_j⟩)_j‖₂ / max(‖U‖_F, 1).
 * - random: each column of a standard normal matrix normalised (uniform on each sphere).
 *
 * A 1-row matrix is a product of 0-spheres {±1}: its tangent space is {0}.
 *
 * Tensor ownership: every method returns new tensors owned by the caller.
 */
import * as tf from '@tensorflow/tfjs';
import type { MatrixManifold } from './types.js';
import { frobInner, TINY } from './linalg.js';
import { assertMatrixShape, normalSample, relativeToTangent, sinc, unitAngle } from './common.js';

/** Column norms, `[..., 1, c]`. */
function colNorms(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x), -2, true)));
}

export function oblique(): MatrixManifold {
  const projx = (x: tf.Tensor) => tf.tidy(() => tf.div(x, tf.maximum(colNorms(x), TINY)));
  const proju = (x: tf.Tensor, u: tf.Tensor) =>
    tf.tidy(() => tf.sub(u, tf.mul(tf.sum(tf.mul(x, u), -2, true), x)));
  return {
    name: 'oblique',
    tag: 'Ob',
    assertShape: (shape, where) => assertMatrixShape(shape, 'oblique', where),
    projx,
    proju,
    egrad2rgrad: proju,
    retr: (x, u) => tf.tidy(() => projx(tf.add(x, u))),
    expmap: (x, u) =>
      tf.tidy(() => {
        const t = colNorms(u);
        return tf.add(tf.mul(tf.cos(t), x), tf.mul(sinc(t), u));
      }),
    transp: (_x, y, v) => proju(y, v),
    inner: (_x, u, v) => frobInner(u, v),
    dist: (x, y) => tf.tidy(() => tf.sqrt(tf.sum(tf.square(unitAngle(x, y, -2)), -1))),
    random: (shape, seed) => tf.tidy(() => projx(normalSample(shape, seed))),
    pointResidual: (x) =>
      tf.tidy(() => tf.sqrt(tf.sum(tf.square(tf.sub(tf.sum(tf.square(x), -2), 1)), -1))),
    tangentResidual: (x, u) =>
      tf.tidy(() => relativeToTangent(tf.sqrt(tf.sum(tf.square(tf.sum(tf.mul(x, u), -2)), -1)), u)),
    diameter: (shape) => Math.PI * Math.sqrt(shape[shape.length - 1]!),
    curvature: () => 1,
  };
}
