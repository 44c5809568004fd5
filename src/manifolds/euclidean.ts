/**
 * Euclidean space ℝ^{r×c} with the Frobenius inner product: the identity geometry, used for
 * unconstrained weights. Tag 'Euc'.
 *
 * - projx(X) = X; proju(X, U) = U (= egrad2rgrad); retr(X, U) = expmap(X, U) = X + U
 * - transp(X, Y, V) = V; inner = ⟨U, V⟩_F; dist = ‖X − Y‖_F
 * - diameter Infinity, curvature 0; residuals are 0.
 * - random: standard normal entries.
 *
 * Shapes need rank ≥ 2 like every manifold here (per-matrix scalars sum over the last two axes):
 * reshape a bias of length n to [1, n].
 *
 * Tensor ownership: every method returns new tensors owned by the caller (projx, proju and
 * transp return clones, never their argument).
 */
import * as tf from '@tensorflow/tfjs';
import type { MatrixManifold } from './types.js';
import { batchShapeOf, frobInner, frobNorm } from './linalg.js';
import { assertMatrixShape, normalSample } from './common.js';

export function euclidean(): MatrixManifold {
  const add = (x: tf.Tensor, u: tf.Tensor) => tf.add(x, u);
  return {
    name: 'euclidean',
    tag: 'Euc',
    assertShape: (shape, where) => assertMatrixShape(shape, 'euclidean', where),
    projx: (x) => tf.clone(x),
    proju: (_x, u) => tf.clone(u),
    egrad2rgrad: (_x, g) => tf.clone(g),
    retr: add,
    expmap: add,
    transp: (_x, _y, v) => tf.clone(v),
    inner: (_x, u, v) => frobInner(u, v),
    dist: (x, y) => tf.tidy(() => frobNorm(tf.sub(x, y))),
    random: (shape, seed) => normalSample(shape, seed),
    pointResidual: (x) => tf.zeros(batchShapeOf(x)),
    tangentResidual: (x) => tf.zeros(batchShapeOf(x)),
    diameter: () => Infinity,
    curvature: () => 0,
  };
}
