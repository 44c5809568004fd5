/**
 * Compute-backend selection.
 *
 * `initBackend('auto')` tries, in order, the native CUDA backend (`@tensorflow/tfjs-node-gpu`),
 * WebGPU on a hardware adapter (below), the native CPU backend (`@tensorflow/tfjs-node`),
 * WebAssembly (`@tensorflow/tfjs-backend-wasm`, SIMD, one thread, with this project's training
 * kernels registered) and finally the pure-JS `cpu`
 * backend. It logs which backend was chosen and why each earlier one was skipped.
 *
 * `onednn` is wasm with its convolutions computed natively by oneDNN (`./onednn.ts`). 'auto' never
 * picks it: its weights depend on the CPU's vector width, and the default must give the same weights
 * on every machine.
 *
 * `webgpu` (`@tensorflow/tfjs-backend-webgpu` on Dawn, the `webgpu` package: Vulkan on Linux, Metal
 * on macOS, D3D12 on Windows) comes second in 'auto', on a hardware adapter only. It reports its
 * adapter; a software one (Mesa's llvmpipe/lavapipe, SwiftShader) is correct but slower than
 * wasm: 'auto' skips it, saying why, and naming webgpu uses it with a warning.
 *
 * Naming a backend explicitly never falls back: if it cannot load, the error names the package to
 * install.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { log } from '../log.js';
import { loadOnednnBinding, setOnednn } from './onednn.js';
import { registerWasmTrainingKernels } from './wasm_kernels.js';

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'onednn', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export interface BackendInfo {
  /** The name asked for, after resolving 'auto'. */
  name: ConcreteBackend;
  /** tfjs's own name for the active backend ('tensorflow', 'wasm', 'cpu'; 'wasm' for onednn). */
  tfBackend: string;
  /** Why each earlier candidate was skipped (only for 'auto'). */
  skipped: { name: ConcreteBackend; reason: string }[];
  /** WebGPU: the adapter Dawn chose. */
  adapter?: GpuAdapterInfo;
  /** onednn: the library's version. */
  onednn?: string;
}

export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation of the API (llvmpipe/lavapipe, SwiftShader, or a fallback adapter). */
  software: boolean;
}

const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

/** The npm package that provides each backend. */
export const BACKEND_PACKAGES: Record<ConcreteBackend, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
  onednn: '@tensorflow/tfjs-backend-wasm with oneDNN (build/onednn.node)',
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

/**
 * wasm with its convolutions on oneDNN (`./onednn.ts`). The binding is loaded before wasm so that a
 * missing one fails fast, with what to install.
 */
async function loadOnednn(): Promise<void> {
  try {
    setOnednn(true);
  } catch (e) {
    throw new BackendError(firstLine(e));
  }
  try {
    await loadWasm();
  } catch (e) {
    setOnednn(false);
    throw e;
  }
}

function onednnVersion(): string {
  return loadOnednnBinding().version();
}

let adapterProbe: Promise<GpuAdapterInfo | null> | undefined;

/**
 * The adapter Dawn would give, asked in a child process (its stderr discarded): null when there is
 * none. @throws BackendError when the 'webgpu' package is missing or the probe fails.
 */
async function probeWebgpuAdapter(): Promise<GpuAdapterInfo | null> {
  let url: string;
  try {
    url = pathToFileURL(require.resolve('webgpu')).href;
  } catch (e) {
    throw new BackendError(`backend 'webgpu' needs the optional dependency 'webgpu' (Dawn for Node), which could not be loaded (${firstLine(e)}); run 'npm ci', or choose --backend wasm.`);
  }
  const script = `
    const dawn = await import(${JSON.stringify(url)});
    Object.assign(globalThis, dawn.globals);
    const a = await dawn.create([]).requestAdapter();
    const i = a && a.info;
    process.stdout.write(JSON.stringify(a ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
      fallback: i.isFallbackAdapter === true || a.isFallbackAdapter === true } : null));
    process.exit(0);`;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
    timeout: 20_000,
  }).catch((e: Error) => {
    throw new BackendError(`backend 'webgpu': probing for an adapter failed (${firstLine(e)})`);
  });
  const found = JSON.parse(stdout) as (Omit<GpuAdapterInfo, 'software'> & { fallback: boolean }) | null;
  if (!found) return null;
  const { fallback, ...info } = found;
  return { ...info, software: isSoftwareAdapter(info, fallback) };
}

/** Whether an adapter is a CPU implementation of WebGPU. */
export function isSoftwareAdapter(info: Pick<GpuAdapterInfo, 'vendor' | 'architecture' | 'device' | 'description'>, fallback = false): boolean {
  return fallback || info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader|software/i.test(`${info.vendor} ${info.device} ${info.description}`);
}

