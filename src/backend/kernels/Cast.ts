/**
 * `Cast` for wasm: a cast to the input's own dtype shares the buffer (as `Identity`, see there)
 * instead of copying it; tfjs's gradients of `relu`, `square` and `cast` cast float32 to float32 on
 * full activations. Real conversions go to the package's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { runPackageKernel, type KernelArgs, type TensorInfo } from './kernel_utils.js';

export function cast({ inputs, backend, attrs }: KernelArgs<'x', { dtype: tf.DataType }>): TensorInfo {
  const { x } = inputs;
  if (attrs.dtype !== x.dtype || x.dtype === 'string') return runPackageKernel(backend, 'Cast', inputs, attrs as unknown as tf.NamedAttrMap);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const castConfig: tf.KernelConfig = {
  kernelName: 'Cast',
  backendName: 'wasm',
  kernelFunc: cast as unknown as tf.KernelFunc,
};
