/**
 * `Conv2D` for wasm: the package's XNNPACK kernel, or oneDNN's while the `onednn` backend is
 * active (see `../onednn.ts`). The wasm path is the package's kernel, unchanged.
 */
import type * as tf from '@tensorflow/tfjs';
import { backend_util } from '@tensorflow/tfjs';
import { activeOnednn } from '../onednn.js';
import {
  assertChannelsLast, assertFloat32, pair, runPackageKernel, type KernelArgs, type Pad, type TensorInfo,
  onednnConv,
} from './kernel_utils.js';

interface Attrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function conv2D({ inputs, backend, attrs }: KernelArgs<'x' | 'filter', Attrs>): TensorInfo {
  const native = activeOnednn();
  if (!native) return runPackageKernel(backend, 'Conv2D', inputs, attrs as unknown as tf.NamedAttrMap);
  const { x, filter } = inputs;
  assertChannelsLast('Conv2D', attrs.dataFormat);
  assertFloat32('Conv2D', x, filter);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides, pair(attrs.dilations, 1), attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  return onednnConv(native, backend, 0, x, filter, info);
}

export const conv2DConfig: tf.KernelConfig = {
  kernelName: 'Conv2D',
  backendName: 'wasm',
  kernelFunc: conv2D as unknown as tf.KernelFunc,
};
