/**
 * Test helpers for FG-SGD: an independent float64 eigen-solver (cyclic Jacobi) for the
 * known-optimum problems, a seeded symmetric matrix, and small data for the conv-net tests.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/random.js';
import { buildGrouping, type Grouping, type GroupingConfig } from '../../src/fgsgd/grouping.js';
import { FGSGD, type FGSGDConfig } from '../../src/fgsgd/optimizer.js';
import { Renormalizer, type RenormalizerConfig } from '../../src/fgsgd/renormalize.js';

/** Off-diagonal Frobenius norm below which Jacobi stops (relative to the matrix norm). */
const JACOBI_TOL = 1e-14;
const JACOBI_MAX_SWEEPS = 100;

/**
 * Eigenvalues of a symmetric matrix (row-major n×n, float64), ascending, by the cyclic Jacobi
 * method: plane rotations zero each off-diagonal entry in turn until the off-diagonal mass is
 * negligible. Independent of tfjs.
 */
export function jacobiEigenvalues(a: ArrayLike<number>, n: number): number[] {
  const m = Float64Array.from(a);
  const at = (i: number, j: number) => m[i * n + j]!;
  const set = (i: number, j: number, v: number) => (m[i * n + j] = v);
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += m[i]! ** 2;
  for (let sweep = 0; sweep < JACOBI_MAX_SWEEPS; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off += at(i, j) ** 2;
    if (off <= JACOBI_TOL ** 2 * norm) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = at(p, q);
        if (apq === 0) continue;
        const theta = (at(q, q) - at(p, p)) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = at(k, p);
          const akq = at(k, q);
          set(k, p, c * akp - s * akq);
          set(k, q, s * akp + c * akq);
        }
        for (let k = 0; k < n; k++) {
          const apk = at(p, k);
          const aqk = at(q, k);
          set(p, k, c * apk - s * aqk);
          set(q, k, s * apk + c * aqk);
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => at(i, i)).sort((x, y) => x - y);
}

/** A seeded symmetric n×n matrix (row-major float64): (B + Bᵀ)/2 with B uniform in [−1, 1]. */
export function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = Rng.create(seed, 'test/symmetric');
  const b = Array.from({ length: n * n }, () => 2 * rng.float() - 1);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = (b[i * n + j]! + b[j * n + i]!) / 2;
  return a;
}

/**
 * A tiny, learnable classification set: `n` images of `shape`, class = which quadrant holds a
 * bright blob (4 classes), plus noise; seeded. The caller owns the returned tensors.
 */
export function blobData(n: number, shape: [number, number, number], seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const [h, w, c] = shape;
  const rng = Rng.create(seed, 'test/blobs');
  const data = new Float32Array(n * h * w * c);
  const labels = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    const cls = rng.int(0, 3);
    labels[s] = cls;
    const cy = (cls < 2 ? 0.25 : 0.75) * h;
    const cx = (cls % 2 === 0 ? 0.25 : 0.75) * w;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const blob = Math.exp(-((i + 0.5 - cy) ** 2 + (j + 0.5 - cx) ** 2) / (0.05 * h * w));
        for (let k = 0; k < c; k++) data[((s * h + i) * w + j) * c + k] = blob + 0.2 * (rng.float() - 0.5);
      }
    }
  }
  return { x: tf.tensor4d(data, [n, h, w, c]), y: tf.tensor1d(labels, 'int32') };
}

/**
 * The FG-SGD parts wired by hand, for tests that look inside them: group `model`'s kernels, build
 * the optimizer and the renormalizer, and apply stage (i) (with λ from `firstBatch` when given).
 * Training code uses `TrainOptimizer`, which does the same. The caller disposes `optimizer` and
 * `renormalizer`.
 */
export async function fgsgdParts(
  model: tf.LayersModel,
  options: { grouping?: GroupingConfig; optimizer: FGSGDConfig; renormalize?: RenormalizerConfig; firstBatch?: tf.Tensor },
): Promise<{ grouping: Grouping; optimizer: FGSGD; renormalizer: Renormalizer }> {
  const grouping = buildGrouping(model, options.grouping);
  const optimizer = new FGSGD(grouping, options.optimizer);
  const renormalizer = new Renormalizer(model, optimizer, options.renormalize);
  await renormalizer.initialize(options.firstBatch);
  return { grouping, optimizer, renormalizer };
}
