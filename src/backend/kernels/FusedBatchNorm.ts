/**
 * `FusedBatchNorm` (tf.batchNorm) for wasm with per-channel statistics: two XNNPACK passes,
 * t = x − mean, then y = t · (scale / √(variance + ε)) + offset (`perChannel`). The package's
 * kernel loops per element with broadcast index arithmetic, ~5× slower. The subtraction comes
 * first, as in tfjs's reference formula, so no precision is lost when |mean| ≫ σ. Other shapes go
 * to the package's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { perChannel, readVector, release, runPackageKernel, vector, type KernelArgs, type TensorInfo } from './kernel_utils.js';

type Inputs = 'x' | 'mean' | 'variance' | 'offset' | 'scale';

export function fusedBatchNorm({ inputs, backend, attrs }: KernelArgs<Inputs, { varianceEpsilon: number }>): TensorInfo {
  const { x, mean, variance, offset, scale } = inputs;
  const c = x.shape[x.shape.length - 1]!;
  const perChannelShape = (t: TensorInfo | undefined) =>
    !t || (t.dtype === 'float32' && t.shape[t.shape.length - 1] === c && t.shape.slice(0, -1).every((s) => s === 1) && t.shape.length <= x.shape.length);
  if (x.dtype !== 'float32' || x.shape.length < 2 || c < 2 || ![mean, variance, offset, scale].every(perChannelShape)) {
    return runPackageKernel(backend, 'FusedBatchNorm', inputs, attrs as unknown as tf.NamedAttrMap);
  }
  const eps = attrs.varianceEpsilon;
  const m = readVector(backend, mean);
  const v = readVector(backend, variance);
  const g = scale ? readVector(backend, scale) : null;
  const negMean = vector(backend, m.map((u) => -u));
  const factor = vector(backend, Array.from(v, (u, i) => (g ? g[i]! : 1) / Math.sqrt(u + eps)));
  const offsetVec = offset ?? vector(backend, new Float32Array(c));
  const centered = perChannel(backend, x, null, negMean);
  const y = perChannel(backend, centered, factor, offsetVec);
  release(backend, negMean, factor, centered, offset ? null : offsetVec);
  return y;
}

export const fusedBatchNormConfig: tf.KernelConfig = {
  kernelName: 'FusedBatchNorm',
  backendName: 'wasm',
  kernelFunc: fusedBatchNorm as unknown as tf.KernelFunc,
};
