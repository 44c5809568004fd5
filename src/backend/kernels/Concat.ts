/**
 * `Concat` for wasm: the package's algorithm (per leading index, each input's block along the axis
 * and the axes after it, in input order), with short blocks copied element by element. The
 * package copies every block with a `set` of a fresh `subarray`, which costs more than the copy
 * itself when blocks are a few elements long: the Stiefel QR retraction concatenates the rows of
 * a batch of small matrices each step. Values are only moved, so results are the package's bit
 * for bit. Strings, a single non-empty input, and blocks all long enough for `set`, go to the
 * package's kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { runPackageKernel, type TensorInfo, type WasmBackend } from './kernel_utils.js';
import { SHORT_RUN } from './Slice.js';

type Heap = Float32Array | Int32Array | Uint8Array;

export function concat({ inputs, backend, attrs }: { inputs: TensorInfo[]; backend: WasmBackend; attrs: { axis: number | number[] } }): TensorInfo {
  const size = tf.util.sizeFromShape;
  const nonEmpty = inputs.filter((t) => size(t.shape) > 0);
  const axis = tf.util.parseAxisParam(attrs.axis, inputs[0]!.shape)[0]!;
  const inner = nonEmpty.map((t) => size(t.shape.slice(axis)));
  if (nonEmpty.length <= 1 || nonEmpty[0]!.dtype === 'string' || inner.every((n) => n >= SHORT_RUN)) {
    return runPackageKernel(backend, 'Concat', inputs as unknown as Record<string, TensorInfo>, attrs as unknown as tf.NamedAttrMap);
  }
  tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
  const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  const out = backend.makeOutput(outShape, inputs[0]!.dtype);
  const outer = size(nonEmpty[0]!.shape.slice(0, axis));
  const width = inner.reduce((a, b) => a + b, 0);
  const ov = backend.typedArrayFromHeap(out) as Heap;
  nonEmpty.forEach((t, i) => {
    const iv = backend.typedArrayFromHeap(t) as Heap;
    const n = inner[i]!;
    let at = inner.slice(0, i).reduce((a, b) => a + b, 0);
    for (let b = 0; b < outer; b++, at += width) {
      const from = b * n;
      if (n < SHORT_RUN) for (let e = 0; e < n; e++) ov[at + e] = iv[from + e]!;
      else ov.set(iv.subarray(from, from + n), at);
    }
  });
  return out;
}

export const concatConfig: tf.KernelConfig = {
  kernelName: 'Concat',
  backendName: 'wasm',
  kernelFunc: concat as unknown as tf.KernelFunc,
};
