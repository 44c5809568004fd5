import { initBackend, type BackendName } from '../../src/backend/index.js';

process.env.FGSGD_LOG_LEVEL ??= 'silent';

/** Initialise a backend for a test file (wasm by default: the embedded training backend). */
export async function useBackend(name: BackendName = 'wasm') {
  return initBackend(name);
}
