/**
 * Batched small-matrix linear algebra for the manifolds, on stacks `[...batch, rows, cols]`.
 *
 * Every routine works on the whole stack in one tensor call per step. The only JS loops run over
 * the (small) matrix dimension or over iterations, never over the matrices of the batch. That is
 * why `tf.linalg.qr` (a JS loop over matrices) is not used here.
 *
 * - `qrPositive`: Q of the thin QR with positive diag(R), by classical Gram–Schmidt applied twice
 *   (CGS2: one re-orthogonalisation pass makes it as accurate as Householder in practice).
 * - `polar`: the orthonormal polar factor X(XᵀX)^(−1/2) by the Newton–Schulz iteration, stopped
 *   on a convergence test (a fixed number of iterations where values cannot be read synchronously).
 * - `expm`: matrix exponential by Taylor series with per-matrix scaling and squaring.
 * - `solve`: A⁻¹B by Gauss–Jordan elimination with partial pivoting.
 *
 * Tensor ownership: every function returns a new tensor owned by the caller and disposes all of its
 * intermediates; inputs are never disposed.
 */
import * as tf from '@tensorflow/tfjs';
import { readsSynchronously } from '../backend/reads.js';

/** Smallest norm treated as non-zero when normalising (float32 keeps ~1e-38; this leaves headroom). */
export const TINY = 1e-30;
/** Newton–Schulz stops after one more iteration once ‖YᵀY − I‖_F ≤ this (the error then squares). */
export const POLAR_POLISH_BELOW = 1e-4;
/** Newton–Schulz iteration cap: enough for condition numbers up to ~1e15 (each step gains ×1.5). */
export const POLAR_MAX_ITERS = 100;
/**
 * Newton–Schulz iterations where values cannot be read synchronously (WebGPU), so there is no
 * stopping test: from the scaled start the smallest singular value grows ×1.5 per iteration, then
 * converges quadratically, so 40 iterations reach float32 accuracy for κ(X)·√p up to about 1e6
 * (a Gaussian kernel's κ is in the tens to hundreds). Past convergence an iteration is a fixed point.
 */
export const POLAR_FIXED_ITERS = 40;
/** Taylor order of `expm`: after scaling ‖A‖∞ ≤ EXPM_THETA, the truncation error is < 1e-8 (0.5⁹/9!·e^0.5). */
export const EXPM_ORDER = 8;
/** Scaling target of `expm`. */
export const EXPM_THETA = 0.5;
/** Cap on `expm` squarings (2⁶⁴ covers any float32 input whose exponential is finite; stops Inf/NaN loops). */
export const EXPM_MAX_SQUARINGS = 64;
/** Subtracted from |entry| of rows already used as pivots (finite: 0·Infinity would be NaN). */
export const SOLVE_USED_ROW_PENALTY = 1e30;

/** Batch shape of a stack of matrices. */
export function batchShapeOf(x: tf.Tensor): number[] {
  return x.shape.slice(0, -2);
}

/** Reshape `[...batch, r, c]` to `[B, r, c]` (B ≥ 1); rank 2 becomes `[1, r, c]`. */
export function toBatch3(x: tf.Tensor): tf.Tensor3D {
  const [r, c] = x.shape.slice(-2) as [number, number];
  return x.reshape([-1, r, c]) as tf.Tensor3D;
}

/** Identity of size n, as `[1, n, n]` (broadcasts over a `[B, n, n]` stack). */
export function eye3(n: number): tf.Tensor3D {
  return tf.eye(n).reshape([1, n, n]) as tf.Tensor3D;
}

/** Transpose of the last two axes. */
export function mT(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return tf.transpose(x, perm);
}

/** Frobenius inner product per matrix: Σ u∘v over the last two axes (shape = batch shape). */
export function frobInner(u: tf.Tensor, v: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sum(tf.mul(u, v), [-2, -1]));
}

/** Frobenius norm per matrix (shape = batch shape). */
export function frobNorm(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x), [-2, -1])));
}

/** Frobenius norm per matrix, kept as `[...batch, 1, 1]` for broadcasting. */
export function frobNormKeep(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x), [-2, -1], true)));
}

/** Gram matrix XᵀX, batched. */
export function gram(x: tf.Tensor): tf.Tensor {
  return tf.matMul(x, x, true, false);
}

/** sym(A) = (A + Aᵀ)/2 over the last two axes. */
export function sym(a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.add(a, mT(a)), 0.5));
}

/** skew(A) = (A − Aᵀ)/2 over the last two axes. */
export function skew(a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.sub(a, mT(a)), 0.5));
}

/** Largest value of a tensor, read back to JS (one sync). */
function maxValue(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(t).dataSync()[0]!);
}

