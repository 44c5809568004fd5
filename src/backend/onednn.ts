/**
 * oneDNN convolutions for the wasm backend: the `onednn` backend.
 *
 * `--backend onednn` is the wasm backend (its heap, its kernels, this project's training kernels)
 * with its four convolution kernels, `Conv2D`, `FusedConv2D`, `Conv2DBackpropInput` and
 * `Conv2DBackpropFilter`, computed natively by oneDNN (Intel's deep-learning primitives library, the one PyTorch's CPU
 * convolutions use). The binding (`native/onednn.cc`, built into
 * `build/onednn.node` by `npm ci` where oneDNN's headers and a C++ compiler are present) reads and
 * writes the wasm heap in place, so no tensor is copied.
 *
 * Convolutions are most of a conv net's step on wasm (76% of a cnn-small step), and oneDNN runs
 * them with the CPU's widest vectors (AVX2, AVX-512), where wasm has 128-bit SIMD. The rest of the
 * step (pooling, batch norm, element-wise ops, the optimizer) stays on wasm.
 *
 * One engine computes on one thread, its own: more cores are used by more engines (`--workers N`:
 * data-parallel replicas, each on onednn). oneDNN's OpenMP threads inside one engine are not used;
 * with 2 of them, oneDNN 2.6 corrupted the process heap now and then (native/onednn.cc).
 *
 * Numbers: oneDNN sums in another order than XNNPACK, and its kernels depend on the CPU's vector
 * width, so a run on `onednn` is deterministic for a given machine (and `--workers`) but does not
 * reproduce a `wasm` run's weights bit for bit. That is why 'auto' never
 * picks it: a command line with the default backend gives the same weights on every machine.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package_root.js';

export interface OnednnBinding {
  conv(kind: ConvKind, a: Float32Array, b: Float32Array, out: Float32Array, params: Int32Array): void;
  version(): string;
}

/** 0: forward (x, w → y); 1: backward data (dy, w → dx); 2: backward weights (x, dy → dw). */
export type ConvKind = 0 | 1 | 2;

export const ONEDNN_BINDING_PATH = join(PACKAGE_ROOT, 'build', 'onednn.node');

/** How to get the binding, for error messages. */
export const ONEDNN_BUILD_HINT =
  "it is built by 'npm ci' (or 'npm run build:native') where oneDNN's headers and a C++ compiler are installed: on Debian or Ubuntu, 'apt-get install libdnnl-dev g++'";

let binding: OnednnBinding | undefined;
let loadError: string | undefined;

/** The binding, loaded once; throws with what to do when it is missing or cannot load. */
export function loadOnednnBinding(): OnednnBinding {
  if (binding) return binding;
  if (loadError) throw new Error(loadError);
  if (!existsSync(ONEDNN_BINDING_PATH)) {
    loadError = `backend 'onednn' needs the native binding ${ONEDNN_BINDING_PATH}, which is missing; ${ONEDNN_BUILD_HINT}`;
    throw new Error(loadError);
  }
  try {
    binding = createRequire(import.meta.url)(ONEDNN_BINDING_PATH) as OnednnBinding;
  } catch (e) {
    loadError = `backend 'onednn': ${ONEDNN_BINDING_PATH} could not be loaded (${String(e instanceof Error ? e.message : e).split('\n')[0]}); rebuild it with 'npm run build:native' (it needs libdnnl.so.2: 'apt-get install libdnnl-dev')`;
    throw new Error(loadError);
  }
  return binding;
}

/** The binding while the `onednn` backend is active, else undefined (the wasm kernels run). */
let active: OnednnBinding | undefined;

export function activeOnednn(): OnednnBinding | undefined {
  return active;
}

/**
 * Turns oneDNN's convolutions on or off. Called by `initBackend`: on for 'onednn', off for every
 * other backend. @throws when turning on and the binding cannot load.
 */
export function setOnednn(on: boolean): void {
  active = on ? loadOnednnBinding() : undefined;
}
