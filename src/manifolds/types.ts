import type * as tf from '@tensorflow/tfjs';

/**
 * A Riemannian manifold of matrices, with geoopt's method names.
 *
 * Shape convention: the last two axes hold the matrix (rows × cols); leading axes are a batch of
 * independent points. Every method works on the whole batch in one tensor call; none loops over
 * matrices in JS. Per-matrix scalars (`inner`, `dist`, residuals) have the batch shape.
 *
 * Tensor ownership: every method returns new tensors that the caller owns; inputs are not
 * disposed.
 */
export interface Manifold {
  /** 'sphere', 'oblique', 'stiefel', 'euclidean', or a product's name. */
  readonly name: string;
  /** Short tag used in configs: 'Sp', 'Ob', 'St', 'Euc'. */
  readonly tag: string;
  /** Throws a clear error if a [..., rows, cols] shape cannot lie on this manifold. */
  assertShape(shape: readonly number[], where?: string): void;
  projx(x: tf.Tensor): tf.Tensor;
  proju(x: tf.Tensor, u: tf.Tensor): tf.Tensor;
  egrad2rgrad(x: tf.Tensor, egrad: tf.Tensor): tf.Tensor;
  retr(x: tf.Tensor, u: tf.Tensor): tf.Tensor;
  /** Exponential map where a closed form exists; otherwise undefined. */
  expmap?(x: tf.Tensor, u: tf.Tensor): tf.Tensor;
  /** Vector transport of v (tangent at x) to the tangent space at y. */
  transp(x: tf.Tensor, y: tf.Tensor, v: tf.Tensor): tf.Tensor;
  /** Riemannian inner product per matrix: shape = batch shape. */
  inner(x: tf.Tensor, u: tf.Tensor, v: tf.Tensor): tf.Tensor;
  /** Geodesic distance per matrix, where a closed form exists. */
  dist?(x: tf.Tensor, y: tf.Tensor): tf.Tensor;
  /** A random point, reproducible from the seed. */
  random(shape: readonly number[], seed: number): tf.Tensor;
  /** Constraint residual of a point, per matrix (0 on the manifold). */
  pointResidual(x: tf.Tensor): tf.Tensor;
  /** Tangency residual of u at x, per matrix (0 when tangent). */
  tangentResidual(x: tf.Tensor, u: tf.Tensor): tf.Tensor;
  /**
   * Geometry constants for FG-SGD's adaptive step, at unit radius: ρ bounds the distance to a
   * minimiser (the diameter; Infinity where unbounded) and c bounds the sectional curvature.
   */
  readonly diameter: number;
  readonly curvature: number;
}
