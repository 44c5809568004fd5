/**
 * `GatherNd` for wasm, as slice copies on the wasm heap.
 *
 * FG-SGD orders each bucket's weights by manifold type and group with a flat `gatherND` and puts
 * them back with its inverse (src/fgsgd/optimizer.ts), several times per step. A typed-array copy
 * per slice (one element per index row, in that use) is about 1.5× as fast as the package's kernel
 * there (`npx tsx bench/compare_kernels.ts`). A gather only moves values, so the results are the
 * package's bit for bit.
 *
 * out[i, …] = params[indices[i, 0], …, indices[i, K−1], …] (tf.gatherND's semantics); any dtype the
 * wasm heap holds. An index outside `params` is an error that names the index row and the shape
 * (the package's kernel would read past the tensor).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';

type Heap = Float32Array | Int32Array | Uint8Array;

export function gatherNd({ inputs, backend }: KernelArgs<'params' | 'indices', object>): TensorInfo {
  const { params, indices } = inputs;
  if (params.dtype === 'string') throw new Error(`wasm GatherNd: dtype 'string' is not supported.`);
  if (indices.dtype !== 'int32') throw new Error(`wasm GatherNd: indices must be int32, got '${indices.dtype}'.`);
  const [resultShape, numSlices, sliceSize, strides] = tf.backend_util.prepareAndValidate(params as tf.Tensor, indices as tf.Tensor);
  const out = backend.makeOutput(resultShape, params.dtype);
  if (numSlices === 0 || sliceSize === 0) return out;
  const pv = backend.typedArrayFromHeap(params) as Heap;
  const iv = backend.typedArrayFromHeap(indices) as Int32Array;
  const ov = backend.typedArrayFromHeap(out) as Heap;
  const k = indices.shape[indices.shape.length - 1]!;
  // Integer typed arrays keep the index arithmetic in small integers (strides from
  // prepareAndValidate are doubles, and a double index takes V8's slow element access).
  const dims = Int32Array.from(params.shape);
  const stride = Int32Array.from(strides);
  const bad = (i: number) =>
    new Error(`wasm GatherNd: indices row ${i} is [${Array.from(iv.subarray(i * k, i * k + k))}], outside params of shape [${params.shape}].`);
  if (k === 1 && sliceSize === 1) {
    const i = gatherScalars(ov, pv, iv, numSlices, dims[0]!);
    if (i >= 0) throw bad(i);
    return out;
  }
  for (let i = 0; i < numSlices; i++) {
    let flat = 0;
    for (let j = 0; j < k; j++) {
      const d = iv[i * k + j]!;
      if (d < 0 || d >= dims[j]!) throw bad(i);
      flat += d * stride[j]!;
    }
    const from = flat * sliceSize;
    ov.set(pv.subarray(from, from + sliceSize), i * sliceSize);
  }
  return out;
}

/** out[i] = params[indices[i]] for i < n; returns the first row whose index is outside [0, limit), or −1. */
function gatherScalars(out: Heap, params: Heap, indices: Int32Array, n: number, limit: number): number {
  for (let i = 0; i < n; i++) {
    const d = indices[i]!;
    if (d < 0 || d >= limit) return i;
    out[i] = params[d]!;
  }
  return -1;
}

export const gatherNdConfig: tf.KernelConfig = {
  kernelName: 'GatherNd',
  backendName: 'wasm',
  kernelFunc: gatherNd as unknown as tf.KernelFunc,
};
