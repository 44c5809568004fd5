/**
 * The WebGPU backend (tfjs-backend-webgpu on Dawn), run here on whatever adapter Dawn finds: in CI
 * and on the project's machines that is Mesa's lavapipe, a software Vulkan driver (`.ci/run`
 * installs it), so these are correctness tests, not speed tests. Each computation runs from the
 * same plain arrays on webgpu and on a reference backend (cpu, or wasm for the FG-SGD update), and
 * webgpu's values are read asynchronously (a synchronous read of GPU memory needs a canvas, which
 * Node does not have).
 *
 * - training kernels: conv2d gradients (stride 1 and 2), max-pool gradient, batch norm in training
 *   mode, through a small conv net's loss and gradients;
 * - one FG-SGD update (PIO, Sp+Ob+Euc, momentum) equals wasm's within 1e-5 relative;
 * - a conv net trained with FG-SGD on webgpu: its loss falls;
 * - the Stiefel projection (polar factor), which has no stopping test where values cannot be read
 *   synchronously, equals cpu's;
 * - a whole run through the trainer (FG-SGD Sp+Ob+St+Euc, `data` radii, checkpoints, summary):
 *   stopped and resumed, it lands on the uninterrupted run's weights;
 * - no tensor leaks.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { initBackend, isSoftwareAdapter } from '../../src/backend/index.js';
import { lastValueFrom, toArray } from 'rxjs';
import { readCheckpoint } from '../../src/checkpoint.js';
import { readsSynchronously } from '../../src/backend/reads.js';
import { polar } from '../../src/manifolds/linalg.js';
import type { FitEnd, TrainEvent } from '../../src/events.js';
import type { RunOptions } from '../../src/train/run.js';
import tinyPipeline from '../train/tiny-pipeline.js';
import { tempDir } from '../helpers/tmp.js';
import { lossAndGrads } from '../../src/train/step.js';
import { FGSGD } from '../../src/fgsgd/optimizer.js';
import { buildGrouping } from '../../src/fgsgd/grouping.js';
import { assertNoLeak } from '../helpers/leak.js';
import { blobData } from '../fgsgd/helpers.js';
import { tryWebgpu } from '../helpers/backend.js';

t.test('software adapters are told from hardware ones', async (t) => {
  const lavapipe = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7' };
  t.ok(isSoftwareAdapter(lavapipe), 'Mesa llvmpipe/lavapipe');
  t.ok(isSoftwareAdapter({ vendor: 'google', architecture: '', device: 'SwiftShader Device (Subzero)', description: '' }), 'SwiftShader');
  t.ok(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ampere', device: 'x', description: '' }, true), 'a fallback adapter');
  t.notOk(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA H200' }), 'an NVIDIA GPU');
  t.notOk(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3', device: '', description: 'Apple M2' }), 'an Apple GPU');
});

const { info, why } = await tryWebgpu();
if (!info) {
  // Said plainly: this file needs a WebGPU adapter (a GPU, or lavapipe as .ci/run installs it).
  t.test('webgpu', { skip: `no WebGPU adapter here: ${why}` }, () => undefined);
} else {
  t.comment(`webgpu adapter: ${info.adapter?.description} (${info.adapter?.software ? 'software' : 'hardware'})`);
  await tests();
}

/** Run `fn` on `backend` and read every returned tensor asynchronously; disposes them. */
async function on(backend: string, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = fn();
  try {
    return (await Promise.all(out.map((x) => x.data()))) as Float32Array[];
  } finally {
    tf.dispose(out);
  }
}

function maxRelError(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
  return err / Math.max(scale, 1e-12);
}

function close(t: { equal(a: unknown, b: unknown, m: string): unknown; ok(v: unknown, m: string): unknown }, got: Float32Array[], want: Float32Array[], tol: number, what: string) {
  t.equal(got.length, want.length, `${what}: as many outputs`);
  want.forEach((w, i) => {
    t.equal(got[i]!.length, w.length, `${what} [${i}]: size`);
    const e = maxRelError(got[i]!, w);
    t.ok(e <= tol, `${what} [${i}]: max error ${e.toExponential(2)} relative to the largest value ≤ ${tol}`);
  });
}

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** A fresh net's initial weights, read on `backend`; the net is disposed. */
async function initialWeights(backend: string): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const m = net();
  const w = (await Promise.all(m.getWeights().map((x) => x.data()))) as Float32Array[];
  m.dispose();
  return w;
}

