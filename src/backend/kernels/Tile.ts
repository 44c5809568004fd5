/**
 * `Tile` for wasm, as block copies on the wasm heap.
 *
 * The package's `Tile` computes a multi-index per output element; on the batch-norm gradient's
 * tile of a [1,1,1,C] vector to [N,H,W,C] (tfjs-core's `FusedBatchNorm` gradient does one per
 * layer) it costs ~100 ns per element, the largest single cost of a ResNet-20 step. Here each
 * input row is copied once and every replication is a `copyWithin` of an already-filled block,
 * doubling its length each time, so the work is a few memmoves of the output.
 *
 * out[i_0, …, i_{r−1}] = x[i_0 mod s_0, …, i_{r−1} mod s_{r−1}], shape s_k·reps_k; any dtype the
 * wasm heap holds (float32, int32, bool).
 */
import type * as tf from '@tensorflow/tfjs';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';

type Heap = Float32Array | Int32Array | Uint8Array;

/** Copies out[off, off+len) after itself until it fills out[off, off+len·times). */
function replicate(out: Heap, off: number, len: number, times: number): void {
  const total = len * times;
  let filled = len;
  while (filled < total) {
    const n = Math.min(filled, total - filled);
    out.copyWithin(off + filled, off, off + n);
    filled += n;
  }
}

export function tile({ inputs, backend, attrs }: KernelArgs<'x', { reps: number[] }>): TensorInfo {
  const { x } = inputs;
  const { reps } = attrs;
  if (x.dtype === 'string') throw new Error(`wasm Tile: dtype 'string' is not supported.`);
  const shape = x.shape;
  const rank = shape.length;
  if (reps.length !== rank) throw new Error(`wasm Tile: reps [${reps}] must have one entry per axis of [${shape}].`);
  const outShape = shape.map((s, i) => s * reps[i]!);
  const out = backend.makeOutput(outShape, x.dtype);
  if (outShape.some((s) => s === 0)) return out;
  if (rank === 0) {
    (backend.typedArrayFromHeap(out) as Heap).set(backend.typedArrayFromHeap(x) as Heap);
    return out;
  }
  const xv = backend.typedArrayFromHeap(x) as Heap;
  const ov = backend.typedArrayFromHeap(out) as Heap;
  const xStride = new Array<number>(rank);
  const oStride = new Array<number>(rank);
  xStride[rank - 1] = 1;
  oStride[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) {
    xStride[i] = xStride[i + 1]! * shape[i + 1]!;
    oStride[i] = oStride[i + 1]! * outShape[i + 1]!;
  }
  const last = shape[rank - 1]!;
  // Fills the block of `out` that holds x's sub-tensor at `xOff` along axes ≥ dim, then repeats it.
  const fill = (dim: number, xOff: number, oOff: number): void => {
    if (dim === rank - 1) {
      ov.set(xv.subarray(xOff, xOff + last), oOff);
      replicate(ov, oOff, last, reps[dim]!);
      return;
    }
    for (let i = 0; i < shape[dim]!; i++) fill(dim + 1, xOff + i * xStride[dim]!, oOff + i * oStride[dim]!);
    replicate(ov, oOff, shape[dim]! * oStride[dim]!, reps[dim]!);
  };
  fill(0, 0, 0);
  return out;
}

export const tileConfig: tf.KernelConfig = {
  kernelName: 'Tile',
  backendName: 'wasm',
  kernelFunc: tile as unknown as tf.KernelFunc,
};