let webgpuAdapter: GpuAdapterInfo | undefined;

/**
 * WebGPU through Dawn (the `webgpu` package) and tfjs-backend-webgpu, both optional dependencies.
 * Under 'auto' (`hardwareOnly`) a software adapter is refused before a device is made: it is
 * slower than wasm.
 */
async function loadWebgpu(hardwareOnly = false): Promise<void> {
  if (hardwareOnly) {
    // Look first, from a child process: Dawn writes its driver warnings straight to stderr (two
    // lines on lavapipe), and a run that will not use webgpu should neither show them nor load it.
    // Once per process: the adapter does not change while it runs.
    const probed = await (adapterProbe ??= probeWebgpuAdapter());
    if (probed === null) throw new BackendError(`backend 'webgpu': Dawn found no GPU adapter`);
    if (probed.software) {
      throw new BackendError(`the WebGPU adapter is a software one (${probed.description || probed.device}), slower than wasm; name --backend webgpu to use it anyway`);
    }
  }
  let dawn: { create: (options: string[]) => GPU; globals: Record<string, unknown> };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (e) {
    throw new BackendError(`backend 'webgpu' needs the optional dependency 'webgpu' (Dawn for Node), which could not be loaded (${firstLine(e)}); run 'npm ci', or choose --backend wasm.`);
  }
  const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
  if (!g.navigator?.gpu) {
    // Dawn's Vulkan loader wants a runtime directory; containers often have none.
    process.env.XDG_RUNTIME_DIR ??= tmpdir();
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]);
    if (g.navigator) Object.assign(g.navigator, { gpu });
    else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  const adapter = await g.navigator!.gpu!.requestAdapter();
  if (!adapter) {
    throw new BackendError(`backend 'webgpu': Dawn found no GPU adapter (on Linux it needs a Vulkan driver: the GPU's, or Mesa's lavapipe from mesa-vulkan-drivers); choose --backend wasm.`);
  }
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback = info.isFallbackAdapter === true || (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  webgpuAdapter = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, software: false };
  webgpuAdapter.software = isSoftwareAdapter(webgpuAdapter, fallback);
  if (hardwareOnly && webgpuAdapter.software) {
    throw new BackendError(`the WebGPU adapter is a software one (${info.description || info.device}), slower than wasm; name --backend webgpu to use it anyway`);
  }
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    throw new BackendError(`backend 'webgpu' needs the optional dependency @tensorflow/tfjs-backend-webgpu (${firstLine(e)}); run 'npm ci'.`);
  }
  if (!(await tf.setBackend('webgpu'))) throw new BackendError(`backend 'webgpu': tf.setBackend('webgpu') failed on adapter ${info.description || info.device}.`);
  if (webgpuAdapter.software) log.warn({ adapter: webgpuAdapter }, `backend 'webgpu' on a software adapter (${info.description || info.device}): correct but slower than wasm`);
}

async function loadCpu(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) {
    throw new BackendError(`backend 'cpu' failed to initialise.`);
  }
}

/** Each backend's loader; `auto` is true when 'auto' is trying it (webgpu then wants hardware). */
const LOADERS: Record<ConcreteBackend, (auto: boolean) => Promise<void>> = {
  'tensorflow-gpu': () => loadNative('tensorflow-gpu'),
  tensorflow: () => loadNative('tensorflow'),
  webgpu: (auto) => loadWebgpu(auto),
  onednn: loadOnednn,
  wasm: loadWasm,
  cpu: loadCpu,
};

/**
 * Order that 'auto' tries: CUDA, then WebGPU on a hardware adapter (a GPU through Vulkan, Metal or
 * D3D12; a software adapter is skipped), then the CPU backends.
 */
export const AUTO_ORDER: readonly ConcreteBackend[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

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
      // Only 'onednn' routes wasm's convolutions to oneDNN; every other backend turns that off.
      if (candidate !== 'onednn') setOnednn(false);
      await LOADERS[candidate](asked === 'auto');
      await tf.ready();
      current = {
        name: candidate, tfBackend: tf.getBackend(), skipped,
        ...(candidate === 'webgpu' ? { adapter: webgpuAdapter } : {}),
        ...(candidate === 'onednn' ? { onednn: onednnVersion() } : {}),
      };
      log.info({ backend: candidate, asked, skipped, ...(candidate === 'onednn' ? { onednn: current.onednn } : {}) }, `backend: using '${candidate}'`);
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