/** Set `m`'s weights from arrays (the temporary tensors are disposed). */
function loadWeights(m: tf.LayersModel, arrays: Float32Array[]): void {
  const ts = m.getWeights().map((w, i) => tf.tensor(arrays[i]!, w.shape));
  m.setWeights(ts);
  tf.dispose(ts);
}

/**
 * A small conv net: conv (no bias), batch norm, ReLU, max pool, strided conv, dense. Named layers:
 * the grouping's draw is seeded by weight name, so every copy must have the same names.
 */
function net(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ name: 'c1', inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', useBias: false }));
  m.add(tf.layers.batchNormalization({ name: 'bn1', axis: -1, momentum: 0.9, epsilon: 1e-5 }));
  m.add(tf.layers.reLU({ name: 'r1' }));
  m.add(tf.layers.maxPooling2d({ name: 'p1', poolSize: 2 }));
  m.add(tf.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 3, strides: 2, padding: 'same' }));
  m.add(tf.layers.flatten({ name: 'f' }));
  m.add(tf.layers.dense({ name: 'd', units: 3 }));
  return m;
}

async function tests(): Promise<void> {
  t.test('training kernels: a conv/BN/pool net’s loss and every gradient agree with cpu', async (t) => {
    const x = values(4 * 8 * 8 * 2, 1);
    const y = [0, 1, 2, 1];
    const before = tf.memory().numTensors;
    const weights = await initialWeights('cpu');
    const grads = (backend: string) =>
      on(backend, () => {
        const m = net();
        loadWeights(m, weights);
        const [xs, ys] = [tf.tensor4d(x, [4, 8, 8, 2]), tf.tensor1d(y, 'int32')];
        const { value, grads } = lossAndGrads(m, xs, ys);
        const out = [value, ...Object.keys(grads).sort().map((k) => grads[k]!)];
        // The model and inputs go; the loss and gradients are returned (and disposed by `on`).
        m.dispose();
        tf.dispose([xs, ys]);
        return out;
      });
    const want = await grads('cpu');
    const got = await grads('webgpu');
    close(t, got, want, 1e-4, 'loss and gradients');
    t.equal(tf.memory().numTensors, before, 'no tensors left behind');
  });

  t.test('conv2d gradients (stride 1 and 2) and the max-pool gradient agree with cpu', async (t) => {
    const x = values(2 * 9 * 9 * 3, 2);
    const w = values(3 * 3 * 3 * 5, 3);
    const run = (backend: string) =>
      on(backend, () => {
        const xs = tf.tensor4d(x, [2, 9, 9, 3]);
        const ws = tf.tensor4d(w, [3, 3, 3, 5]);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')));
        const g = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')));
        const p = (a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), tf.range(0, 2 * 4 * 4 * 3).reshape([2, 4, 4, 3])));
        const out = [...tf.grads(f)([xs, ws]), ...tf.grads(g)([xs, ws]), tf.grad(p)(xs)];
        tf.dispose([xs, ws]);
        return out;
      });
    close(t, await run('webgpu'), await run('cpu'), 1e-4, 'dx, dw (stride 1), dx, dw (stride 2), max-pool dx');
  });

  t.test('one FG-SGD update (PIO, Sp+Ob+Euc, momentum) equals wasm’s within 1e-5 relative', async (t) => {
    await initBackend('wasm');
    const { x, y } = blobData(8, [8, 8, 2], 5);
    const [xs, ys] = [x.dataSync().slice(), y.dataSync().slice()];
    tf.dispose([x, y]);
    const start = await initialWeights('wasm');
    const update = (backend: string) =>
      on(backend, () => {
        const m = net();
        loadWeights(m, start);
        const opt = new FGSGD(buildGrouping(m, { strategy: 'PIO', manifolds: 'Sp+Ob+Euc', groupSize: 2, seed: 3 }), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
        const xb = tf.tensor4d(xs, [8, 8, 8, 2]);
        const yb = tf.tensor1d(ys as Int32Array, 'int32');
        // Two steps, so that the momentum buffer is used too.
        for (let i = 0; i < 2; i++) {
          const { value, grads } = lossAndGrads(m, xb, yb);
          opt.applyGradients(grads);
          tf.dispose([value, ...Object.values(grads)]);
        }
        const out = m.getWeights().map((w) => w.clone());
        opt.dispose();
        m.dispose();
        tf.dispose([xb, yb]);
        return out;
      });
    const want = await update('wasm');
    close(t, await update('cpu'), want, 1e-5, 'control: cpu against wasm');
    await initBackend('webgpu');
    close(t, await update('webgpu'), want, 1e-5, 'weights after two FG-SGD steps');
  });

  t.test('a conv net trained with FG-SGD on webgpu: its loss falls, and no tensor leaks', async (t) => {
    await initBackend('webgpu');
    await assertNoLeak(t, 'training on webgpu', async () => {
      const m = net();
      const opt = new FGSGD(buildGrouping(m, { strategy: 'PIO', manifolds: 'Sp+Ob+Euc', groupSize: 2, seed: 1 }), { lr: 0.1, momentum: 0.9 });
      const x = tf.tensor4d(values(16 * 8 * 8 * 2, 7), [16, 8, 8, 2]);
      const yv = Int32Array.from({ length: 16 }, (_, i) => i % 3);
      const y = tf.tensor1d(yv, 'int32');
      const losses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const { value, grads } = lossAndGrads(m, x, y);
        opt.applyGradients(grads);
        losses.push((await value.data())[0]!);
        tf.dispose([value, ...Object.values(grads)]);
      }
      t.ok(losses.every(Number.isFinite), 'finite losses');
      t.ok(losses.at(-1)! < 0.7 * losses[0]!, `loss falls: ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
      opt.dispose();
      m.dispose();
      tf.dispose([x, y]);
    });
  });

  t.test('polar factor (Stiefel projection) on webgpu: fixed iterations, no read-back, equals cpu', async (t) => {
    const shape = [5, 9, 4];
    const xs = values(5 * 9 * 4, 11);
    const project = (backend: string) => on(backend, () => [polar(tf.tensor3d(xs, shape as [number, number, number]))]);
    const want = await project('cpu');
    await initBackend('webgpu');
    t.notOk(readsSynchronously(), 'webgpu reads asynchronously only');
    close(t, await project('webgpu'), want, 1e-5, 'polar factor');
  });

  t.test('a whole run on webgpu: FG-SGD Sp+Ob+St+Euc with data radii, checkpoints, and a resume onto the same weights', async (t) => {
    await initBackend('webgpu');
    const dir = tempDir(t);
    const base: Omit<RunOptions, 'out'> = {
      backend: 'webgpu', seed: 3, epochs: 1, batch: 8, optimizer: 'fgsgd', manifolds: 'Sp+Ob+St+Euc', radius: 'data', lr: 0.05, progress: false,
    };
    const run = async (o: RunOptions) => (await lastValueFrom(tinyPipeline(o).pipe(toArray()))).find((e): e is FitEnd => e.type === 'fitEnd')!;
    await assertNoLeak(t, 'three runs on webgpu', async () => {
      const whole = await run({ ...base, out: `${dir}/whole` });
      t.equal(whole.reason, 'completed');
      t.equal(whole.steps, 12);
      t.match(whole.weightsDigest, /^[0-9a-f]{64}$/, 'the digest is read back asynchronously');
      t.ok(Object.values(whole.maxNormByGroupKind).every((n) => Number.isFinite(n.frobenius) && Number.isFinite(n.spectral)), 'and so are the norms');
      const cut = await run({ ...base, maxSteps: 5, out: `${dir}/cut` });
      t.same((await readCheckpoint(`${dir}/cut`)).position, cut.position, 'a checkpoint at the stop');
      const resumed = await run({ ...base, out: `${dir}/cut`, resume: `${dir}/cut` });
      t.equal(resumed.steps, 12);
      t.equal(resumed.weightsDigest, whole.weightsDigest, 'resumed = uninterrupted, bit for bit');
    });
  });

  t.test("'auto' takes webgpu only on a hardware adapter, and says why it skipped a software one", async (t) => {
    const chosen = await initBackend('auto');
    const skip = chosen.skipped.find((s) => s.name === 'webgpu');
    if (info!.adapter?.software) {
      t.not(chosen.name, 'webgpu', `a software adapter is passed over (${chosen.name} chosen)`);
      t.match(skip?.reason, /software one .*slower than wasm; name --backend webgpu to use it anyway/);
    } else {
      t.equal(chosen.name, 'webgpu', 'a hardware adapter is taken');
    }
    await initBackend('webgpu');
  });
}
