/**
 * The fused update kernels (src/backend/fgsgd_step_module.ts, native/fgsgd_step.c) against the
 * tensor ops they replace on wasm: the same weights, momentum buffers and skip counts bit for bit,
 * over several steps, for every manifold kind, both step rules, with and without momentum and
 * weight decay, with non-finite gradients and a member without a gradient. Also: the optimizer
 * really takes the fused kernels, the module writes nothing outside its outputs and scratch, and
 * the committed .wasm is the build of the committed C.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { FUSED_WASM_PATH } from '../../src/backend/fgsgd_step_module.js';
import { fgsgdBucketStepConfig, bucketScratchFloats } from '../../src/backend/kernels/FgsgdBucketStep.js';
import { fgsgdPlainStepConfig } from '../../src/backend/kernels/FgsgdPlainStep.js';
import { buildGrouping, type Strategy } from '../../src/fgsgd/grouping.js';
import { FGSGD, type FGSGDConfig } from '../../src/fgsgd/optimizer.js';
import { buildModel } from '../../src/models/index.js';
import { PACKAGE_ROOT } from '../../src/package_root.js';

await useBackend('wasm');

const FUSED = [fgsgdBucketStepConfig, fgsgdPlainStepConfig];

/** The WebAssembly globals used here (the project's TypeScript lib has no DOM types). */
interface WebAssemblyApi {
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}

/** Runs `fn` with the fused kernels registered (`on`) or not, and restores them afterwards. */
function withFused<T>(on: boolean, fn: () => T): T {
  for (const k of FUSED) tf.unregisterKernel(k.kernelName, 'wasm');
  if (on) for (const k of FUSED) tf.registerKernel(k);
  try {
    return fn();
  } finally {
    if (!on) for (const k of FUSED) tf.registerKernel(k);
  }
}

interface Case {
  manifolds: string;
  strategy?: Strategy;
  options?: Partial<FGSGDConfig>;
  /** Put a non-finite entry in this step's gradients (conv2's kernel and fc's bias). */
  nanAt?: number;
  /** Leave conv1's kernel without a gradient at this step. */
  absentAt?: number;
}

/** `steps` updates of a cnn-small (8×8 input: 3×3 and 8×2 component buckets) with seeded gradients. */
async function run(c: Case, fused: boolean, steps = 3) {
  return withFused(fused, async () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 3 });
    const grouping = buildGrouping(model, { strategy: c.strategy ?? 'PIO', manifolds: c.manifolds, seed: 2 });
    const opt = new FGSGD(grouping, { lr: 0.05, momentum: 0.9, stabilizeEvery: 0, ...c.options });
    for (let s = 0; s < steps; s++) {
      const grads: tf.NamedTensorMap = {};
      model.trainableWeights.forEach((w, i) => {
        let g = tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', 1 + 100 * s + i); // seed 0 would mean unseeded
        if (c.nanAt === s && (w.originalName === 'conv2/kernel' || w.originalName === 'fc/bias')) {
          const clean = g;
          g = tf.tidy(() => tf.add(clean, tf.scatterND([[0], [clean.size - 1]], tf.tensor1d([NaN, Infinity]), [clean.size]).reshape(w.shape as number[])));
          clean.dispose();
        }
        if (c.absentAt === s && w.originalName === 'conv1/kernel') g.dispose();
        else grads[(w.read() as tf.Variable).name] = g;
      });
      opt.applyGradients(grads);
      tf.dispose(Object.values(grads));
    }
    const weights = model.trainableWeights.map((w) => Buffer.from(w.read().dataSync().buffer));
    const state = await opt.getState();
    const buffers = Object.entries(state.tensors).map(([k, v]) => [k, Buffer.from(v.dataSync().buffer)] as const);
    tf.dispose(Object.values(state.tensors));
    const skipped = await opt.skippedGroupUpdates();
    opt.dispose();
    model.dispose();
    return { weights, buffers, skipped };
  });
}