/**
 * Q of the thin QR decomposition X = QR with diag(R) > 0, for X `[...batch, n, p]`, n ≥ p.
 *
 * Classical Gram–Schmidt over the p columns, each column orthogonalised twice against the previous
 * ones (CGS2), all matrices of the batch at once. Positive diag(R) falls out: r_jj = ‖v_j‖ > 0.
 * A column that is numerically dependent on the previous ones (‖v_j‖ ≤ TINY) comes out as zero: the
 * Q of a rank-deficient matrix is not defined.
 */
export function qrPositive(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // Work on the transpose [B, p, n], so that a column of X is a contiguous row: one Unpack
    // instead of p strided slices, and the rows of Qᵀ grow by concatenation along axis 1.
    const xt = mT(toBatch3(x));
    const cols = tf.unstack(xt, 1).map((c) => c.expandDims(1)); // p × [B, 1, n]
    let qt: tf.Tensor | undefined; // [B, j, n]
    for (const col of cols) {
      let v = col;
      if (qt) {
        // Two passes of v ← v − (vQ)Qᵀ: the second removes what rounding left after the first.
        for (let pass = 0; pass < 2; pass++) v = tf.sub(v, tf.matMul(tf.matMul(v, qt, false, true), qt));
      }
      v = tf.div(v, tf.maximum(tf.sqrt(tf.sum(tf.square(v), 2, true)), TINY));
      qt = qt ? tf.concat([qt, v], 1) : v;
    }
    return mT(qt!).reshape(x.shape);
  });
}

/**
 * Orthonormal polar factor U = X(XᵀX)^(−1/2) (= UVᵀ of the SVD X = UΣVᵀ), for X `[..., n, p]`,
 * n ≥ p: the closest matrix with orthonormal columns in the Frobenius norm.
 *
 * Newton–Schulz: Y ← Y(3I − YᵀY)/2 maps every singular value σ ∈ (0, √3) towards 1 (quadratically
 * near 1, ×1.5 per step when small) and keeps the singular vectors. Y₀ = X/√‖XᵀX‖∞ puts every σ in
 * (0, 1], since ‖XᵀX‖∞ (max row sum) ≥ λmax(XᵀX) = σ²max, and is tight (≈ 1) near the manifold.
 * The iteration stops one step after max over the batch of ‖YᵀY − I‖_F ≤ POLAR_POLISH_BELOW
 * (the error then squares to float32 round-off), or after POLAR_MAX_ITERS. Each test reads one
 * scalar back (one sync per iteration). Where values cannot be read synchronously (WebGPU,
 * src/backend/reads.ts) it runs POLAR_FIXED_ITERS iterations instead, with no test.
 *
 * A rank-deficient X has no unique polar factor: its zero singular values stay zero and the result
 * is not orthonormal.
 */
export function polar(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const x3 = toBatch3(x);
    const p = x3.shape[2];
    const id = eye3(p);
    const a0 = gram(x3);
    const rowSumMax = tf.max(tf.sum(tf.abs(a0), 2, true), 1, true); // [B,1,1]
    let y: tf.Tensor = tf.div(x3, tf.sqrt(tf.maximum(rowSumMax, TINY)));
    const step = (v: tf.Tensor, a: tf.Tensor) => tf.sub(tf.mul(v, 1.5), tf.mul(tf.matMul(v, a), 0.5));
    if (!readsSynchronously()) {
      for (let it = 0; it < POLAR_FIXED_ITERS; it++) {
        const next = tf.tidy(() => step(y, gram(y)));
        tf.dispose(y);
        y = next;
      }
      return y.reshape(x.shape);
    }
    let polish = false;
    for (let it = 0; it < POLAR_MAX_ITERS; it++) {
      const next = tf.tidy(() => {
        const a = gram(y);
        if (!polish) {
          const res = maxValue(tf.sqrt(tf.sum(tf.square(tf.sub(a, id)), [1, 2])));
          if (!Number.isFinite(res)) return undefined; // NaN/Inf input: nothing to gain
          if (res <= POLAR_POLISH_BELOW) polish = true;
        }
        return step(y, a);
      });
      if (!next) break;
      tf.dispose(y);
      y = next;
      if (polish) break;
    }
    return y.reshape(x.shape);
  });
}

/**
 * Matrix exponential of a stack of square matrices `[..., m, m]`.
 *
 * Per matrix, s = max(0, ⌈log₂(‖A‖∞/EXPM_THETA)⌉); exp(A/2ˢ) by its Taylor polynomial of order
 * EXPM_ORDER (Horner with the coefficients 1/j! folded into constant scaled identities: two kernels
 * per degree), then s squarings. The batch runs max(s) squaring
 * steps in lockstep; a matrix that needs fewer keeps its value, so each matrix gets exactly its own
 * s (one shared, larger s would lose ~2^(extra s)·eps on small-norm matrices). One sync reads max(s).
 */
