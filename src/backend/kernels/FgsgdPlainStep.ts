/**
 * `FgsgdPlainStep` (wasm and onednn): the plain bucket's Euclidean step with its per-group
 * non-finite check (`updatePlain` of src/fgsgd/optimizer.ts) in one call into
 * native/fgsgd_step.c (`plain_step`). The same numbers as the tensor ops, bit for bit
 * (../fgsgd_step_module.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { at, fusedOn, scratch } from '../fgsgd_step_module.js';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';

export interface PlainStepAttrs {
  numGroups: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  useMomentum: boolean;
  keepBuffer: boolean;
}

/** Outputs: y, skipped (int32 scalar), and the new buffer when `keepBuffer`. */
export function plainStep({ inputs, backend, attrs }: KernelArgs<'x' | 'g' | 'group' | 'groupMask' | 'buffer', PlainStepAttrs>): TensorInfo[] {
  const { x } = inputs;
  const size = tf.util.sizeFromShape(x.shape);
  const y = backend.makeOutput(x.shape, 'float32');
  const skipped = backend.makeOutput([], 'int32');
  const newBuffer = attrs.keepBuffer ? backend.makeOutput(x.shape, 'float32') : undefined;
  const work = scratch(backend, attrs.numGroups);
  const p = (t: TensorInfo | undefined) => at(backend, t);
  fusedOn(backend).plain_step(
    size, p(x), p(inputs.g), p(inputs.group), attrs.numGroups, p(inputs.groupMask),
    attrs.useMomentum ? p(inputs.buffer) : 0, attrs.lr, attrs.momentum, attrs.weightDecay,
    attrs.useMomentum ? 1 : 0, attrs.weightDecay > 0 ? 1 : 0, attrs.keepBuffer ? 1 : 0,
    p(y), p(newBuffer), p(skipped), p(work),
  );
  backend.disposeData(work.dataId);
  return newBuffer ? [y, skipped, newBuffer] : [y, skipped];
}

export const fgsgdPlainStepConfig: tf.KernelConfig = {
  kernelName: 'FgsgdPlainStep',
  backendName: 'wasm',
  kernelFunc: plainStep as unknown as tf.KernelFunc,
};
