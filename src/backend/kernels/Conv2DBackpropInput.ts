/**
 * `Conv2DBackpropInput` for wasm, on the XNNPACK-backed forward `Conv2D` (the package's own kernel
 * is a naive loop).
 *
 * For a forward convolution with stride s, dilation d and top/left padding p,
 *
 *   dx[n, i, j, ci] = Σ_{kh,kw,co} dy[n, oh, ow, co] · W[kh, kw, ci, co]   where i = oh·s + kh·d − p.
 *
 * - s = 1: dx is the "full" correlation of dy with W flipped in space and in/out channels swapped,
 *   one `Conv2D` (dilation d) whose paddings make exactly H×W outputs.
 * - s > 1 (same in both axes, d = 1): the rows i with (i + p) mod s = r only see the taps
 *   kh ≡ r (mod s), so each of the s² phases is a stride-1 correlation of dy with a sub-filter.
 *   All phases run as ONE `Conv2D` whose output channels are the s² phases side by side (shorter
 *   phases padded with zero taps), and a depth-to-space transpose interleaves them into dx. A 3×3 stride-2
 *   layer thus costs 2×2 taps on the small dy instead of 3×3 taps on a zero-spread dy (4× larger).
 * - anything else (different strides per axis, stride and dilation both > 1): dy is spread out with
 *   s−1 zeros between pixels, then as s = 1. Correct, slower; the models do not use it.
 *
 * dy rows that no output reads are cropped rather than given a negative padding. Attrs as tfjs's op
 * passes them; `dilations` is accepted as an extension (tfjs's conv2d gradient refuses dilation > 1).
 * NHWC float32 only.
 */
import type * as tf from '@tensorflow/tfjs';
import { backend_util } from '@tensorflow/tfjs';
import {
  assertChannelsLast, assertFloat32, conv2d, pair, release, reshape, runKernel, slice, transpose,
  type ConvAttrs, type KernelArgs, type TensorInfo, type WasmBackend,
  onednnConv,
} from './kernel_utils.js';
import { activeOnednn } from '../onednn.js';

interface Attrs extends ConvAttrs {
  inputShape: [number, number, number, number];
}

/**
 * The backprop filter F[j, k, co, (a·s + b)·Ci + ci] = W[a + (mh−1−j)·s, b + (mw−1−k)·s, ci, co]
 * (zero where that tap is outside W): phase (a, b)'s taps, flipped, as output-channel block a·s+b.
 * With s = 1 it is W flipped in space with in/out channels swapped.
 */
function phaseFilter(backend: WasmBackend, filter: TensorInfo, s: number, mh: number, mw: number): TensorInfo {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const outCh = s * s * ci;
  const out = backend.makeOutput([mh, mw, co, outCh], 'float32');
  const w = backend.typedArrayFromHeap(filter) as Float32Array;
  const f = backend.typedArrayFromHeap(out) as Float32Array;
  f.fill(0);
  for (let a = 0; a < s; a++) {
    for (let b = 0; b < s; b++) {
      const block = (a * s + b) * ci;
      for (let j = 0; j < mh; j++) {
        const y = a + (mh - 1 - j) * s;
        if (y >= kh) continue;
        for (let k = 0; k < mw; k++) {
          const x = b + (mw - 1 - k) * s;
          if (x >= kw) continue;
          for (let i = 0; i < ci; i++) {
            const src = ((y * kw + x) * ci + i) * co;
            let dst = (j * mw + k) * co * outCh + block + i;
            for (let o = 0; o < co; o++, dst += outCh) f[dst] = w[src + o]!;
          }
        }
      }
    }
  }
  return out;
}

