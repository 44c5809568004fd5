import { initBackend, type BackendInfo, type BackendName } from '../../src/backend/index.js';

process.env.FGSGD_LOG_LEVEL ??= 'silent';

/** Initialise a backend for a test file (wasm by default: the embedded training backend). */
export async function useBackend(name: BackendName = 'wasm') {
  return initBackend(name);
}

/**
 * Initialise webgpu if this machine has an adapter (a GPU, or lavapipe as `.ci/run` installs it).
 * Returns the backend's info, or why there is none, for the test's stated skip.
 */
export async function tryWebgpu(): Promise<{ info?: BackendInfo; why: string }> {
  try {
    return { info: await initBackend('webgpu'), why: '' };
  } catch (e) {
    return { why: (e as Error).message };
  }
}
