/**
 * `RealDiv` for wasm: a full tensor divided by a per-channel vector ([..., C] / [C]) runs as one
 * XNNPACK pass multiplying by the reciprocals (`perChannel`; x·(1/v) may differ from x/v in the
 * last bit). Everything else, the vector-over-full case included, goes to the package's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { channelBroadcast, perChannel, readVector, release, runPackageKernel, vector, type KernelArgs, type TensorInfo } from './kernel_utils.js';

export function realDiv({ inputs, backend, attrs }: KernelArgs<'a' | 'b', object>): TensorInfo {
  const split = channelBroadcast(inputs.a, inputs.b);
  if (!split || !split.fullFirst) return runPackageKernel(backend, 'RealDiv', inputs, attrs as tf.NamedAttrMap);
  const reciprocals = vector(backend, readVector(backend, split.vec).map((v) => 1 / v));
  const out = perChannel(backend, split.full, reciprocals, null);
  release(backend, reciprocals);
  return out;
}

export const realDivConfig: tf.KernelConfig = {
  kernelName: 'RealDiv',
  backendName: 'wasm',
  kernelFunc: realDiv as unknown as tf.KernelFunc,
};
