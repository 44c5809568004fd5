/**
 * Compute-backend selection.
 *
 * `initBackend('auto')` tries, in order, the native CUDA backend (`@tensorflow/tfjs-node-gpu`),
 * the native CPU backend (`@tensorflow/tfjs-node`), WebAssembly (`@tensorflow/tfjs-backend-wasm`,
 * SIMD, one thread, with this project's training kernels registered) and finally the pure-JS `cpu`
 * backend. It logs which backend was chosen and why each earlier one was skipped.
 *
 * Naming a backend explicitly never falls back: if it cannot load, the error names the package to
 * install.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { log } from '../log.js';
import { registerWasmTrainingKernels } from './wasm_kernels.js';

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export interface BackendInfo {
  /** The name asked for, after resolving 'auto'. */
  name: ConcreteBackend;
  /** tfjs's own name for the active backend ('tensorflow', 'wasm', 'cpu'). */
  tfBackend: string;
  /** Why each earlier candidate was skipped (only for 'auto'). */
  skipped: { name: ConcreteBackend; reason: string }[];
}

const require = createRequire(import.meta.url);

/** The npm package that provides each backend. */
export const BACKEND_PACKAGES: Record<ConcreteBackend, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs',
};

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0]!;
}

async function loadNative(name: 'tensorflow-gpu' | 'tensorflow'): Promise<void> {
  const pkg = BACKEND_PACKAGES[name];
  try {
    // The native packages register the 'tensorflow' backend on import. They bundle their own
    // copy of tfjs-core only as a peer, so they share the tfjs instance imported above.
    require(pkg);
  } catch (e) {
    throw new BackendError(
      `backend '${name}' needs ${pkg}, which could not be loaded (${firstLine(e)}). ` +
        `Install it with 'npm install ${pkg}' on a machine that can download libtensorflow` +
        (name === 'tensorflow-gpu' ? ', with CUDA and cuDNN installed' : '') +
        `, or choose --backend wasm.`,
    );
  }
  if (name === 'tensorflow-gpu') {
    // tfjs-node-gpu falls back to CPU silently when CUDA is missing; detect that and refuse,
    // so 'tensorflow-gpu' always means a GPU.
    const gpus = await listGpus();
    if (gpus === 0) {
      throw new BackendError(
        `backend 'tensorflow-gpu' loaded ${pkg} but TensorFlow sees no GPU device ` +
          `(check the CUDA driver and 'nvidia-smi'), or choose --backend tensorflow.`,
      );
    }
  }
  if (!(await tf.setBackend('tensorflow'))) {
    throw new BackendError(`backend '${name}': ${pkg} loaded but tf.setBackend('tensorflow') failed.`);
  }
}

/**
 * Number of GPU devices TensorFlow's native runtime uses, 0 when none or unknown.
 * tfjs-node's backend exposes `isUsingGpuDevice` (a boolean, set from its binding at start-up).
 */
async function listGpus(): Promise<number> {
  const backend = tf.findBackend('tensorflow') as unknown as {
    isUsingGpuDevice?: boolean;
    binding?: { isUsingGpuDevice?: () => boolean };
  } | null;
  try {
    return backend?.isUsingGpuDevice === true || backend?.binding?.isUsingGpuDevice?.() === true ? 1 : 0;
  } catch {
    return 0;
  }
}

async function loadWasm(): Promise<void> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    throw new BackendError(
      `backend 'wasm' needs @tensorflow/tfjs-backend-wasm (${firstLine(e)}); run 'npm ci'.`,
    );
  }
  // The threaded wasm build fails under Node's workers; the SIMD build on one thread works.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) {
    throw new BackendError(`backend 'wasm' failed to initialise its WebAssembly module.`);
  }
}

async function loadCpu(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) {
    throw new BackendError(`backend 'cpu' failed to initialise.`);
  }
}

const LOADERS: Record<ConcreteBackend, () => Promise<void>> = {
  'tensorflow-gpu': () => loadNative('tensorflow-gpu'),
  tensorflow: () => loadNative('tensorflow'),
  wasm: loadWasm,
  cpu: loadCpu,
};

/** Order that 'auto' tries. */
export const AUTO_ORDER: readonly ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export function parseBackendName(name: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new BackendError(`unknown backend '${name}'; valid names: ${BACKEND_NAMES.join(', ')}.`);
}

let current: BackendInfo | undefined;

/**
 * Select and initialise a compute backend. Safe to call again: it switches backends.
 * @throws BackendError for an unknown name, or a named backend that cannot load.
 */
export async function initBackend(name: BackendName | string = 'auto'): Promise<BackendInfo> {
  const asked = parseBackendName(name);
  const skipped: BackendInfo['skipped'] = [];
  const candidates = asked === 'auto' ? AUTO_ORDER : [asked];
  for (const candidate of candidates) {
    try {
      await LOADERS[candidate]();
      await tf.ready();
      current = { name: candidate, tfBackend: tf.getBackend(), skipped };
      log.info({ backend: candidate, asked, skipped }, `backend: using '${candidate}'`);
      return current;
    } catch (e) {
      if (asked !== 'auto') throw e;
      const reason = firstLine(e);
      skipped.push({ name: candidate, reason });
      log.info({ backend: candidate, reason }, `backend: skipping '${candidate}'`);
    }
  }
  throw new BackendError(`no backend could be loaded: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/** The backend chosen by the last `initBackend`, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}
