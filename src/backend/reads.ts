/**
 * Whether the active backend can read tensor values back synchronously (`dataSync`).
 *
 * WebGPU cannot in Node: its synchronous read-back goes through `OffscreenCanvas`, which Node does
 * not have, and on any platform it stalls the GPU queue. Code that decides something from a value
 * while it computes (an iteration's stopping test) asks this first and, where it is false, runs a
 * fixed, data-independent schedule instead; code that reads results reads them with `await
 * t.data()`.
 */
import * as tf from '@tensorflow/tfjs';

/** tfjs backends whose values can only be read asynchronously. */
export const ASYNC_READ_BACKENDS: ReadonlySet<string> = new Set(['webgpu']);

export function readsSynchronously(): boolean {
  return !ASYNC_READ_BACKENDS.has(tf.getBackend());
}

/** A tensor's values read back: dtype, shape and a typed array (checkpoints, digests, states). */
export type TensorData = { dtype: 'float32' | 'int32'; shape: number[]; data: Float32Array | Int32Array };

/** Read tensors back as typed arrays, by name, and dispose them (also when a read fails). */
export async function readTensors(tensors: Record<string, tf.Tensor>): Promise<Record<string, TensorData>> {
  try {
    const read = await Promise.all(Object.values(tensors).map((t) => t.data()));
    return Object.fromEntries(
      Object.entries(tensors).map(([name, t], i) => [
        name,
        { dtype: t.dtype === 'int32' ? 'int32' : 'float32', shape: [...t.shape], data: read[i] as Float32Array | Int32Array },
      ]),
    );
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
