/**
 * Shared helpers for the wasm training kernels in this folder (not a kernel itself).
 *
 * Ownership rule for every kernel here, as in tfjs-backend-cpu/-wasm kernels that call other
 * kernels: a kernel calls other kernels *directly on the backend* (`runKernel` below: no engine, no
 * tape, no `tf.Tensor`), so each result is a bare `TensorInfo` whose one reference belongs to the
 * caller. Every intermediate is released exactly once with `release`; the kernel's output is
 * returned un-released and becomes the engine's tensor. Never `tf.keep` or return an op's
 * `tf.Tensor` from a kernel: the engine would then count the buffer twice (the leak recorded in
 * DESIGN.md).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvKind, OnednnBinding } from '../onednn.js';

export type WasmBackend = BackendWasm;
export type TensorInfo = tf.TensorInfo;
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];
export type Pad = 'same' | 'valid' | number | ExplicitPadding;

/** The arguments tfjs passes to a kernel function, typed for the wasm backend. */
export interface KernelArgs<I extends string, A = tf.NamedAttrMap> {
  inputs: Record<I, TensorInfo>;
  backend: WasmBackend;
  attrs: A;
}

/**
 * Runs the kernel registered for 'wasm' under `name` on bare TensorInfos. Looked up at call time,
 * so a kernel overridden in this registry (or wrapped by a profiler) is the one that runs.
 * The caller owns the result: return it, or `release` it.
 */
export function runKernel(backend: WasmBackend, name: string, inputs: Record<string, TensorInfo>, attrs: tf.NamedAttrMap = {}): TensorInfo {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`wasm training kernels: kernel '${name}' is not registered for 'wasm'.`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm training kernels: kernel '${name}' returned ${out.length} outputs, expected one.`);
  return out;
}

/** Drops the caller's reference to each intermediate (frees the buffer when none is left). */
export function release(backend: WasmBackend, ...infos: (TensorInfo | null | undefined)[]): void {
  for (const t of infos) if (t) backend.disposeData(t.dataId);
}

/** A view of `t` with another shape: shares the buffer, takes a reference (release it too). */
export function reshape(backend: WasmBackend, t: TensorInfo, shape: number[]): TensorInfo {
  return runKernel(backend, 'Reshape', { x: t }, { shape });
}

export function transpose(backend: WasmBackend, t: TensorInfo, perm: number[]): TensorInfo {
  return runKernel(backend, 'Transpose', { x: t }, { perm });
}

/**
 * [A, …, C] → [C, …, A]: swaps the first and last axes (NHWC batch ↔ channels). The package's
 * 4-D transpose gathers with a stride of a whole image per element and thrashes the cache (~30 ms
 * for a 2M-element activation); as three 3-D transposes that each move contiguous runs it takes
 * ~6 ms: (a, m, c) → (m, a, c) → (m, c, a) → (c, m, a), m being the middle axes flattened.
 */
export function swapFirstLastAxes(backend: WasmBackend, t: TensorInfo): TensorInfo {
  const shape = t.shape;
  const a = shape[0]!;
  const c = shape[shape.length - 1]!;
  const m = shape.slice(1, -1).reduce((p, s) => p * s, 1);
  const outShape = [c, ...shape.slice(1, -1), a];
  if (a === 1 || c === 1 || m === 1) {
    // Degenerate: one plain transpose moves contiguous runs already.
    const flat = reshape(backend, t, [a, m, c]);
    const out = transpose(backend, flat, [2, 1, 0]);
    release(backend, flat);
    const shaped = reshape(backend, out, outShape);
    release(backend, out);
    return shaped;
  }
  const flat = reshape(backend, t, [a, m, c]);
  const t1 = transpose(backend, flat, [1, 0, 2]);
  release(backend, flat);
  const t2 = transpose(backend, t1, [0, 2, 1]);
  release(backend, t1);
  const t3 = transpose(backend, t2, [1, 0, 2]);
  release(backend, t2);
  const out = reshape(backend, t3, outShape);
  release(backend, t3);
  return out;
}

export function slice(backend: WasmBackend, t: TensorInfo, begin: number[], size: number[]): TensorInfo {
  return runKernel(backend, 'Slice', { x: t }, { begin, size });
}

/** Forward NHWC convolution on the XNNPACK-backed wasm `Conv2D`, with explicit paddings (all ≥ 0). */
export function conv2d(
  backend: WasmBackend,
  x: TensorInfo,
  filter: TensorInfo,
  strides: [number, number],
  dilations: [number, number],
  [top, bottom, left, right]: [number, number, number, number],
): TensorInfo {
  const pad: ExplicitPadding = [[0, 0], [top, bottom], [left, right], [0, 0]];
  return runKernel(backend, 'Conv2D', { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap);
}

/**
 * The kernels here are written for NHWC only (the wasm backend's own Conv2D and pools are NHWC-only
 * too). Anything else is refused rather than silently computed in the wrong layout.
 */
export function assertChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`wasm ${kernel}: dataFormat '${String(dataFormat)}' is not supported; only 'NHWC' is.`);
  }
}

export function assertFloat32(kernel: string, ...infos: TensorInfo[]): void {
  for (const t of infos) {
    if (t.dtype !== 'float32') throw new Error(`wasm ${kernel}: dtype '${t.dtype}' is not supported; only 'float32' is.`);
  }
}

export function pair(v: number | number[] | undefined, dflt: number): [number, number] {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  if (v.length === 1) return [v[0]!, v[0]!];
  return [v[0]!, v[1]!];
}

/**
 * The package's own kernels that this registry replaced, by name, so that a replacement can hand
 * the cases it does not speed up back to them. Filled by `registerWasmTrainingKernels`.
 */
export const packageKernels = new Map<string, tf.KernelConfig>();

/** Runs the package's original kernel `name` (see `packageKernels`). */
export function runPackageKernel(backend: WasmBackend, name: string, inputs: Record<string, TensorInfo>, attrs: tf.NamedAttrMap): TensorInfo {
  const config = packageKernels.get(name);
  if (!config) throw new Error(`wasm training kernels: the package's own '${name}' kernel was not captured at registration.`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm training kernels: kernel '${name}' returned ${out.length} outputs, expected one.`);
  return out;
}

