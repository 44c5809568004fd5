/**
 * `Conv2DBackpropFilter` for wasm (the package ships none), on the XNNPACK-backed forward `Conv2D`.
 *
 * For a forward convolution with stride s, dilation d and top/left padding p,
 *
 *   dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s + kh·d − p, ow·s + kw·d − p, ci] · dy[n,oh,ow,co],
 *
 * which is itself a convolution once batch and channels swap roles: the input is xᵀ = x as
 * [Ci, H, W, N] (Ci images with N channels; `swapFirstLastAxes` says why that is three transposes),
 * the filter is dyᵀ = dy as [OH, OW, N, Co], the stride is d and the dilation is s; the output
 * [Ci, KH, KW, Co] is dW up to one small transpose. The bottom/right paddings are chosen so that
 * exactly KH×KW outputs come out (rows of x that no output reads are cropped).
 *
 * Cost: the transposes, then one GEMM with a huge reduction (K = OH·OW·N) and a small output. Unlike
 * a forward conv, its filter is as large as dy and XNNPACK repacks it on every call, and the GEMM
 * streams it from memory for every tile of outputs: this kernel costs ~1.6× the forward conv.
 *
 * Attrs as tfjs's op passes them; `dilations` (absent in tfjs, whose conv2d gradient refuses
 * dilation > 1) is accepted as an extension. NHWC float32 only.
 */
import type * as tf from '@tensorflow/tfjs';
import { backend_util } from '@tensorflow/tfjs';
import {
  assertChannelsLast, assertFloat32, conv2d, pair, release, runKernel, slice, swapFirstLastAxes, transpose,
  type ConvAttrs, type KernelArgs, type TensorInfo, type WasmBackend,
  onednnConv,
} from './kernel_utils.js';
import { activeOnednn } from '../onednn.js';

interface Attrs extends ConvAttrs {
  filterShape: [number, number, number, number];
}

export function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs<'x' | 'dy', Attrs>): TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  assertChannelsLast('Conv2DBackpropFilter', dataFormat);
  assertFloat32('Conv2DBackpropFilter', x, dy);
  const dilations = pair(attrs.dilations, 1);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  if (dy.shape.join() !== [n, oh, ow, co].join()) {
    throw new Error(`wasm Conv2DBackpropFilter: dy has shape [${dy.shape}], expected [${[n, oh, ow, co]}].`);
  }
  const native = activeOnednn();
  if (native) return onednnConv(native, backend, 2, x, dy, info);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  // Input rows [0, rowsRead) are the ones some (oh, kh) reads, counting the top padding.
  const rowsRead = (kh - 1) * dh + (oh - 1) * sh + 1 - top;
  const colsRead = (kw - 1) * dw + (ow - 1) * sw + 1 - left;

  // The conv's filter dyᵀ has K = OH·OW·N rows of Co; tfjs and XNNPACK repack it with one stream
  // per output channel, K floats apart. When K·4 bytes is a multiple of 1 KiB those streams share
  // cache sets and the repacking thrashes (~20% of the conv at ResNet-20's stages 2 and 3); one
  // extra all-zero image (N + 1 channels, contributing nothing) breaks the alignment.
  const k = oh * ow * n;
  const padImage = k % 256 === 0 && (k + oh * ow) % 256 !== 0;
  const xIn = padImage ? appendZeroImage(backend, x) : x;
  const dyIn = padImage ? appendZeroImage(backend, dy) : dy;
  const m = n + (padImage ? 1 : 0);

  // Crop after the swap: rows of N contiguous floats copy faster than rows of Ci.
  const swapped = swapFirstLastAxes(backend, xIn);
  const xT = rowsRead < h || colsRead < w ? slice(backend, swapped, [0, 0, 0, 0], [ci, Math.min(h, rowsRead), Math.min(w, colsRead), m]) : swapped;
  if (xT !== swapped) release(backend, swapped);
  const dyT = transpose(backend, dyIn, [1, 2, 0, 3]);
  if (padImage) release(backend, xIn, dyIn);
  const out = conv2d(backend, xT, dyT, [dh, dw], [sh, sw], [top, Math.max(0, rowsRead - h), left, Math.max(0, colsRead - w)]);
  release(backend, xT, dyT);
  const dW = transpose(backend, out, [1, 2, 0, 3]);
  release(backend, out);
  return dW;
}

/** [N, …] → [N + 1, …] with a last image of zeros. */
function appendZeroImage(backend: WasmBackend, t: TensorInfo): TensorInfo {
  const zeros = backend.makeOutput([1, ...t.shape.slice(1)], 'float32');
  (backend.typedArrayFromHeap(zeros) as Float32Array).fill(0);
  const out = runKernel(backend, 'Concat', [t, zeros] as unknown as Record<string, TensorInfo>, { axis: 0 }); // Concat takes an array
  release(backend, zeros);
  return out;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
