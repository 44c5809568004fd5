/**
 * The WebAssembly module behind FG-SGD's fused update kernels (`kernels/FgsgdBucketStep.ts`,
 * `kernels/FgsgdPlainStep.ts`): native/fgsgd_step.c compiled to native/fgsgd_step.wasm
 * (`npm run build:fused`), instantiated once per wasm backend on the backend's own memory, so that
 * the kernels hand it the byte offsets of tensors on the heap and nothing is copied.
 *
 * The kernels compute what the optimizer's tensor ops compute, in the same float32 order, bit for
 * bit (the C file says how; test/fgsgd/fused_step.test.ts checks it). As tensor ops a cnn-small
 * update runs ~455 kernels, nearly all on a few thousand elements, where each kernel's fixed cost
 * dominates; fused, 28 (`npx tsx bench/profile_update.ts`). The optimizer calls them only where the
 * equality holds (`fusedKinds` in src/fgsgd/optimizer.ts); elsewhere, and on every other backend,
 * it runs the tensor ops.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package_root.js';
import type { TensorInfo, WasmBackend } from './kernels/kernel_utils.js';

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
export function fusedOn(backend: WasmBackend): FusedExports {
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
export function at(backend: WasmBackend, t: TensorInfo | undefined): number {
  return t ? backend.typedArrayFromHeap(t).byteOffset : 0;
}

/** A float32 work tensor of `floats` elements (at least one) on the heap; the caller frees it. */
export function scratch(backend: WasmBackend, floats: number): TensorInfo {
  return backend.makeOutput([Math.max(1, floats)], 'float32');
}
