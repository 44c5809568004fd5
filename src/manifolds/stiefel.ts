/**
 * The Stiefel manifold St(n, p) = { X ∈ ℝ^{n×p} : XᵀX = I_p }, n = rows ≥ p = cols, with the
 * Euclidean (embedded) metric ⟨U, V⟩ = tr(UᵀV). Tag 'St'.
 *
 * - projx: the polar factor X(XᵀX)^(−1/2) = UVᵀ of the SVD (closest point; batched Newton–Schulz),
 *   or with `projection: 'qr'` the Q of X = QR with diag(R) > 0 (batched Gram–Schmidt).
 * - proju(X, G) = G − X·sym(XᵀG), sym(A) = (A + Aᵀ)/2   (= egrad2rgrad for this metric)
 * - retr, by `retraction`:
 *   - 'qr' (default): qf(X + U), the Q factor with positive diag(R);
 *   - 'polar': (X + U)(I + UᵀU)^(−1/2), computed as the polar factor of X + U (equal for tangent
 *     U, since (X + U)ᵀ(X + U) = I + UᵀU when XᵀU is skew; and on the manifold for any U);
 *   - 'cayley' (Wen & Yin 2013): Y = (I − W/2)⁻¹(I + W/2)X with the skew W = ÛXᵀ − XÛᵀ,
 *     Û = U − X(XᵀU)/2, so that WX = U for tangent U. Solved as an n×n system when n ≤ 2p, else
 *     through Sherman–Morrison–Woodbury as a 2p×2p one: with A = [Û, X], B = [X, −Û] (W = ABᵀ),
 *     Y = X + A(I − BᵀA/2)⁻¹BᵀX. W is skew, so Y is orthonormal for any U.
 * - expmap (geodesic of the embedded metric, Edelman, Arias & Smith 1998, eq. 2.45):
 *   Y = [X, U] · exp([[A, −S], [I, A]]) · [I; 0] · exp(−A), A = skew(XᵀU) (= XᵀU for tangent U),
 *   S = UᵀU; batched scaling-and-squaring Taylor exponentials of the 2p×2p and p×p blocks.
 * - transp(X, Y, V) = proju(Y, V)
 * - dist: no closed form (the log map needs an iterative solver), so undefined.
 * - diameter π√p: an upper bound, the length of X ↦ exp(tΩ)X for the rotation Ω (angles ≤ π)
 *   that maps X to Y, since ‖ΩX‖_F ≤ ‖Ω‖₂‖X‖_F ≤ π√p. St(p, p) = O(p) has two components, and no
 *   retraction crosses between them.
 * - curvature 1: the Euclidean-metric sectional curvature lies in [−1/2, 1] (Zimmermann & Stoye
 *   2024, "High curvature means low-rank"), so |K| ≤ 1.
 * - pointResidual = ‖XᵀX − I‖_F; tangentResidual = ‖sym(XᵀU)‖_F / max(‖U‖_F, 1).
 * - random: Q of a standard normal matrix with diag(R) > 0 (Haar-distributed).
 *
 * Shapes with rows < cols throw (assertShape, and every method that takes a point).
 *
 * Tensor ownership: every method returns new tensors owned by the caller.
 */
import * as tf from '@tensorflow/tfjs';
import type { MatrixManifold } from './types.js';
import { expm, eye3, frobInner, gram, polar, qrPositive, skew, solve, sym, toBatch3 } from './linalg.js';
import { assertMatrixShape, at, ManifoldShapeError, normalSample, relativeToTangent } from './common.js';

export const STIEFEL_RETRACTIONS = ['qr', 'polar', 'cayley'] as const;
export type StiefelRetraction = (typeof STIEFEL_RETRACTIONS)[number];
export const STIEFEL_PROJECTIONS = ['polar', 'qr'] as const;
export type StiefelProjection = (typeof STIEFEL_PROJECTIONS)[number];

export interface StiefelOptions {
  /** Retraction used by `retr`: 'qr' (default), 'polar' or 'cayley'. */
  retraction?: StiefelRetraction;
  /** Map used by `projx`: 'polar' (default; the closest point) or 'qr'. */
  projection?: StiefelProjection;
}

function assertStiefelShape(shape: readonly number[], where?: string): void {
  assertMatrixShape(shape, 'stiefel', where);
  const rows = shape[shape.length - 2]!;
  const cols = shape[shape.length - 1]!;
  if (rows < cols) {
    throw new ManifoldShapeError(
      `stiefel: shape [${shape.join(', ')}]${at(where)} has rows ${rows} < cols ${cols}, but XᵀX = I needs ` +
        `rows ≥ cols. Transpose the matrices (group along the other axis), or use 'Ob' or 'Sp' for them.`,
    );
  }
}

/**
 * Cayley retraction on [B, n, p] stacks. `form` picks the n×n solve ('direct') or the 2p×2p
 * Woodbury one; 'auto' takes the smaller system. Exported for tests that compare the two forms.
 */
