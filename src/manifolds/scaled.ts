/**
 * A manifold scaled by a radius ℜ: ℜ·M = { ℜX : X ∈ M }, for FG-SGD's renormalised weights (a
 * sphere of radius ℜ, a Stiefel manifold with XᵀX = ℜ²I, ...). One generic wrapper for every base.
 *
 * ℜ is a positive number, or a tensor of shape `[...batch, 1, 1]` (or a scalar tensor) that
 * broadcasts against the points: one radius per matrix or per group.
 *
 * Metric [choice]: the one induced by the ambient Frobenius product, as for the base manifolds, so
 * inner(X, U, V) = ⟨U, V⟩_F is unchanged, tangent spaces at X and at X/ℜ coincide, and lengths
 * scale by ℜ. This is the geometry of weights stored at scale (FGSGD.md, option (b)): the
 * Euclidean gradient of the stored weights projects to the Riemannian one, and the step stays on
 * the sphere of radius ℜ. With it:
 * - projx(X) = ℜ·projx_M(X/ℜ)
 * - proju(X, U) = proju_M(X/ℜ, U)            (= egrad2rgrad; the projection is linear in U)
 * - retr(X, U) = ℜ·retr_M(X/ℜ, U/ℜ);  expmap(X, U) = ℜ·expmap_M(X/ℜ, U/ℜ)  (geodesics scale)
 * - transp(X, Y, V) = transp_M(X/ℜ, Y/ℜ, V)
 * - inner(X, U, V) = inner_M(X/ℜ, U, V) = ⟨U, V⟩_F;  dist(X, Y) = ℜ·dist_M(X/ℜ, Y/ℜ)
 * - diameter = ℜ·diameter_M, curvature = curvature_M/ℜ²; for a tensor ℜ these are bounds over the
 *   batch (max ℜ, min ℜ), read back with one sync.
 * - pointResidual(X) = pointResidual_M(X/ℜ), tangentResidual(X, U) = tangentResidual_M(X/ℜ, U):
 *   relative, so the same tolerances hold at any radius.
 * - random(shape, seed) = ℜ·random_M(shape, seed).
 * tag and assertShape are the base's.
 *
 * Tensor ownership: the wrapper keeps a reference to a tensor ℜ but does not own it: the caller
 * keeps it alive while the wrapper is in use (a tf.Variable may be re-assigned, e.g. at each
 * renormalisation) and disposes it. Every method returns new tensors owned by the caller.
 */
import * as tf from '@tensorflow/tfjs';
import type { MatrixManifold } from './types.js';

export interface ScaledManifold extends MatrixManifold {
  readonly base: MatrixManifold;
  readonly radius: number | tf.Tensor;
}

export function scaled(base: MatrixManifold, radius: number | tf.Tensor): ScaledManifold {
  if (typeof radius === 'number') {
    if (!(radius > 0 && Number.isFinite(radius))) {
      throw new Error(`scaled(${base.name}): radius must be a positive finite number, got ${radius}.`);
    }
  } else if (radius.rank === 1) {
    throw new Error(
      `scaled(${base.name}): a radius tensor of shape [${radius.shape.join(', ')}] would broadcast against the ` +
        `columns; give it shape [...batch, 1, 1] (or a scalar).`,
    );
  }
  const r = radius;
  /** ℜ with the batch shape, for per-point scalars. */
  const rBatch = (): tf.Tensor | number =>
    typeof r === 'number' || r.rank === 0 ? r : r.reshape(r.shape.slice(0, -2));
  const down = (x: tf.Tensor) => tf.div(x, r);
  const up = (x: tf.Tensor) => tf.mul(x, r);
  const range = (): { min: number; max: number } => {
    if (typeof r === 'number') return { min: r, max: r };
    return tf.tidy(() => ({ min: tf.min(r).dataSync()[0]!, max: tf.max(r).dataSync()[0]! }));
  };
  const wrapped: ScaledManifold = {
    base,
    radius,
    name: `scaled(${base.name})`,
    tag: base.tag,
    assertShape: (shape, where) => base.assertShape(shape, where),
    projx: (x) => tf.tidy(() => up(base.projx(down(x)))),
    proju: (x, u) => tf.tidy(() => base.proju(down(x), u)),
    egrad2rgrad: (x, g) => tf.tidy(() => base.egrad2rgrad(down(x), g)),
    retr: (x, u) => tf.tidy(() => up(base.retr(down(x), down(u)))),
    transp: (x, y, v) => tf.tidy(() => base.transp(down(x), down(y), v)),
    // Every base carries the Frobenius metric (types.ts), which does not depend on the point, so
    // x is passed as it is rather than divided by ℜ for nothing.
    inner: (x, u, v) => base.inner(x, u, v),
    random: (shape, seed) => tf.tidy(() => up(base.random(shape, seed))),
    pointResidual: (x) => tf.tidy(() => base.pointResidual(down(x))),
    tangentResidual: (x, u) => tf.tidy(() => base.tangentResidual(down(x), u)),
    diameter: (shape) => range().max * base.diameter(shape),
    curvature: (shape) => {
      const c = base.curvature(shape);
      return c === 0 ? 0 : c / range().min ** 2;
    },
  };
  const { expmap, dist } = base;
  return {
    ...wrapped,
    ...(expmap && { expmap: (x: tf.Tensor, u: tf.Tensor) => tf.tidy(() => up(expmap(down(x), down(u)))) }),
    ...(dist && { dist: (x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => tf.mul(dist(down(x), down(y)), rBatch())) }),
  };
}