const CASES: Case[] = [
  { manifolds: 'Sp' },
  { manifolds: 'Ob' },
  { manifolds: 'St' },
  { manifolds: 'Euc' },
  { manifolds: 'Sp+Ob+St+Euc' },
  { manifolds: 'Sp+Ob+St+Euc', options: { step: 'adaptive' } },
  { manifolds: 'Sp+Ob+St+Euc', options: { step: 'adaptive-stored', rho: 'product' } },
  { manifolds: 'Sp+Ob+St+Euc', options: { momentum: 0 } },
  { manifolds: 'Sp+Ob+St+Euc', options: { weightDecay: 5e-4 } },
  { manifolds: 'Sp+Ob+St+Euc', strategy: 'PI', options: { weightDecay: 5e-4, step: 'adaptive' } },
  { manifolds: 'Sp+Ob+St', strategy: 'PO' },
  { manifolds: 'Sp+Ob+St+Euc', nanAt: 1 },
  { manifolds: 'Euc', nanAt: 1, options: { weightDecay: 5e-4 } },
  { manifolds: 'Sp+Ob+St+Euc', absentAt: 1 },
];

for (const c of CASES) {
  const label = `${c.strategy ?? 'PIO'} ${c.manifolds} ${JSON.stringify(c.options ?? {})}${c.nanAt !== undefined ? ' NaN/Inf gradients' : ''}${c.absentAt !== undefined ? ' a member without gradient' : ''}`;
  t.test(`fused = tensor ops, bit for bit: ${label}`, async (t) => {
    await assertNoLeak(t, label, async () => {
      const ops = await run(c, false);
      const fused = await run(c, true);
      ops.weights.forEach((w, i) => t.ok(w.equals(fused.weights[i]!), `weight ${i}: same bytes`));
      t.same(fused.buffers.map(([k]) => k), ops.buffers.map(([k]) => k), 'the same momentum buffers');
      ops.buffers.forEach(([k, b], i) => t.ok(b.equals(fused.buffers[i]![1]), `${k}: same bytes`));
      t.equal(fused.skipped, ops.skipped, `skipped group updates: ${ops.skipped}`);
      if (c.nanAt !== undefined) t.ok(ops.skipped > 0, 'the non-finite gradients skipped some groups');
    });
  });
}

