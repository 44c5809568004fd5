/**
 * Training kernels for the wasm backend, in one registry. (Filled in below.)
 */
import * as tf from '@tensorflow/tfjs';

export const WASM_TRAINING_KERNELS: tf.KernelConfig[] = [];

let registered = false;
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const k of WASM_TRAINING_KERNELS) {
    if (tf.getKernel(k.kernelName, 'wasm')) tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
  }
  registered = true;
}
