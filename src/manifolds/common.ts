/**
 * Helpers shared by the manifold files: shape checks, seeded sampling, residual scaling and the
 * stable great-circle angle.
 *
 * Tensor ownership: functions that return tensors return new tensors owned by the caller.
 */
import * as tf from '@tensorflow/tfjs';

/** Error for a shape that cannot lie on a manifold. */
export class ManifoldShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifoldShapeError';
  }
}

/** ` (at <where>)` when a location is given. */
export function at(where?: string): string {
  return where ? ` (at ${where})` : '';
}

/** Checks a `[...batch, rows, cols]` shape: rank ≥ 2 and positive integer sizes. */
export function assertMatrixShape(shape: readonly number[], manifold: string, where?: string): void {
  if (!Array.isArray(shape) || shape.length < 2) {
    throw new ManifoldShapeError(
      `${manifold}: shape [${String(shape)}]${at(where)} is not a stack of matrices; expected [...batch, rows, cols].`,
    );
  }
  if (!shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ManifoldShapeError(`${manifold}: shape [${shape.join(', ')}]${at(where)} has a non-positive size.`);
  }
}

/** Standard normal samples of `shape`, reproducible from `seed` on every backend (generated in JS). */
export function normalSample(shape: readonly number[], seed: number): tf.Tensor {
  return tf.randomNormal([...shape], 0, 1, 'float32', seed);
}

/** Divides a per-matrix residual by max(‖u‖_F, 1): absolute for small u, relative for large u. */
export function relativeToTangent(residual: tf.Tensor, u: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.div(residual, tf.maximum(tf.sqrt(tf.sum(tf.square(u), [-2, -1])), 1)));
}

/**
 * The angle between unit vectors x and y along `axes`, as 2·atan2(‖x − y‖, ‖x + y‖).
 *
 * Equal to arccos(⟨x, y⟩) for unit vectors, but accurate in float32 at every angle: arccos loses
 * half the digits near 0 (⟨x, y⟩ = 1 − θ²/2 rounds θ ≲ 3e-4 to 0) and near π.
 */
export function unitAngle(x: tf.Tensor, y: tf.Tensor, axes: number | number[]): tf.Tensor {
  return tf.tidy(() => {
    const d = tf.sqrt(tf.sum(tf.square(tf.sub(x, y)), axes));
    const s = tf.sqrt(tf.sum(tf.square(tf.add(x, y)), axes));
    return tf.mul(tf.atan2(d, s), 2);
  });
}

/** Below this ‖u‖, sin(‖u‖)/‖u‖ is taken from its Taylor series 1 − ‖u‖²/6 (error < 1e-13). */
export const SINC_TAYLOR_BELOW = 1e-3;

/** sin(t)/t, guarded at t → 0. */
export function sinc(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.where(
      tf.greater(t, SINC_TAYLOR_BELOW),
      tf.div(tf.sin(t), tf.maximum(t, SINC_TAYLOR_BELOW)),
      tf.sub(1, tf.div(tf.square(t), 6)),
    ),
  );
}
