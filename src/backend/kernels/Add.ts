/**
 * `Add` for wasm: a full tensor plus a per-channel vector ([..., C] + [C]) runs as one XNNPACK pass
 * (`perChannel`, the vector as bias); everything else goes to the package's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { channelBroadcast, perChannel, runPackageKernel, type KernelArgs, type TensorInfo } from './kernel_utils.js';

export function add({ inputs, backend, attrs }: KernelArgs<'a' | 'b', object>): TensorInfo {
  const split = channelBroadcast(inputs.a, inputs.b);
  if (!split) return runPackageKernel(backend, 'Add', inputs, attrs as tf.NamedAttrMap);
  return perChannel(backend, split.full, null, split.vec);
}

export const addConfig: tf.KernelConfig = {
  kernelName: 'Add',
  backendName: 'wasm',
  kernelFunc: add as unknown as tf.KernelFunc,
};
