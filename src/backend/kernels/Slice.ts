/**
 * `Slice` for wasm, as run copies between views of the wasm heap.
 *
 * The package's kernel first copies the whole input out of the heap (`readSync`) for every slice,
 * however small; FG-SGD slices each bucket by manifold type and splits its flat vectors by
 * variable (`SplitV.ts`) every step. Here the input is read in place: the output is the
 * input's runs along the innermost axes the slice keeps whole, copied one `set` each (or element
 * by element when short: the columns of a batch of small matrices, say). Values are
 * only moved, so the results are the package's bit for bit. Strings go to the package's kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { runPackageKernel, type KernelArgs, type TensorInfo } from './kernel_utils.js';

type Heap = Float32Array | Int32Array | Uint8Array;
/** Runs shorter than this are copied element by element (a `set` of a `subarray` costs more). */
export const SHORT_RUN = 32;
export interface SliceAttrs {
  begin: number | number[];
  size: number | number[];
}

export function slice({ inputs, backend, attrs }: KernelArgs<'x', SliceAttrs>): TensorInfo {
  const { x } = inputs;
  if (x.dtype === 'string') return runPackageKernel(backend, 'Slice', inputs, attrs as unknown as tf.NamedAttrMap);
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, attrs.begin, attrs.size);
  tf.slice_util.assertParamsValid(x as tf.TensorInfo as tf.Tensor, begin, size);
  const out = backend.makeOutput(size, x.dtype);
  const total = tf.util.sizeFromShape(size);
  if (total === 0) return out;
  const xv = backend.typedArrayFromHeap(x) as Heap;
  const ov = backend.typedArrayFromHeap(out) as Heap;
  const shape = x.shape;
  const rank = shape.length;
  if (rank === 0) {
    ov[0] = xv[0]!;
    return out;
  }
  // Axes k+1.. are kept whole, so each run is size[k]·(their extent) contiguous elements.
  let k = rank - 1;
  let inner = 1;
  while (k > 0 && size[k] === shape[k]) inner *= shape[k--]!;
  const run = size[k]! * inner;
  const stride = new Array<number>(rank);
  stride[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) stride[i] = stride[i + 1]! * shape[i + 1]!;
  let base = 0;
  for (let i = 0; i < rank; i++) base += begin[i]! * stride[i]!;
  // Odometer over axes 0..k−1 of the output.
  const idx = new Array<number>(k).fill(0);
  let from = base;
  for (let o = 0; o < total; o += run) {
    if (run < SHORT_RUN) for (let e = 0; e < run; e++) ov[o + e] = xv[from + e]!;
    else ov.set(xv.subarray(from, from + run), o);
    let a = k - 1;
    while (a >= 0) {
      from += stride[a]!;
      if (++idx[a]! < size[a]!) break;
      from -= idx[a]! * stride[a]!;
      idx[a] = 0;
      a--;
    }
  }
  return out;
}

export const sliceConfig: tf.KernelConfig = {
  kernelName: 'Slice',
  backendName: 'wasm',
  kernelFunc: slice as unknown as tf.KernelFunc,
};