export function cayleyRetraction(x: tf.Tensor3D, u: tf.Tensor3D, form: 'auto' | 'direct' | 'woodbury' = 'auto'): tf.Tensor {
  return tf.tidy(() => {
    const [, n, p] = x.shape;
    const uh = tf.sub(u, tf.mul(tf.matMul(x, tf.matMul(x, u, true, false)), 0.5)); // Û
    if (form === 'direct' || (form === 'auto' && n <= 2 * p)) {
      const halfW = tf.mul(tf.sub(tf.matMul(uh, x, false, true), tf.matMul(x, uh, false, true)), 0.5);
      const id = eye3(n);
      // I − W/2 has symmetric part I (W skew): no pivoting needed.
      return solve(tf.sub(id, halfW), tf.add(x, tf.matMul(halfW, x)), { pivot: false });
    }
    const a = tf.concat([uh, x], 2); // [B, n, 2p]
    const b = tf.concat([x, tf.neg(uh)], 2); // [B, n, 2p]
    const m = tf.sub(eye3(2 * p), tf.mul(tf.matMul(b, a, true, false), 0.5));
    const z = solve(m, tf.matMul(b, x, true, false)); // [B, 2p, p]
    return tf.add(x, tf.matMul(a, z));
  });
}

/** Geodesic of the embedded metric on [B, n, p] stacks (Edelman et al. 1998, eq. 2.45). */
function geodesic(x: tf.Tensor3D, u: tf.Tensor3D): tf.Tensor {
  return tf.tidy(() => {
    const [b, , p] = x.shape;
    const a = skew(tf.matMul(x, u, true, false)); // [B, p, p]
    const s = gram(u);
    const id = tf.broadcastTo(eye3(p), [b, p, p]);
    const block = tf.concat([tf.concat([a, tf.neg(s)], 2), tf.concat([id, a], 2)], 1); // [B, 2p, 2p]
    const e = tf.slice(expm(block), [0, 0, 0], [b, 2 * p, p]);
    return tf.matMul(tf.matMul(tf.concat([x, u], 2), e), expm(tf.neg(a)));
  });
}

export function stiefel(options: StiefelOptions = {}): MatrixManifold {
  const retraction = options.retraction ?? 'qr';
  const projection = options.projection ?? 'polar';
  if (!STIEFEL_RETRACTIONS.includes(retraction)) {
    throw new Error(`stiefel: unknown retraction '${String(retraction)}'; valid: ${STIEFEL_RETRACTIONS.join(', ')}.`);
  }
  if (!STIEFEL_PROJECTIONS.includes(projection)) {
    throw new Error(`stiefel: unknown projection '${String(projection)}'; valid: ${STIEFEL_PROJECTIONS.join(', ')}.`);
  }
  const project = projection === 'polar' ? polar : qrPositive;
  const proju = (x: tf.Tensor, u: tf.Tensor) => tf.tidy(() => tf.sub(u, tf.matMul(x, sym(tf.matMul(x, u, true, false)))));
  const retr = (x: tf.Tensor, u: tf.Tensor): tf.Tensor => {
    assertStiefelShape(x.shape);
    if (retraction === 'qr') return tf.tidy(() => qrPositive(tf.add(x, u)));
    if (retraction === 'polar') return tf.tidy(() => polar(tf.add(x, u)));
    return tf.tidy(() => cayleyRetraction(toBatch3(x), toBatch3(tf.broadcastTo(u, x.shape))).reshape(x.shape));
  };
  return {
    name: retraction === 'qr' ? 'stiefel' : `stiefel(${retraction})`,
    tag: 'St',
    assertShape: assertStiefelShape,
    projx: (x) => {
      assertStiefelShape(x.shape);
      return project(x);
    },
    proju,
    egrad2rgrad: proju,
    retr,
    expmap: (x, u) => {
      assertStiefelShape(x.shape);
      return tf.tidy(() => geodesic(toBatch3(x), toBatch3(tf.broadcastTo(u, x.shape))).reshape(x.shape));
    },
    transp: (_x, y, v) => proju(y, v),
    inner: (_x, u, v) => frobInner(u, v),
    random: (shape, seed) => {
      assertStiefelShape(shape);
      return tf.tidy(() => qrPositive(normalSample(shape, seed)));
    },
    pointResidual: (x) =>
      tf.tidy(() => {
        const p = x.shape[x.rank - 1]!;
        return tf.sqrt(tf.sum(tf.square(tf.sub(gram(x), tf.eye(p))), [-2, -1]));
      }),
    tangentResidual: (x, u) =>
      tf.tidy(() => relativeToTangent(tf.sqrt(tf.sum(tf.square(sym(tf.matMul(x, u, true, false))), [-2, -1])), u)),
    diameter: (shape) => Math.PI * Math.sqrt(shape[shape.length - 1]!),
    curvature: () => 1,
  };
}
