/**
 * `FusedConv2D` (convolution, then bias, then activation: what tfjs-layers' conv2d runs, and what
 * it keeps under gradients when the activation is linear) for wasm: the package's XNNPACK kernel,
 * or, while the `onednn` backend is active (see `../onednn.ts`), oneDNN's convolution followed by
 * the wasm kernels for the bias and the activation.
 */
import type * as tf from '@tensorflow/tfjs';
import type { backend_util } from '@tensorflow/tfjs';
import { activeOnednn } from '../onednn.js';
import {
  forwardConvInfo, onednnConv, release, runKernel, runPackageKernel, type ConvAttrs, type KernelArgs, type TensorInfo,
} from './kernel_utils.js';

interface Attrs extends ConvAttrs {
  activation?: backend_util.Activation;
  leakyreluAlpha?: number;
}

/** tfjs's fused activations, as the kernels that compute them. */
const ACTIVATIONS: Record<string, string> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', sigmoid: 'Sigmoid', leakyrelu: 'LeakyRelu', prelu: 'Prelu' };

export function fusedConv2D({ inputs, backend, attrs }: KernelArgs<'x' | 'filter' | 'bias' | 'preluActivationWeights', Attrs>): TensorInfo {
  const native = activeOnednn();
  if (!native) return runPackageKernel(backend, 'FusedConv2D', inputs, attrs as unknown as tf.NamedAttrMap);
  const { x, filter, bias, preluActivationWeights } = inputs;
  const activation = attrs.activation ?? 'linear';
  if (activation !== 'linear' && !ACTIVATIONS[activation]) throw new Error(`wasm FusedConv2D: activation '${activation}' is not supported.`);
  let y = onednnConv(native, backend, 0, x, filter, forwardConvInfo('FusedConv2D', x, filter, attrs));
  if (bias) {
    const biased = runKernel(backend, 'Add', { a: y, b: bias });
    release(backend, y);
    y = biased;
  }
  if (activation !== 'linear') {
    const name = ACTIVATIONS[activation]!;
    const out = name === 'Prelu'
      ? runKernel(backend, name, { x: y, alpha: preluActivationWeights! })
      : runKernel(backend, name, { x: y }, name === 'LeakyRelu' ? { alpha: attrs.leakyreluAlpha ?? 0.2 } : {});
    release(backend, y);
    y = out;
  }
  return y;
}

export const fusedConv2DConfig: tf.KernelConfig = {
  kernelName: 'FusedConv2D',
  backendName: 'wasm',
  kernelFunc: fusedConv2D as unknown as tf.KernelFunc,
};