/**
 * If `axes` are exactly the leading axes 0..k−1 of `shape` (k < rank, after sorting), the sizes
 * [rows, cols] of the equivalent [rows, cols] → [cols] reduction; otherwise null.
 */
export function leadingAxesReduction(shape: number[], axes: number[]): [number, number] | null {
  const sorted = [...new Set(axes.map((a) => (a < 0 ? a + shape.length : a)))].sort((a, b) => a - b);
  if (sorted.length === 0 || sorted.length >= shape.length) return null;
  if (sorted.some((a, i) => a !== i)) return null;
  const rows = shape.slice(0, sorted.length).reduce((p, s) => p * s, 1);
  const cols = shape.slice(sorted.length).reduce((p, s) => p * s, 1);
  return [rows, cols];
}

/**
 * out[c] = scale · Σ_r src[r·cols + c], accumulated in float64 (more accurate than the package's
 * float32 sums). Rows go in blocks that stay in cache, four columns at a time in registers: a
 * per-element `acc[c] +=` on a typed array is several times slower in V8.
 */
export function sumLeadingRows(src: Float32Array, rows: number, cols: number, out: Float32Array, scale: number): void {
  const acc = new Float64Array(cols);
  const blockRows = Math.max(1, Math.floor(4096 / cols));
  for (let r0 = 0; r0 < rows; r0 += blockRows) {
    const r1 = Math.min(rows, r0 + blockRows);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let r = r0, i = r0 * cols + c; r < r1; r++, i += cols) {
        a0 += src[i]!;
        a1 += src[i + 1]!;
        a2 += src[i + 2]!;
        a3 += src[i + 3]!;
      }
      acc[c] += a0;
      acc[c + 1] += a1;
      acc[c + 2] += a2;
      acc[c + 3] += a3;
    }
    for (; c < cols; c++) {
      let a = 0;
      for (let r = r0, i = r0 * cols + c; r < r1; r++, i += cols) a += src[i]!;
      acc[c] += a;
    }
  }
  for (let c = 0; c < cols; c++) out[c] = acc[c]! * scale;
}

/** A small float32 vector built in JS (per-channel constants: a few hundred values at most). */
export function vector(backend: WasmBackend, values: ArrayLike<number>): TensorInfo {
  const out = backend.makeOutput([values.length], 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).set(values);
  return out;
}

/** A copy of a small float32 tensor's values (a copy: a later allocation may move the heap). */
export function readVector(backend: WasmBackend, t: TensorInfo): Float32Array {
  return (backend.typedArrayFromHeap(t) as Float32Array).slice();
}

/**
 * When `a ⊙ b` is a full float32 tensor with one operand per channel — shape [..., C] against [C]
 * or [1, …, 1, C], C > 1 — which operand is which; otherwise null. The package's binary kernels
 * take a slow generic path for that broadcast (~3× a same-shape op); `perChannel` runs it on
 * XNNPACK instead.
 */
export function channelBroadcast(a: TensorInfo, b: TensorInfo): { full: TensorInfo; vec: TensorInfo; fullFirst: boolean } | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const isVec = (v: TensorInfo, full: TensorInfo) => {
    const c = full.shape[full.shape.length - 1]!;
    return full.shape.length >= 2 && c > 1 && v.shape.length <= full.shape.length && v.shape[v.shape.length - 1] === c &&
      v.shape.slice(0, -1).every((s) => s === 1) && full.shape.slice(0, -1).reduce((p, s) => p * s, 1) > 1;
  };
  if (isVec(b, a)) return { full: a, vec: b, fullFirst: true };
  if (isVec(a, b)) return { full: b, vec: a, fullFirst: false };
  return null;
}

