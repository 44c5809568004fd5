import type * as tf from '@tensorflow/tfjs';

/**
 * How a point or a tangent vector is held: one tensor `[...batch, rows, cols]` for a single
 * manifold, or a list of such tensors (one per component) for a `product`.
 */
export type Point = tf.Tensor | readonly tf.Tensor[];

/** The shape argument that goes with a representation: one shape, or one shape per component. */
export type ShapeOf<P extends Point> = P extends tf.Tensor ? readonly number[] : readonly (readonly number[])[];

/**
 * A Riemannian manifold of matrices, with geoopt's method names.
 *
 * Shape convention: the last two axes hold the matrix (rows × cols); leading axes are a batch of
 * independent points. Every method works on the whole batch in one tensor call; none loops over
 * matrices in JS. Per-matrix scalars (`inner`, `dist`, residuals) have the batch shape.
 *
 * Metric: all four base manifolds (and so their products and scaled versions) carry the metric
 * induced by the ambient Frobenius inner product, so `inner` is ⟨u, v⟩_F and `egrad2rgrad` is
 * `proju`.
 *
 * Tensor ownership: every method returns new tensors that the caller owns; inputs are not
 * disposed.
 */
export interface Manifold<P extends Point = tf.Tensor> {
  /** 'sphere', 'oblique', 'stiefel', 'euclidean', or a product's / scaled wrapper's name. */
  readonly name: string;
  /** Short tag used in configs: 'Sp', 'Ob', 'St', 'Euc' (a product joins its components' tags with '×'). */
  readonly tag: string;
  /** Throws a clear error if a [..., rows, cols] shape cannot lie on this manifold. */
  assertShape(shape: ShapeOf<P>, where?: string): void;
  /** Closest point (or a retraction-style normalisation) on the manifold. */
  projx(x: P): P;
  /** Orthogonal projection of an ambient u onto the tangent space at x. */
  proju(x: P, u: P): P;
  /** Riemannian gradient from the Euclidean gradient (here: `proju`). */
  egrad2rgrad(x: P, egrad: P): P;
  /** Retraction: a point near x + u on the manifold, with retr(x, 0) = x and d/dt retr(x, tu)|₀ = u. */
  retr(x: P, u: P): P;
  /** Exponential map where a closed form exists; otherwise undefined. */
  expmap?(x: P, u: P): P;
  /** Vector transport of v (tangent at x) to the tangent space at y. */
  transp(x: P, y: P, v: P): P;
  /** Riemannian inner product per point: shape = batch shape. */
  inner(x: P, u: P, v: P): tf.Tensor;
  /** Geodesic distance per point, where a closed form exists. */
  dist?(x: P, y: P): tf.Tensor;
  /** A random point, reproducible from the seed (uniform/Haar for Sp, Ob, St; N(0,1) for Euc). */
  random(shape: ShapeOf<P>, seed: number): P;
  /** Constraint residual of a point, per point (0 on the manifold); dimensionless. */
  pointResidual(x: P): tf.Tensor;
  /** Tangency residual of u at x, per point (0 when tangent), relative to max(‖u‖_F, 1). */
  tangentResidual(x: P, u: P): tf.Tensor;
  /**
   * Geometry constants for FG-SGD's adaptive step, for one point of the given shape (leading batch
   * axes ignored): ρ, an upper bound on the distance between two points (the diameter; Infinity
   * where unbounded), and c, an upper bound on |sectional curvature|. Both depend on the matrix
   * shape (e.g. π√cols for the oblique manifold) and on the radius of a `scaled` manifold.
   */
  diameter(shape: ShapeOf<P>): number;
  curvature(shape: ShapeOf<P>): number;
}

/** A manifold on single tensors (everything except a product). */
export type MatrixManifold = Manifold<tf.Tensor>;
