/**
 * `Multiply` for wasm: a full tensor times a per-channel vector ([..., C] ⊙ [C], as batch norm and
 * its gradient do) runs as one XNNPACK pass (`perChannel`); everything else goes to the package's
 * kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { channelBroadcast, perChannel, runPackageKernel, type KernelArgs, type TensorInfo } from './kernel_utils.js';

export function multiply({ inputs, backend, attrs }: KernelArgs<'a' | 'b', object>): TensorInfo {
  const split = channelBroadcast(inputs.a, inputs.b);
  if (!split) return runPackageKernel(backend, 'Multiply', inputs, attrs as tf.NamedAttrMap);
  return perChannel(backend, split.full, split.vec, null);
}

export const multiplyConfig: tf.KernelConfig = {
  kernelName: 'Multiply',
  backendName: 'wasm',
  kernelFunc: multiply as unknown as tf.KernelFunc,
};