export function expm(a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const a3 = toBatch3(a);
    const m = a3.shape[1];
    const normInf = tf.max(tf.sum(tf.abs(a3), 2, true), 1, true); // [B,1,1]
    const s = tf.maximum(tf.ceil(tf.mul(tf.log(tf.div(tf.maximum(normInf, TINY), EXPM_THETA)), 1 / Math.LN2)), 0);
    const sMax = Math.min(maxValue(s), EXPM_MAX_SQUARINGS); // NaN input: NaN, no squaring
    const scaled = tf.mul(a3, tf.pow(0.5, s));
    // Horner on p(X) = Σ_{j≤K} c_j Xʲ, c_j = 1/j!: E ← X·E + c_j I, from E = c_K X + c_{K−1} I.
    const scaledEye = (c: number) => {
      const d = new Float32Array(m * m);
      for (let i = 0; i < m; i++) d[i * m + i] = c;
      return tf.tensor3d(d, [1, m, m]);
    };
    const coef: number[] = [1];
    for (let j = 1; j <= EXPM_ORDER; j++) coef.push(coef[j - 1]! / j);
    let e: tf.Tensor = tf.add(tf.mul(scaled, coef[EXPM_ORDER]!), scaledEye(coef[EXPM_ORDER - 1]!));
    for (let j = EXPM_ORDER - 2; j >= 0; j--) e = tf.add(tf.matMul(scaled, e), scaledEye(coef[j]!));
    for (let i = 0; i < sMax; i++) e = tf.where(tf.less(i, s), tf.matMul(e, e), e);
    return e.reshape(a.shape);
  });
}

/**
 * A⁻¹B for stacks A `[..., m, m]` and B `[..., m, k]` (same batch shape), by Gauss–Jordan
 * elimination on the augmented matrix [A | B].
 *
 * With `pivot: true` (default), partial pivoting without moving rows: the pivot of column c is the
 * largest |entry| among rows not yet used (one-hot row selector e_c per matrix, from argMax); the
 * pivot row, read by one batched matMul, eliminates column c from every other row. Row p_c then
 * holds x_c, and X = Eᵀ·[rhs] with E = [e_0 … e_{m−1}] undoes the permutation.
 * `pivot: false` skips the search: safe when A + Aᵀ is positive definite (e.g. I − W/2 with W
 * skew), and about half the kernels.
 * A singular A gives non-finite values.
 */
export function solve(a: tf.Tensor, b: tf.Tensor, options: { pivot?: boolean } = {}): tf.Tensor {
  const pivoting = options.pivot ?? true;
  return tf.tidy(() => {
    const a3 = toBatch3(a);
    const b3 = toBatch3(b);
    const [batch, m] = a3.shape;
    const k = b3.shape[2];
    let aug: tf.Tensor = tf.concat([a3, b3], 2); // [B, m, m+k]
    const rowIdx = tf.range(0, m, 1, 'int32').reshape([1, m, 1]);
    /** Per-row penalty that keeps used rows from being chosen again. */
    let used: tf.Tensor = tf.zeros([batch, m, 1]);
    const selectors: tf.Tensor[] = [];
    for (let c = 0; c < m; c++) {
      const col = tf.slice(aug, [0, 0, c], [batch, m, 1]);
      let e: tf.Tensor; // [B|1, m, 1] one-hot pivot row
      if (pivoting) {
        const score = tf.sub(tf.abs(col), used);
        const piv = tf.reshape(tf.argMax(score, 1), [batch, 1, 1]);
        e = tf.cast(tf.equal(rowIdx, piv), 'float32');
        used = tf.add(used, tf.mul(e, SOLVE_USED_ROW_PENALTY));
        selectors.push(e);
      } else {
        e = tf.cast(tf.equal(rowIdx, c), 'float32');
      }
      const row = pivoting ? tf.matMul(e, aug, true, false) : tf.slice(aug, [0, c, 0], [batch, 1, m + k]);
      const rowN = tf.div(row, tf.slice(row, [0, 0, c], [batch, 1, 1]));
      // Row p becomes row/pivot; every other row i loses aug[i,c]·row/pivot.
      aug = tf.sub(aug, tf.mul(tf.sub(col, e), rowN));
    }
    let x = tf.slice(aug, [0, 0, m], [batch, m, k]);
    if (pivoting) x = tf.matMul(tf.concat(selectors, 2), x, true, false);
    return x.reshape(b.shape);
  });
}