/**
 * out = full · scale[c] + bias[c] per channel (scale or bias may be null), as a 1×1 depthwise
 * convolution: XNNPACK runs that as one pass (its per-channel multiply-add microkernel), about as
 * fast as a same-shape elementwise op. `scale` and `bias` are [C] (any all-ones leading shape).
 */
export function perChannel(backend: WasmBackend, full: TensorInfo, scale: TensorInfo | null, bias: TensorInfo | null): TensorInfo {
  const c = full.shape[full.shape.length - 1]!;
  const pixels = full.shape.slice(0, -1).reduce((p, s) => p * s, 1);
  const x = reshape(backend, full, [1, 1, pixels, c]);
  const ones = scale ? null : vector(backend, new Float32Array(c).fill(1));
  const filter = reshape(backend, scale ?? ones!, [1, 1, c, 1]);
  // The package's FusedDepthwiseConv2D checks the bias buffer's *stored* shape, which a reshaped
  // view does not change: a [1,1,1,C] bias is copied into a [C] one (C values).
  const b = !bias ? null : backend.dataIdMap.get(bias.dataId)!.shape.length === 1 ? reshape(backend, bias, [c]) : vector(backend, readVector(backend, bias));
  const conv = { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
  const y = b
    ? runKernel(backend, 'FusedDepthwiseConv2D', { x, filter, bias: b }, { ...conv, activation: 'linear' } as unknown as tf.NamedAttrMap)
    : runKernel(backend, 'DepthwiseConv2dNative', { x, filter }, conv);
  release(backend, x, ones, filter, b);
  const out = reshape(backend, y, full.shape);
  release(backend, y);
  return out;
}

/** tfjs-core's own gradients that this registry replaced, by kernel name (see `priorGradient`). */
export const priorGradients = new Map<string, tf.GradConfig>();

/** The gradient registered for `name` before this registry's (filled by `registerWasmTrainingKernels`). */
export function priorGradient(name: string): tf.GradConfig & { gradFunc: NonNullable<tf.GradConfig['gradFunc']> } {
  const config = priorGradients.get(name);
  if (!config?.gradFunc) throw new Error(`wasm training kernels: tfjs's own gradient of '${name}' was not captured at registration.`);
  return config as tf.GradConfig & { gradFunc: NonNullable<tf.GradConfig['gradFunc']> };
}

/** The attributes tfjs passes to every convolution kernel here (each adds its own). */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** tfjs's conv2d gradient refuses dilation > 1; accepted here as an extension. */
  dilations?: number | [number, number];
}

/** A forward convolution's geometry (`Conv2D`, `FusedConv2D`), after checking layout and dtype. */
export function forwardConvInfo(kernel: string, x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): tf.backend_util.Conv2DInfo {
  assertChannelsLast(kernel, attrs.dataFormat);
  assertFloat32(kernel, x, filter);
  return tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides, pair(attrs.dilations, 1), attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
}

/**
 * The four convolution kernels' native path, taken while the `onednn` backend is active (see
 * `../onednn.ts`): one oneDNN primitive on views of the wasm heap, no copies. The caller has
 * checked layout (NHWC) and dtype (float32) and computed the convolution's geometry.
 * kind 0: (x, filter) → y; kind 1: (dy, filter) → dx; kind 2: (x, dy) → dW. The output is allocated
 * here and owned by the caller, as any kernel output.
 */
export function onednnConv(
  native: OnednnBinding, backend: WasmBackend, kind: ConvKind, a: TensorInfo, b: TensorInfo, info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  const shape = kind === 0 ? [n, oh, ow, co] : kind === 1 ? [n, h, w, ci] : [kh, kw, ci, co];
  const out = backend.makeOutput(shape, 'float32');
  if (out.shape.some((d) => d === 0)) return out;
  // The views are taken after the output's allocation, which may grow (and move) the heap.
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  // Rows or columns past the last one a window reaches are not padding: oneDNN wants the exact
  // extent, (o − 1)·s + (k − 1)·d + 1 = top + in + bottom.
  const padBottom = (oh - 1) * sh + (kh - 1) * dh + 1 - h - top;
  const padRight = (ow - 1) * sw + (kw - 1) * dw + 1 - w - left;
  native.conv(kind, view(a), view(b), view(out), Int32Array.of(n, h, w, ci, kh, kw, co, oh, ow, sh, sw, dh, dw, top, padBottom, left, padRight));
  return out;
}
