/**
 * `Identity` for wasm: shares the input's buffer (one more reference) instead of copying it.
 *
 * tfjs's engine clones every tensor it saves for the backward pass (`saveTensorsForBackwardMode`),
 * ~550 full activations per ResNet-20 step; the package's kernel memcpys each. Tensors are
 * immutable (a variable's `assign` swaps its buffer, never writes into it), so a shared, reference
 * counted buffer is a valid clone: the cpu backend's `Identity` and every backend's `Reshape` do
 * the same. The caller owns the returned reference, as with any kernel output.
 */
import type * as tf from '@tensorflow/tfjs';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';

export function identity({ inputs, backend }: KernelArgs<'x', object>): TensorInfo {
  const { x } = inputs;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: 'Identity',
  backendName: 'wasm',
  kernelFunc: identity as unknown as tf.KernelFunc,
};
