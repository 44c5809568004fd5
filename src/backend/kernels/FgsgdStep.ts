/**
 * FG-SGD's update as two fused kernels on the wasm heap (the `wasm` and `onednn` backends):
 * - `FgsgdBucketStep`: one bucket of src/fgsgd/optimizer.ts (`updateBucket`), every slice of it:
 *   Algorithm 1 (`riemannianStep` of src/fgsgd/rule.ts) on ℜ-scaled sphere, oblique and Stiefel
 *   (QR retraction) components, and the plain step on Euclidean ones, reading the components
 *   straight from the members' flat variables and gradients through the bucket's permutation;
 * - `FgsgdPlainStep`: the plain bucket's Euclidean step with its per-group non-finite check
 *   (`updatePlain`).
 *
 * They are native/fgsgd_step.c compiled to WebAssembly (native/fgsgd_step.wasm, rebuilt by
 * `npm run build:fused`). The module imports the backend's own memory and is handed the byte
 * offsets of the tensors, so nothing is copied. As tensor ops a cnn-small update runs ~455
 * kernels, nearly all on a few thousand elements, where each kernel's fixed cost dominates; fused,
 * 28 (`npx tsx bench/profile_update.ts`).
 *
 * Same numbers: each output is the tensor ops' float32 arithmetic in the same order, bit for bit
 * (the C file says how; test/fgsgd/fused_step.test.ts checks it against the tensor ops). The
 * optimizer calls these only where that holds (`fusedKinds` in optimizer.ts); elsewhere, and on
 * every other backend, it runs the tensor ops.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../package_root.js';
import type { KernelArgs, TensorInfo, WasmBackend } from './kernel_utils.js';

export const FUSED_WASM_PATH = join(PACKAGE_ROOT, 'native', 'fgsgd_step.wasm');
export const FUSED_KINDS = { sphere: 0, oblique: 1, stiefel: 2, euclidean: 3 } as const;
export type FusedKind = keyof typeof FUSED_KINDS;

interface FusedExports {
  riemann_step(...args: number[]): void;
  plain_step(...args: number[]): void;
}

/** The few WebAssembly globals used here (the project's TypeScript lib has no DOM types). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WA = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

let compiled: object | undefined;
const instances = new WeakMap<object, FusedExports>();

/** The module instantiated on `backend`'s memory (once per backend). */
function fusedOn(backend: WasmBackend): FusedExports {
  let inst = instances.get(backend);
  if (!inst) {
    compiled ??= new WA.Module(readFileSync(FUSED_WASM_PATH));
    const memory = (backend.wasm as unknown as { asm: { memory: object } }).asm.memory;
    inst = new WA.Instance(compiled, { env: { memory } }).exports as unknown as FusedExports;
    instances.set(backend, inst);
  }
  return inst;
}

/** Byte offset of a tensor's data on the heap; 0 (a null pointer) for an absent input. */
function at(backend: WasmBackend, t: TensorInfo | undefined): number {
  return t ? backend.typedArrayFromHeap(t).byteOffset : 0;
}

function scratch(backend: WasmBackend, floats: number): TensorInfo {
  return backend.makeOutput([Math.max(1, floats)], 'float32');
}

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
export function FUSED_SCRATCH_FLOATS(count: number, numGroups: number, rows: number, cols: number): number {
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
  const work = scratch(backend, Math.max(...slices.map((s) => FUSED_SCRATCH_FLOATS(s.count, s.numGroups, rows, cols))));
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

export const bucketStepConfig: tf.KernelConfig = {
  kernelName: 'FgsgdBucketStep',
  backendName: 'wasm',
  kernelFunc: bucketStep as unknown as tf.KernelFunc,
};

export const plainStepConfig: tf.KernelConfig = {
  kernelName: 'FgsgdPlainStep',
  backendName: 'wasm',
  kernelFunc: plainStep as unknown as tf.KernelFunc,
};
