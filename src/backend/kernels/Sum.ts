/**
 * `Sum` for wasm, fast for reductions over the leading axes (the batch-norm gradients' sums over
 * N, H, W of NHWC tensors). The package's `Sum` first transposes the reduced axes innermost, a
 * strided full copy, then sums. Here a [rows, C] → [C] reduction is two XNNPACK average poolings
 * (rows = r2·r1: windows of r1 ≈ √rows, then of r2; each level's float32 partial sums stay short,
 * so the result is as accurate as a pairwise sum), ~5× faster than the package; the mean is then
 * scaled back to a sum. Small inputs are summed in JS in float64 (`sumLeadingRows`). Other axis
 * sets, and non-float32 inputs, go to the package's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { util } from '@tensorflow/tfjs';
import {
  leadingAxesReduction, release, reshape, runKernel, runPackageKernel, sumLeadingRows, type KernelArgs, type TensorInfo, type WasmBackend,
} from './kernel_utils.js';

interface Attrs { axis: number | number[]; keepDims: boolean }

export function sum(args: KernelArgs<'x', Attrs>): TensorInfo {
  return reduceLeading(args, 'Sum', false);
}

/** Shared with `Mean` (`mean` = true divides by the number of rows). */
export function reduceLeading({ inputs, backend, attrs }: KernelArgs<'x', Attrs>, name: 'Sum' | 'Mean', mean: boolean): TensorInfo {
  const { x } = inputs;
  const { axis, keepDims } = attrs;
  const axes = util.parseAxisParam(axis, x.shape);
  const split = x.dtype === 'float32' ? leadingAxesReduction(x.shape, axes) : null;
  if (!split) return runPackageKernel(backend, name, inputs, attrs as unknown as tf.NamedAttrMap);
  const [rows, cols] = split;
  const outShape = keepDims ? x.shape.map((s, i) => (axes.includes(i) ? 1 : s)) : x.shape.slice(axes.length);
  if (rows * cols < POOL_MIN_SIZE || rows < 4) {
    const out = backend.makeOutput(outShape, 'float32');
    sumLeadingRows(backend.typedArrayFromHeap(x) as Float32Array, rows, cols, backend.typedArrayFromHeap(out) as Float32Array, mean ? 1 / rows : 1);
    return out;
  }
  const avg = averageRows(backend, x, rows, cols);
  if (mean) {
    const out = reshape(backend, avg, outShape);
    release(backend, avg);
    return out;
  }
  const out = backend.makeOutput(outShape, 'float32');
  const a = backend.typedArrayFromHeap(avg) as Float32Array;
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  for (let c = 0; c < cols; c++) o[c] = a[c]! * rows;
  release(backend, avg);
  return out;
}

/** Below this many elements the JS loop beats two kernel calls. */
const POOL_MIN_SIZE = 1 << 14;

/** Mean over rows of x viewed as [rows, cols], as [1, 1, 1, cols], by two XNNPACK average poolings. */
function averageRows(backend: WasmBackend, x: TensorInfo, rows: number, cols: number): TensorInfo {
  // Largest divisor r1 ≤ √rows: the first pooling averages runs of r1 rows, the second r2 of those.
  let r1 = Math.floor(Math.sqrt(rows));
  while (rows % r1 !== 0) r1--;
  const r2 = rows / r1;
  const pool = (t: TensorInfo, window: [number, number]) =>
    runKernel(backend, 'AvgPool', { x: t }, { filterSize: window, strides: window, pad: 'valid' } as unknown as tf.NamedAttrMap);
  const grid = reshape(backend, x, [1, r2, r1, cols]);
  const partial = pool(grid, [1, r1]);
  release(backend, grid);
  const avg = pool(partial, [r2, 1]);
  release(backend, partial);
  return avg;
}

export const sumConfig: tf.KernelConfig = {
  kernelName: 'Sum',
  backendName: 'wasm',
  kernelFunc: sum as unknown as tf.KernelFunc,
};