t.test('the optimizer takes the fused kernels on wasm, and the tensor ops for the exponential map', async (t) => {
  const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 3 });
  const grads = () => Object.fromEntries(model.trainableWeights.map((w, i) => [(w.read() as tf.Variable).name, tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', i + 1)]));
  const kernelsOf = async (opt: FGSGD) => {
    const first = grads();
    opt.applyGradients(first); // the first step projects onto the manifolds (tensor ops)
    tf.dispose(Object.values(first));
    const g = grads();
    const info = await tf.profile(() => void opt.applyGradients(g));
    tf.dispose(Object.values(g));
    return info.kernels.map((k) => k.name);
  };
  const grouping = buildGrouping(model, { manifolds: 'Sp+Ob+St+Euc', seed: 2 });
  const retr = new FGSGD(grouping, { lr: 0.05, momentum: 0.9 });
  const names = await kernelsOf(retr);
  t.equal(names.filter((n) => n === 'FgsgdBucketStep').length, 2, 'one fused call per bucket (3×3 and 8×2 components)');
  t.equal(names.filter((n) => n === 'FgsgdPlainStep').length, 1, 'one fused call for the plain bucket');
  t.notOk(names.includes('GatherNd'), 'no permutation gathers');
  const exp = new FGSGD(grouping, { lr: 0.05, momentum: 0.9, map: 'exp' });
  t.notOk((await kernelsOf(exp)).includes('FgsgdBucketStep'), 'the exponential map runs as tensor ops');
  retr.dispose();
  exp.dispose();
  model.dispose();
});

t.test('the module writes only its outputs and its scratch', async (t) => {
  // A fresh memory filled with a sentinel; one Stiefel slice of 5 components (4×2) and a
  // plain step of 5 elements, with every region laid out and checked by hand.
  const WA = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
  const memory = new WA.Memory({ initial: 2 }); // the module declares 2 pages (lld's default stack, unused)
  const { riemann_step, plain_step } = new WA.Instance(new WA.Module(readFileSync(FUSED_WASM_PATH)), { env: { memory } })
    .exports as unknown as Record<'riemann_step' | 'plain_step', (...a: number[]) => void>;
  const f32 = new Float32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  f32.fill(-12345.5);
  const count = 5, rows = 4, cols = 2, m = rows * cols, n = count * m, groups = 2; // a full block of four and a partial one
  let next = 256; // in floats; every region is 4-byte aligned
  const region = (len: number) => {
    const start = next;
    next += len + 16; // gaps between regions stay sentinels
    return start;
  };
  const x = region(n), g = region(n), idx = region(n), buf = region(n), radius = region(count), seg = region(count);
  const y = region(n), nb = region(n), skipped = region(1);
  const scratchLen = bucketScratchFloats(count, groups, rows, cols);
  const work = region(scratchLen);
  for (let e = 0; e < n; e++) {
    f32[x + e] = Math.sin(e + 1);
    f32[g + e] = Math.cos(3 * e);
    i32[idx + e] = (e * 7) % n;
    f32[buf + e] = 0.01 * e;
  }
  f32.set([1, 1.5, 0.5, 2, 0.75], radius);
  i32.set([0, 0, 1, 1, 1], seg);
  i32[skipped] = 0;
  riemann_step(2, count, rows, cols, 4 * x, 4 * g, 4 * idx, 4 * buf, 0, 4 * radius, 0, 4 * seg, groups, 0, 0,
    0.1, 0.9, 0, 1, 0, 1, 4 * y, 4 * nb, 4 * skipped, 4 * work);
  const written = new Set<number>();
  const mark = (start: number, len: number) => { for (let e = 0; e < len; e++) written.add(start + e); };
  mark(y, n); mark(nb, n); mark(skipped, 1); mark(work, scratchLen);
  const inputs = [[x, n], [g, n], [idx, n], [buf, n], [radius, count], [seg, count]] as const;
  const before = inputs.map(([s, len]) => Buffer.from(f32.slice(s, s + len).buffer));
  const plainSize = 5, plainGroups = 2;
  const px = region(plainSize), pg = region(plainSize), pgroup = region(plainSize), py = region(plainSize), pnb = region(plainSize);
  const pskipped = region(1), pwork = region(plainGroups);
  for (let e = 0; e < plainSize; e++) {
    f32[px + e] = e;
    f32[pg + e] = e === 3 ? NaN : 1;
    i32[pgroup + e] = e < 2 ? 0 : 1;
  }
  plain_step(plainSize, 4 * px, 4 * pg, 4 * pgroup, plainGroups, 0, 0, 0.1, 0.9, 0, 0, 0, 1, 4 * py, 4 * pnb, 4 * pskipped, 4 * pwork);
  mark(py, plainSize); mark(pnb, plainSize); mark(pskipped, 1); mark(pwork, plainGroups);
  const inputRegions = [...inputs, [px, plainSize], [pg, plainSize], [pgroup, plainSize]] as const;
  for (const [s, len] of inputRegions) mark(s, len);
  let stray = 0;
  for (let e = 0; e < f32.length; e++) if (!written.has(e) && f32[e] !== -12345.5) stray++;
  t.equal(stray, 0, 'every float outside the regions is still the sentinel');
  inputs.forEach(([s, len], k) => t.ok(Buffer.from(f32.slice(s, s + len).buffer).equals(before[k]!), `input region ${k} unchanged`));
  t.equal(i32[skipped], 0, 'no Stiefel group skipped');
  t.equal(i32[pskipped], 1, 'the plain group with a NaN skipped');
  t.same(Array.from(f32.slice(py, py + plainSize)), [0 - 0.1, 1 - 0.1, 2, 3, 4].map(Math.fround), 'group 0 stepped, group 1 kept');
});

const clang = (() => {
  for (const cc of ['clang', 'clang-14']) {
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      execFileSync('wasm-ld', ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      // next
    }
  }
  return undefined;
})();

t.test('native/fgsgd_step.wasm is the build of native/fgsgd_step.c', { skip: clang ? false : 'clang and lld (wasm-ld) are not installed: apt-get install clang lld' }, async (t) => {
  const out = execFileSync(process.execPath, [join(PACKAGE_ROOT, 'native', 'build_fused.mjs'), '--check'], { encoding: 'utf8' });
  t.match(out, /is up to date/, out.trim());
});
