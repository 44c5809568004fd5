/**
 * The project's wasm copy kernels against the package's own, on the shapes FG-SGD's layout uses
 * for cnn-small (its permutations, splits, and the Stiefel retraction's columns): microseconds per
 * call, best of 15 rounds of 300 calls, the two alternating in one process. Both are called
 * directly on the backend, without the engine. Each pair is also checked to give the same bytes.
 *
 *   npx tsx bench/compare_kernels.ts
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { packageKernels, type WasmBackend } from '../src/backend/kernels/kernel_utils.js';

process.env.FGSGD_LOG_LEVEL ??= 'warn';
await initBackend('wasm');
const backend = tf.backend() as unknown as WasmBackend;
const outputs = (o: tf.TensorInfo | tf.TensorInfo[]) => (Array.isArray(o) ? o : [o]);
const release = (o: tf.TensorInfo | tf.TensorInfo[]) => outputs(o).forEach((t) => backend.disposeData(t.dataId));
const bytes = (o: tf.TensorInfo | tf.TensorInfo[]) =>
  Buffer.concat(outputs(o).map((t) => {
    const v = backend.typedArrayFromHeap(t);
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }));

function compare(label: string, kernel: string, inputs: unknown, attrs: object = {}): void {
  const ours = tf.getKernel(kernel, 'wasm')!.kernelFunc;
  const theirs = packageKernels.get(kernel)?.kernelFunc;
  if (!theirs) throw new Error(`compare_kernels: '${kernel}' is not one of the project's replacements.`);
  const run = (f: tf.KernelFunc) => f({ inputs, backend, attrs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo | tf.TensorInfo[];
  const a = run(ours);
  const b = run(theirs);
  const same = bytes(a).equals(bytes(b));
  release(a);
  release(b);
  let best = [Infinity, Infinity];
  for (let r = 0; r < 15; r++) {
    best = [ours, theirs].map((f, i) => {
      const t0 = performance.now();
      for (let n = 0; n < 300; n++) release(run(f));
      return Math.min(best[i]!, ((performance.now() - t0) / 300) * 1000);
    });
  }
  console.log(`${label.padEnd(40)} ours ${best[0]!.toFixed(1).padStart(6)} µs  package ${best[1]!.toFixed(1).padStart(6)} µs  ${(best[1]! / best[0]!).toFixed(2).padStart(5)}×  ${same ? 'same bytes' : 'DIFFERENT BYTES'}`);
}

const perm = (n: number) => {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return tf.tensor2d(p, [n, 1], 'int32');
};
const components = tf.randomNormal([520, 3, 3]);
compare('GatherNd [18720] by a permutation', 'GatherNd', { params: tf.randomNormal([18720]), indices: perm(18720) });
compare('Slice [2080,3,3] → [520,3,3]', 'Slice', { x: tf.randomNormal([2080, 3, 3]) }, { begin: [520, 0, 0], size: [520, 3, 3] });
compare('SplitV [50186] → 6 variables', 'SplitV', { x: tf.randomNormal([50186]) }, { numOrSizeSplits: [32, 64, 10, 288, 18432, 31360], axis: 0 });
compare('Unpack [520,3,3] along axis 1', 'Unpack', { value: components }, { axis: 1 });
compare('Concat [520,2,3] and [520,1,3] on axis 1', 'Concat', [tf.randomNormal([520, 2, 3]), tf.randomNormal([520, 1, 3])], { axis: 1 });
