/**
 * Operations derived from the `Manifold` interface, in one place so that every manifold (and the
 * optimizer) shares them.
 *
 * Tensor ownership: every function returns new tensors owned by the caller.
 */
import * as tf from '@tensorflow/tfjs';
import type { Manifold, Point } from './types.js';

/** Riemannian norm of u at x, per point: sqrt(inner(x, u, u)). */
export function norm<P extends Point>(m: Manifold<P>, x: P, u: P): tf.Tensor {
  return tf.tidy(() => tf.sqrt(m.inner(x, u, u)));
}

/** Retraction plus vector transport (geoopt's `retr_transp`): y = retr(x, u) and v carried to y. */
export function retrTransp<P extends Point>(m: Manifold<P>, x: P, u: P, v: P): [P, P] {
  const y = m.retr(x, u);
  return [y, m.transp(x, y, v)];
}

/** Exponential map plus vector transport; falls back to the retraction where expmap is undefined. */
export function expmapTransp<P extends Point>(m: Manifold<P>, x: P, u: P, v: P): [P, P] {
  const y = m.expmap ? m.expmap(x, u) : m.retr(x, u);
  return [y, m.transp(x, y, v)];
}
