/**
 * `Mean` for wasm: as `Sum` (see Sum.ts), divided by the number of reduced elements. Used by
 * `tf.moments` in batch normalisation; other cases go to the package's kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { reduceLeading } from './Sum.js';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';

export function mean(args: KernelArgs<'x', { axis: number | number[]; keepDims: boolean }>): TensorInfo {
  return reduceLeading(args, 'Mean', true);
}

export const meanConfig: tf.KernelConfig = {
  kernelName: 'Mean',
  backendName: 'wasm',
  kernelFunc: mean as unknown as tf.KernelFunc,
};
