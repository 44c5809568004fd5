/**
 * `Sub` for wasm: a full tensor minus a per-channel vector ([..., C] − [C], e.g. x − mean in batch
 * norm), or the reverse, runs as one XNNPACK pass (`perChannel`: x·1 + (−v), or x·(−1) + v, both
 * exact); everything else goes to the package's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { channelBroadcast, perChannel, readVector, release, runPackageKernel, vector, type KernelArgs, type TensorInfo } from './kernel_utils.js';

export function sub({ inputs, backend, attrs }: KernelArgs<'a' | 'b', object>): TensorInfo {
  const split = channelBroadcast(inputs.a, inputs.b);
  if (!split) return runPackageKernel(backend, 'Sub', inputs, attrs as tf.NamedAttrMap);
  const { full, vec, fullFirst } = split;
  if (fullFirst) {
    const negated = vector(backend, readVector(backend, vec).map((v) => -v));
    const out = perChannel(backend, full, null, negated);
    release(backend, negated);
    return out;
  }
  const minusOnes = vector(backend, new Float32Array(vec.shape[vec.shape.length - 1]!).fill(-1));
  const out = perChannel(backend, full, minusOnes, vec);
  release(backend, minusOnes);
  return out;
}

export const subConfig: tf.KernelConfig = {
  kernelName: 'Sub',
  backendName: 'wasm',
  kernelFunc: sub as unknown as tf.KernelFunc,
};
