/**
 * `Unpack` (tf.unstack) for wasm: one slice per index along the axis with this folder's `Slice`,
 * which reads the heap in place (the package's `Unpack` calls its own `Slice`, which copies the
 * whole input out of the heap once per output). The Stiefel QR retraction unstacks the columns
 * of every component this way each step.
 */
import type * as tf from '@tensorflow/tfjs';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';
import { slice } from './Slice.js';

export function unpack({ inputs, backend, attrs }: KernelArgs<'value', { axis: number }>): TensorInfo[] {
  const { value } = inputs;
  const rank = value.shape.length;
  const axis = attrs.axis < 0 ? attrs.axis + rank : attrs.axis;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const size = [...value.shape];
  size[axis] = 1;
  return Array.from({ length: value.shape[axis]! }, (_, i) => {
    const begin = new Array<number>(rank).fill(0);
    begin[axis] = i;
    const part = slice({ inputs: { x: value }, backend, attrs: { begin, size } });
    // A slice's buffer holds its elements in order, so dropping the unit axis is a relabelling.
    return { dataId: part.dataId, dtype: part.dtype, shape: outShape };
  });
}

export const unpackConfig: tf.KernelConfig = {
  kernelName: 'Unpack',
  backendName: 'wasm',
  kernelFunc: unpack as unknown as tf.KernelFunc,
};
