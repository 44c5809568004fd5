/**
 * `SplitV` for wasm: consecutive slices along the axis with this folder's `Slice`, which reads
 * the heap in place (the package's `SplitV` calls its own `Slice`, which copies the whole input
 * out of the heap once per part).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';
import { slice } from './Slice.js';

export function splitV({ inputs, backend, attrs }: KernelArgs<'x', { numOrSizeSplits: number | number[]; axis: number | number[] }>): TensorInfo[] {
  const { x } = inputs;
  const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, attrs.numOrSizeSplits, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const part = slice({ inputs: { x }, backend, attrs: { begin: [...begin], size } });
    begin[axis]! += s;
    return part;
  });
}

export const splitVConfig: tf.KernelConfig = {
  kernelName: 'SplitV',
  backendName: 'wasm',
  kernelFunc: splitV as unknown as tf.KernelFunc,
};
