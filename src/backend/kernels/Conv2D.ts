/**
 * `Conv2D` for wasm: the package's XNNPACK kernel, or oneDNN's while the `onednn` backend is
 * active (see `../onednn.ts`). The wasm path is the package's kernel, unchanged.
 */
import type * as tf from '@tensorflow/tfjs';
import { activeOnednn } from '../onednn.js';
import { forwardConvInfo, onednnConv, runPackageKernel, type ConvAttrs, type KernelArgs, type TensorInfo } from './kernel_utils.js';

export function conv2D({ inputs, backend, attrs }: KernelArgs<'x' | 'filter', ConvAttrs>): TensorInfo {
  const native = activeOnednn();
  if (!native) return runPackageKernel(backend, 'Conv2D', inputs, attrs as unknown as tf.NamedAttrMap);
  const { x, filter } = inputs;
  return onednnConv(native, backend, 0, x, filter, forwardConvInfo('Conv2D', x, filter, attrs));
}

export const conv2DConfig: tf.KernelConfig = {
  kernelName: 'Conv2D',
  backendName: 'wasm',
  kernelFunc: conv2D as unknown as tf.KernelFunc,
};
