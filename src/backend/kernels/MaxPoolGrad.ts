/**
 * `MaxPoolGrad` for wasm: one pass over the input in NHWC order on the wasm heap.
 *
 * Semantics are tfjs-backend-cpu's exactly: each pooling window sends its dy to the *first* input
 * position holding the window's maximum (scan order: rows, then columns; a later equal value does
 * not win), windows overlapping the padding only look at real pixels, and a window with no value
 * greater than −∞ (all −∞ or NaN) sends nothing. Gradients of overlapping windows add up.
 *
 * Why not batched ops: an equality mask of x against the upsampled max needs a tie-break pass per
 * window offset plus a scatter back for overlapping windows, i.e. about ten full-size wasm ops;
 * the package's own `MaxPoolWithArgmax` breaks ties towards the *last* max; and its `MaxPoolGrad`
 * re-scans every window for every input pixel. This kernel reads x once and dy once, with the
 * channel loop innermost (contiguous in NHWC); see bench/profile_step.ts for its cost.
 *
 * Windows that tile the input exactly (stride = window, no padding: cnn-small's 2×2 pools) take a
 * shorter loop that writes each dx once. The `output` input (the forward max) is not needed. NHWC
 * float32 only.
 */
import type * as tf from '@tensorflow/tfjs';
import { backend_util } from '@tensorflow/tfjs';
import { assertChannelsLast, assertFloat32, type KernelArgs, type Pad, type TensorInfo } from './kernel_utils.js';

interface Attrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
}

export function maxPoolGrad({ inputs, backend, attrs }: KernelArgs<'dy' | 'input' | 'output', Attrs>): TensorInfo {
  const { dy, input } = inputs;
  const { filterSize, strides, pad, dimRoundingMode, dataFormat } = attrs;
  assertChannelsLast('MaxPoolGrad', dataFormat);
  assertFloat32('MaxPoolGrad', dy, input);
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  if (dy.shape.join() !== [n, oh, ow, c].join()) {
    throw new Error(`wasm MaxPoolGrad: dy has shape [${dy.shape}], expected [${[n, oh, ow, c]}].`);
  }
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;

  const dx = backend.makeOutput(input.shape, 'float32');
  // Views are taken after the last allocation: a heap growth would detach earlier ones.
  const xv = backend.typedArrayFromHeap(input) as Float32Array;
  const dyv = backend.typedArrayFromHeap(dy) as Float32Array;
  const dxv = backend.typedArrayFromHeap(dx) as Float32Array;
  if (sh === fh && sw === fw && top === 0 && left === 0 && oh * sh <= h && ow * sw <= w) {
    tiledWindows(xv, dyv, dxv, n, h, w, c, oh, ow, fh, fw);
    return dx;
  }
  // Overlapping windows add several dy into one dx: sum those in float64 as the cpu backend does,
  // so that results match it exactly (non-overlapping windows write each dx at most once).
  const overlapping = sh < fh || sw < fw;
  const acc: Float32Array | Float64Array = overlapping ? new Float64Array(dxv.length) : dxv;
  acc.fill(0);
  const best = new Float32Array(c);
  const arg = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let yr = 0; yr < oh; yr++) {
      const r0 = yr * sh - top;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(h, r0 + fh);
      for (let yc = 0; yc < ow; yc++) {
        const c0 = yc * sw - left;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(w, c0 + fw);
        best.fill(-Infinity);
        arg.fill(-1);
        for (let r = rMin; r < rMax; r++) {
          for (let col = cMin; col < cMax; col++) {
            const base = ((b * h + r) * w + col) * c;
            for (let d = 0; d < c; d++) {
              const v = xv[base + d]!;
              if (v > best[d]!) {
                best[d] = v;
                arg[d] = base + d;
              }
            }
          }
        }
        const dyBase = ((b * oh + yr) * ow + yc) * c;
        for (let d = 0; d < c; d++) {
          const at = arg[d]!;
          if (at >= 0) acc[at] += dyv[dyBase + d]!;
        }
      }
    }
  }
  if (overlapping) dxv.set(acc);
  return dx;
}

/**
 * The common case of windows that tile the input without overlap or padding (a 2×2 pool with
 * stride 2): every input pixel is in at most one window, so each dx is written exactly once (dy or
 * 0) and no accumulator is needed. Same first-max rule as the general loop.
 */
function tiledWindows(
  xv: Float32Array, dyv: Float32Array, dxv: Float32Array,
  n: number, h: number, w: number, c: number, oh: number, ow: number, fh: number, fw: number,
): void {
  if (oh * fh !== h || ow * fw !== w) dxv.fill(0); // rows/columns no window covers
  if (fh === 2 && fw === 2) {
    tiled2x2(xv, dyv, dxv, n, h, w, c, oh, ow);
    return;
  }
  const taps = fh * fw;
  const tapOffset = new Int32Array(taps);
  for (let r = 0; r < fh; r++) for (let q = 0; q < fw; q++) tapOffset[r * fw + q] = (r * w + q) * c;
  let dyBase = 0;
  for (let b = 0; b < n; b++) {
    for (let yr = 0; yr < oh; yr++) {
      for (let yc = 0; yc < ow; yc++, dyBase += c) {
        const base = ((b * h + yr * fh) * w + yc * fw) * c;
        for (let d = 0; d < c; d++) {
          let best = -Infinity;
          let at = -1;
          for (let t = 0; t < taps; t++) {
            const v = xv[base + tapOffset[t]! + d]!;
            if (v > best) {
              best = v;
              at = t;
            }
          }
          const g = dyv[dyBase + d]!;
          for (let t = 0; t < taps; t++) dxv[base + tapOffset[t]! + d] = t === at ? g : 0;
        }
      }
    }
  }
}

/** `tiledWindows` unrolled for 2×2 windows (about twice as fast in V8 as the loop over taps). */
function tiled2x2(xv: Float32Array, dyv: Float32Array, dxv: Float32Array, n: number, h: number, w: number, c: number, oh: number, ow: number): void {
  const rowStride = w * c;
  let dyBase = 0;
  for (let b = 0; b < n; b++) {
    for (let yr = 0; yr < oh; yr++) {
      for (let yc = 0; yc < ow; yc++, dyBase += c) {
        const p0 = ((b * h + yr * 2) * w + yc * 2) * c;
        const p1 = p0 + c;
        const p2 = p0 + rowStride;
        const p3 = p2 + c;
        for (let d = 0; d < c; d++) {
          const v0 = xv[p0 + d]!;
          const v1 = xv[p1 + d]!;
          const v2 = xv[p2 + d]!;
          const v3 = xv[p3 + d]!;
          let best = -Infinity;
          let at = -1;
          if (v0 > best) {
            best = v0;
            at = 0;
          }
          if (v1 > best) {
            best = v1;
            at = 1;
          }
          if (v2 > best) {
            best = v2;
            at = 2;
          }
          if (v3 > best) at = 3;
          const g = dyv[dyBase + d]!;
          dxv[p0 + d] = at === 0 ? g : 0;
          dxv[p1 + d] = at === 1 ? g : 0;
          dxv[p2 + d] = at === 2 ? g : 0;
          dxv[p3 + d] = at === 3 ? g : 0;
        }
      }
    }
  }
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