/** dy [N,OH,OW,C] → [N, OH·sh, OW·sw, C] with dy[n,i,j] at (i·sh, j·sw) and zeros elsewhere. */
function spread(backend: WasmBackend, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [n, oh, ow, c] = dy.shape as [number, number, number, number];
  const r = reshape(backend, dy, [n * oh, 1, ow, 1, c]);
  const padded = runKernel(backend, 'PadV2', { x: r }, {
    paddings: [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0,
  } as unknown as tf.NamedAttrMap);
  release(backend, r);
  const out = reshape(backend, padded, [n, oh * sh, ow * sw, c]);
  release(backend, padded);
  return out;
}

/**
 * Stride-1 correlation of `src` (rows/cols as given) with filter `f` [mh, mw, ·, ·], dilation
 * (dh, dw), top/left paddings pTop/pLeft, producing outH × outW outputs. Negative paddings crop
 * `src` instead.
 */
function correlate(
  backend: WasmBackend, src: TensorInfo, f: TensorInfo, [dh, dw]: [number, number],
  pTop: number, pLeft: number, outH: number, outW: number,
): TensorInfo {
  const [n, rows, cols, c] = src.shape as [number, number, number, number];
  const [mh, mw] = f.shape as [number, number];
  let pBottom = outH + (mh - 1) * dh - rows - pTop;
  let pRight = outW + (mw - 1) * dw - cols - pLeft;
  let cropped: TensorInfo | null = null;
  if (pTop < 0 || pBottom < 0 || pLeft < 0 || pRight < 0) {
    const r0 = Math.max(0, -pTop);
    const c0 = Math.max(0, -pLeft);
    const r1 = rows + Math.min(0, pBottom);
    const c1 = cols + Math.min(0, pRight);
    cropped = slice(backend, src, [0, r0, c0, 0], [n, r1 - r0, c1 - c0, c]);
    pTop = Math.max(0, pTop);
    pBottom = Math.max(0, pBottom);
    pLeft = Math.max(0, pLeft);
    pRight = Math.max(0, pRight);
  }
  const out = conv2d(backend, cropped ?? src, f, [1, 1], [dh, dw], [pTop, pBottom, pLeft, pRight]);
  release(backend, cropped);
  return out;
}

export function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs<'dy' | 'filter', Attrs>): TensorInfo {
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  assertChannelsLast('Conv2DBackpropInput', dataFormat);
  assertFloat32('Conv2DBackpropInput', dy, filter);
  const dilations = pair(attrs.dilations, 1);
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  if (dy.shape.join() !== [n, oh, ow, co].join()) {
    throw new Error(`wasm Conv2DBackpropInput: dy has shape [${dy.shape}], expected [${[n, oh, ow, co]}].`);
  }
  const native = activeOnednn();
  if (native) return onednnConv(native, backend, 1, dy, filter, info);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;

  if (sh === 1 && sw === 1) {
    const f = phaseFilter(backend, filter, 1, kh, kw);
    const dx = correlate(backend, dy, f, [dh, dw], (kh - 1) * dh - top, (kw - 1) * dw - left, h, w);
    release(backend, f);
    return dx;
  }

  if (sh === sw && dh === 1 && dw === 1) {
    const s = sh;
    // Output rows i = (q − q0)·s + r − off for phase r; q0..q1 cover all i in [0, H).
    const q0h = Math.floor(top / s);
    const q0w = Math.floor(left / s);
    const nqh = Math.ceil((h + top) / s) - q0h;
    const nqw = Math.ceil((w + left) / s) - q0w;
    const mh = Math.ceil(kh / s);
    const mw = Math.ceil(kw / s);
    const f = phaseFilter(backend, filter, s, mh, mw);
    const phases = correlate(backend, dy, f, [1, 1], mh - 1 - q0h, mw - 1 - q0w, nqh, nqw);
    release(backend, f);
    // Depth to space: [N, nqh, nqw, (a, b, ci)] → [N, (nqh, a), (nqw, b), ci], as one transpose of
    // contiguous (b, ci) runs (the package's DepthToSpace indexes per element: ~20× slower).
    const blocks = reshape(backend, phases, [n * nqh, nqw, s, s * ci]);
    release(backend, phases);
    const moved = transpose(backend, blocks, [0, 2, 1, 3]);
    release(backend, blocks);
    const interleaved = reshape(backend, moved, [n, nqh * s, nqw * s, ci]);
    release(backend, moved);
    const offH = top - q0h * s;
    const offW = left - q0w * s;
    if (offH === 0 && offW === 0 && nqh * s === h && nqw * s === w) return interleaved;
    const dx = slice(backend, interleaved, [0, offH, offW, 0], [n, h, w, ci]);
    release(backend, interleaved);
    return dx;
  }

  const spreadDy = spread(backend, dy, sh, sw);
  const f = phaseFilter(backend, filter, 1, kh, kw);
  const dx = correlate(backend, spreadDy, f, [dh, dw], (kh - 1) * dh - top, (kw - 1) * dw - left, h, w);
  release(backend, spreadDy, f);
  return dx;
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
