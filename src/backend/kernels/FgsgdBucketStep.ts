/**
 * `FgsgdBucketStep` (wasm and onednn): one bucket of src/fgsgd/optimizer.ts (`updateBucket`),
 * every slice of it, in one call into native/fgsgd_step.c (`riemann_step` per slice): Algorithm 1
 * (`riemannianStep` of src/fgsgd/rule.ts) on ℜ-scaled sphere, oblique and Stiefel (QR retraction)
 * components, and the plain step on Euclidean ones. It reads the components straight from the
 * members' flat variables and gradients through the bucket's permutation, so no gathers run. The
 * same numbers as the tensor ops, bit for bit (../fgsgd_step_module.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { at, FUSED_KINDS, fusedOn, scratch, type FusedKind } from '../fgsgd_step_module.js';
import type { KernelArgs, TensorInfo } from './kernel_utils.js';

/** One slice of a bucket: its manifold kind, first component, and sizes. */
export interface BucketSlice {
  kind: FusedKind;
  start: number;
  count: number;
  numGroups: number;
}

/**
 * Floats of scratch `riemann_step` needs for a slice: two per group, then four lanes of: d for
 * every component (rounded up to whole blocks of four), six matrices, four vectors, and the Stiefel
 * work space.
 */
export function bucketScratchFloats(count: number, numGroups: number, rows: number, cols: number): number {
  const m = rows * cols;
  return 2 * numGroups + 4 * (Math.ceil(count / 4) * m + 6 * m + 4 + Math.max(2 * cols * cols, cols * rows + 2 * rows + cols));
}

export interface BucketStepAttrs {
  rows: number;
  cols: number;
  slices: BucketSlice[];
  lr: number;
  momentum: number;
  weightDecay: number;
  adaptive: boolean;
}

/**
 * A whole bucket (src/fgsgd/optimizer.ts `updateBucket`) in one call. Inputs: `x` and `g`, the
 * members' variables and raw gradients flat and concatenated; `index`, the bucket's flatIndex
 * ([size, 1] int32); per slice i, `radius{i}` and `seg{i}` (and `buffer{i}`, `present{i}`,
 * `invRadiusSq{i}`, `rho{i}`, `curv{i}` where the tensor path has them; Euclidean slices take
 * none of the radius inputs). Outputs: the new flat variables, the number of skipped groups
 * (int32 scalar), then each slice's new buffer when momentum > 0.
 */
export function bucketStep({ inputs, backend, attrs }: KernelArgs<string, BucketStepAttrs>): TensorInfo[] {
  const { x, g, index } = inputs as Record<string, TensorInfo>;
  const { rows, cols, slices } = attrs;
  const y = backend.makeOutput(x!.shape, 'float32');
  const skipped = backend.makeOutput([], 'int32');
  (backend.typedArrayFromHeap(skipped) as Int32Array)[0] = 0;
  const keepBuffer = attrs.momentum > 0;
  const buffers = keepBuffer ? slices.map((s) => backend.makeOutput([s.count, rows, cols], 'float32')) : [];
  const work = scratch(backend, Math.max(...slices.map((s) => bucketScratchFloats(s.count, s.numGroups, rows, cols))));
  const p = (t: TensorInfo | undefined) => at(backend, t);
  const fused = fusedOn(backend);
  const index0 = p(index);
  slices.forEach((s, i) => {
    const input = (name: string) => inputs[`${name}${i}`];
    const buffer = input('buffer');
    fused.riemann_step(
      FUSED_KINDS[s.kind], s.count, rows, cols, p(x), p(g), index0 + 4 * s.start * rows * cols,
      p(buffer), p(input('present')), p(input('radius')), p(input('invRadiusSq')), p(input('seg')), s.numGroups,
      p(input('rho')), p(input('curv')), attrs.lr, attrs.momentum, attrs.weightDecay,
      attrs.momentum > 0 && buffer ? 1 : 0, attrs.adaptive ? 1 : 0, keepBuffer ? 1 : 0,
      p(y), p(buffers[i]), p(skipped), p(work),
    );
  });
  backend.disposeData(work.dataId);
  return [y, skipped, ...buffers];
}

export const fgsgdBucketStepConfig: tf.KernelConfig = {
  kernelName: 'FgsgdBucketStep',
  backendName: 'wasm',
  kernelFunc: bucketStep as unknown as tf.KernelFunc,
};
