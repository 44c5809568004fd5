/**
 * The optimizer's contracts: plain SGD equivalence, the non-finite-gradient skip, the state
 * round-trip, the hot-swap, the schedules and the step rule.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak, assertStepsDoNotLeak } from '../helpers/leak.js';
import { buildGrouping, planKernel, type WeightSpec } from '../../src/fgsgd/grouping.js';
import { FGSGD, type FGSGDState } from '../../src/fgsgd/optimizer.js';
import { SCHEDULES, scheduleAt, toSchedule } from '../../src/fgsgd/schedules.js';
import { buildModel } from '../../src/models/index.js';
import { trainStep } from '../../src/train/step.js';
import { blobData } from './helpers.js';
import { Rng } from '../../src/random.js';

await useBackend('wasm');

/** Tolerance for "unchanged on the manifold" checks in float32. */
const F32_TOL = 1e-5;
/** Relative tolerance of "exactly ×10" for updates computed as X' − X in float32. */
const SCALE_FREE_TOL = 1e-4;

const values = (m: tf.LayersModel) => m.getWeights().map((w) => Float32Array.from(w.dataSync()));
const maxDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((x, i) => Math.max(...x.map((v, j) => Math.abs(v - b[i]![j]!)))));

/** Two cnn-small models with identical weights. */
function twins(): [tf.LayersModel, tf.LayersModel] {
  const a = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 5 });
  const b = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 6 });
  b.setWeights(a.getWeights());
  return [a, b];
}

t.test('every group Euclidean = tf.train.momentum, step for step', async (t) => {
  await assertNoLeak(t, 'sgd equivalence', () => {
    const [a, b] = twins();
    const { x, y } = blobData(16, [8, 8, 1], 1);
    const ref = tf.train.momentum(0.05, 0.9);
    const opt = new FGSGD(buildGrouping(b, { manifolds: 'Euc', seed: 1 }), { lr: 0.05, momentum: 0.9 });
    for (let i = 0; i < 4; i++) {
      trainStep(a, ref, x, y);
      trainStep(b, opt, x, y);
      t.ok(maxDiff(values(a), values(b)) <= 1e-7, `step ${i + 1}: weights agree (max |Δ| = ${maxDiff(values(a), values(b))})`);
    }
    ref.dispose();
    // tfjs 4.22's MomentumOptimizer.dispose forgets SGDOptimizer's learning-rate scalar `c`.
    (ref as unknown as { c: tf.Tensor }).c.dispose();
    opt.dispose();
    a.dispose();
    b.dispose();
    tf.dispose([x, y]);
  });
});

/** A free kernel variable with a seeded value and a grouping of it. */
function freeKernel(name: string, shape: number[], manifolds: string) {
  const init = tf.randomNormal(shape, 0, 1, 'float32', 3);
  const v = tf.variable(init, true, name);
  init.dispose();
  const spec: WeightSpec = { layerName: name, weightName: name, variableName: v.name, shape, role: 'kernel' };
  const grouping = buildGrouping([spec], { strategy: 'PI', manifolds, groupSize: 3, seed: 4 });
  return { v, grouping, k: grouping.kernels[0]! };
}

/** Frobenius norm of every component, in component order n = c·cout + d. */
function componentNorms(v: tf.Variable): Float32Array {
  return tf.tidy(() => tf.norm(tf.transpose(v, [2, 3, 0, 1]), 'euclidean', [2, 3]).reshape([-1]).dataSync() as Float32Array);
}

// On the sphere (the Riemannian step, in components) and Euclidean (the plain step, in the
// variable's own layout): the same contract.
for (const manifolds of ['Sp', 'Euc']) t.test(`a NaN or Inf gradient skips only its group, counts it, and keeps the point on the manifold (${manifolds})`, async (t) => {
  await assertNoLeak(t, 'nan skip', async () => {
    const shape = [3, 3, 4, 6];
    const { v, grouping, k } = freeKernel(`nan_kernel_${manifolds}`, shape, manifolds);
    const opt = new FGSGD(grouping, { lr: 0.1, momentum: 0.5, step: 'fixed', radius: 'bound:1' });
    opt.project();
    // One clean step first, so that every group has a momentum buffer.
    const warm = tf.randomNormal(shape, 0, 1, 'float32', 8);
    opt.applyGradients({ [v.name]: warm });
    warm.dispose();
    const momentumOf = async () => {
      const st = await opt.getState();
      const m = Float32Array.from(st.tensors[`${k.weightName}/momentum`]!.dataSync());
      tf.dispose(Object.values(st.tensors));
      return m;
    };
    const bufferBefore = await momentumOf();
    const before = Float32Array.from(v.dataSync());
    const g = Float32Array.from(tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', 9).dataSync()));
    // Component (c = 1, d = 2), element (0, 0): flat index ((0·3 + 0)·4 + 1)·6 + 2.
    g[1 * 6 + 2] = NaN;
    g[((2 * 3 + 1) * 4 + 3) * 6 + 5] = Infinity; // component (3, 5)
    const grad = tf.tensor(g, shape);
    opt.applyGradients({ [v.name]: grad });
    const after = v.dataSync();
    const badGroups = new Set([k.groupOf[1 * 6 + 2]!, k.groupOf[3 * 6 + 5]!]);
    const plan = planKernel(k);
    const m = 9;
    let frozen = true;
    let movedOthers = 0;
    for (let p = 0; p < plan.order.length; p++) {
      const n = plan.order[p]!;
      for (let e = 0; e < m; e++) {
        const f = plan.flatIndex[p * m + e]!;
        if (badGroups.has(k.groupOf[n]!)) frozen &&= after[f] === before[f];
        else if (after[f] !== before[f]) movedOthers++;
      }
    }
    t.ok(frozen, 'the groups with a non-finite gradient are unchanged');
    // Their momentum too; every other group's buffer took the step.
    const bufferAfter = await momentumOf();
    let bufferKept = true;
    let bufferMoved = 0;
    for (let p = 0; p < plan.order.length; p++) {
      const n = plan.order[p]!;
      for (let e = 0; e < m; e++) {
        const f = plan.flatIndex[p * m + e]!;
        if (badGroups.has(k.groupOf[n]!)) bufferKept &&= bufferAfter[f] === bufferBefore[f];
        else if (bufferAfter[f] !== bufferBefore[f]) bufferMoved++;
      }
    }
    t.ok(bufferKept, 'the skipped groups keep their momentum buffer bit for bit');
    t.ok(bufferMoved > 0.9 * (after.length - badGroups.size * 3 * m), 'the other groups’ buffers changed');
    t.ok(movedOthers > 0.9 * (after.length - badGroups.size * 3 * m), 'the other groups moved');
    t.equal(await opt.skippedGroupUpdates(), 2, 'two group updates were skipped and counted');
    if (manifolds === 'Sp') {
      const norms = componentNorms(v);
      t.ok(norms.every((x) => Math.abs(x - 1) < F32_TOL), 'every kernel stays on the unit sphere');
    }
    t.ok(after.every(Number.isFinite), 'no NaN reached the weights');
    // The next clean step goes on normally, momentum buffers included.
    const clean = tf.randomNormal(shape, 0, 1, 'float32', 10);
    opt.applyGradients({ [v.name]: clean });
    t.ok(v.dataSync().every(Number.isFinite), 'a following clean step is finite');
    if (manifolds === 'Sp') t.ok(opt.residuals().Sp!.tangent < F32_TOL, 'buffers stay tangent');
    tf.dispose([grad, clean, v]);
    opt.dispose();
  });
});

t.test('state round-trip: serialize, restore, identical next step', async (t) => {
  await assertNoLeak(t, 'state round-trip', async () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 2 });
    const { x, y } = blobData(16, [8, 8, 1], 2);
    const grouping = buildGrouping(model, { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 2 });
    const cfg = { lr: { name: 'cosine' as const, lr: 0.1, totalSteps: 10 }, momentum: 0.9, weightDecay: 1e-3 };
    const a = new FGSGD(grouping, cfg);
    a.setLambdas({ 'conv1/kernel': [0.5] });
    for (let i = 0; i < 3; i++) trainStep(model, a, x, y);
    const saved = await a.getState();
    const json = JSON.parse(JSON.stringify(saved.json)) as FGSGDState['json'];
    const weights = model.getWeights().map((w) => w.clone());
    trainStep(model, a, x, y);
    const wantA = values(model);

    model.setWeights(weights);
    const b = new FGSGD(buildGrouping(model, { manifolds: 'Euc' }), { lr: 1 });
    b.setState({ json, tensors: saved.tensors });
    t.equal(b.iterations, 3, 'the step count is restored');
    t.same(Array.from(b.radii('conv1/kernel')!), Array.from(a.radii('conv1/kernel')!), 'ℜ is restored');
    trainStep(model, b, x, y);
    t.equal(maxDiff(values(model), wantA), 0, 'the restored optimizer takes exactly the same step');
    tf.dispose(weights);
    tf.dispose(Object.values(saved.tensors));
    a.dispose();
    b.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });
});

t.test('tf.Optimizer API: getWeights/setWeights and getConfig/fromConfig round-trip', async (t) => {
  const before = tf.memory().numTensors;
  const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 3 });
  const { x, y } = blobData(16, [8, 8, 1], 3);
  const a = new FGSGD(buildGrouping(model, { strategy: 'PO', manifolds: 'Sp+St', seed: 1 }), { lr: 0.05, momentum: 0.8 });
  for (let i = 0; i < 2; i++) trainStep(model, a, x, y);
  const named = await a.getWeights();
  t.equal(named[0]!.name, 'iter');
  const cfg = a.getConfig();
  const b = tf.serialization.SerializationMap.getMap().classNameMap['FGSGD']![1](FGSGD as never, JSON.parse(JSON.stringify(cfg))) as FGSGD;
  await b.setWeights(named);
  const weights = model.getWeights().map((w) => w.clone());
  trainStep(model, a, x, y);
  const wantA = values(model);
  model.setWeights(weights);
  trainStep(model, b, x, y);
  t.equal(maxDiff(values(model), wantA), 0, 'same step after the tf.Optimizer round-trip');
  t.equal(b.iterations, a.iterations, 'same step count');
  tf.dispose(named.map((n) => n.tensor));
  tf.dispose(weights);
  a.dispose();
  b.dispose();
  model.dispose();
  tf.dispose([x, y]);
  t.equal(tf.memory().numTensors, before, 'no tensor leaked');
});

t.test('hot-swap: momentum stays tangent to the new manifolds and the schedule continues', async (t) => {
  await assertNoLeak(t, 'hot-swap', async () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 4 });
    const { x, y } = blobData(16, [8, 8, 1], 4);
    const opt = new FGSGD(buildGrouping(model, { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 4 }), {
      lr: { name: 'step', lr: 0.1, every: 4, factor: 0.5 },
      momentum: 0.9,
    });
    for (let i = 0; i < 5; i++) trainStep(model, opt, x, y);
    const r0 = opt.residuals();
    t.ok(Object.values(r0).every((r) => r.tangent < F32_TOL), 'buffers are tangent before the swap');
    opt.reconfigure({ grouping: buildGrouping(model, { strategy: 'PI', manifolds: 'St+Ob', seed: 9 }), momentum: 0.8 });
    t.equal(opt.iterations, 5, 'the step count continues');
    t.equal(scheduleAt(opt.config.lr, opt.iterations), 0.05, 'so does the schedule (0.1·0.5 after 4 steps)');
    const r1 = opt.residuals();
    t.same(Object.keys(r1).sort(), ['Ob', 'St'], 'the new manifolds are in use');
    for (const [tag, r] of Object.entries(r1)) {
      t.ok(r.point < 1e-4, `${tag}: points lie on the new manifolds (${r.point})`);
      t.ok(r.tangent < F32_TOL, `${tag}: carried momentum is tangent at the new points (${r.tangent})`);
    }
    const st = await opt.getState();
    const carried = tf.tidy(() => Object.values(st.tensors).map((b) => tf.norm(b).dataSync()[0]!));
    t.ok(carried.length > 0 && carried.every((n) => n > 0), 'the momentum buffers were carried over, not reset');
    tf.dispose(Object.values(st.tensors));
    const loss = trainStep(model, opt, x, y);
    t.ok(Number.isFinite(loss), 'training goes on after the swap');
    t.ok(Object.values(opt.residuals()).every((r) => r.tangent < F32_TOL && r.point < 1e-4), 'and stays on the manifolds');
    opt.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });
});

t.test('the adaptive step follows the rule r = g/max(1, ‖d‖²·max((2ρ+‖d‖)², 1 + c(ρ+‖d‖)))', async (t) => {
  await assertNoLeak(t, 'adaptive step', () => {
    // One 4×1 component on the unit sphere (ρ = π, c = 1); x = e₁, gradient along e₂ with norm s.
    for (const s of [0.05, 0.5, 3]) {
      const init = tf.tensor2d([1, 0, 0, 0], [4, 1]);
      const v = tf.variable(init, true, `adaptive_${s}`);
      init.dispose();
      const spec: WeightSpec = { layerName: 'a', weightName: 'a', variableName: v.name, shape: [4, 1], role: 'kernel' };
      const grouping = buildGrouping([spec], { manifolds: 'Sp', strategy: 'PI', overrides: { a: { block: { rows: 4, cols: 1 } } } });
      const opt = new FGSGD(grouping, { lr: 0.5, map: 'exp', radius: 'bound:1', step: 'adaptive' });
      const g = tf.tensor2d([0, s, 0, 0], [4, 1]);
      opt.applyGradients({ [v.name]: g });
      const rho = Math.PI;
      const r = 0.5 / Math.max(1, s * s * Math.max((2 * rho + s) ** 2, 1 + (rho + s)));
      const angle = Math.atan2(-v.dataSync()[1]!, v.dataSync()[0]!);
      t.ok(Math.abs(angle - r * s) < 1e-6, `‖g‖ = ${s}: the exponential map moves by r·‖g‖ = ${(r * s).toExponential(3)} (got ${angle.toExponential(3)})`);
      tf.dispose([g, v]);
      opt.dispose();
    }
  });
});

t.test('scale-free adaptive rule: ℜ ×10 (same unit-scale point and gradient) makes the stored update exactly ×10', async (t) => {
  await assertNoLeak(t, 'scale-free rule', () => {
    // A [3, 3, 2, 2] kernel: four 3×3 sphere components in PI groups of 2. At radius ℜ the stored
    // point is ℜ·x̂ and the stored gradient of f(x̂) = f(X/ℜ)·… is taken as ℜ·ĝ, so that the
    // direction on the unit manifold (d/ℜ) is the same at every ℜ.
    const shape = [3, 3, 2, 2];
    const rng = Rng.create(11, 'test/scale-free');
    const x0 = Float32Array.from({ length: 36 }, () => rng.float() - 0.5);
    // Large enough that the rule throttles (‖d/ℜ‖ ≈ 0.5 per component), small enough that the
    // update is not lost in float32 rounding of X + Δ.
    const g0 = Float32Array.from({ length: 36 }, () => 0.4 * (rng.float() - 0.5));
    const update = (radius: number, step: 'adaptive' | 'adaptive-stored' | 'fixed'): Float32Array => {
      const init = tf.tensor(x0, shape);
      const v = tf.variable(init, true, `scale_free_${step}_${radius}`);
      init.dispose();
      const spec: WeightSpec = { layerName: 'k', weightName: 'k', variableName: v.name, shape, role: 'kernel' };
      const grouping = buildGrouping([spec], { manifolds: 'Sp', strategy: 'PI', groupSize: 2, seed: 1 });
      const opt = new FGSGD(grouping, { lr: 0.5, step, radius: `bound:${radius}` });
      opt.project();
      const before = Float32Array.from(v.dataSync());
      const g = tf.tensor(g0.map((e) => e * radius), shape);
      opt.applyGradients({ [v.name]: g });
      const delta = Float32Array.from(v.dataSync()).map((e, i) => e - before[i]!);
      tf.dispose([g, v]);
      opt.dispose();
      return delta;
    };
    const ratioError = (a: Float32Array, b: Float32Array, k: number) => {
      const scale = Math.max(...b.map(Math.abs));
      return Math.max(...a.map((e, i) => Math.abs(e - k * b[i]!))) / (k * scale);
    };
    const small = update(0.3, 'adaptive');
    const large = update(3, 'adaptive');
    const err = ratioError(large, small, 10);
    t.ok(err < SCALE_FREE_TOL, `adaptive: Δ(ℜ = 3) = 10·Δ(ℜ = 0.3) (relative error ${err.toExponential(2)})`);
    // The rule is throttling here (else the check above would hold for r = g(t) alone) ...
    const fixed = update(0.3, 'fixed');
    const throttle = Math.hypot(...small) / Math.hypot(...fixed);
    t.ok(throttle < 0.5, `the adaptive rule throttles: ‖Δ‖ is ${throttle.toFixed(3)} of the fixed step's`);
    // ... and the rule on the ℜ-scaled manifold is not scale-free: the control.
    const storedErr = ratioError(update(3, 'adaptive-stored'), update(0.3, 'adaptive-stored'), 10);
    t.ok(storedErr > 0.05, `adaptive-stored is not scale-free (relative error ${storedErr.toFixed(3)})`);
  });
});

t.test('weight decay applies to Euclidean parameters only; absent gradients leave a variable alone', async (t) => {
  await assertNoLeak(t, 'weight decay', () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 7 });
    const grouping = buildGrouping(model, { strategy: 'PI', manifolds: 'Sp+Euc', seed: 7 });
    const opt = new FGSGD(grouping, { lr: 0.1, weightDecay: 0.5, step: 'fixed' });
    opt.project();
    const conv1Layer = model.getLayer('conv1');
    const [kernel, bias] = conv1Layer.getWeights();
    const ones = tf.onesLike(bias!);
    conv1Layer.setWeights([kernel!, ones]); // biases start at 0, where decay would be invisible
    ones.dispose();
    const before = values(model);
    // Zero gradients for everything but conv2's kernel, which gets none.
    const grads: Record<string, tf.Tensor> = {};
    for (const w of model.trainableWeights) {
      const v = (w as unknown as { val: tf.Variable }).val;
      if (!v.name.startsWith('conv2/kernel')) grads[v.name] = tf.zerosLike(v);
    }
    opt.applyGradients(grads);
    const after = values(model);
    const names = model.getWeights().map((_, i) => model.weights[i]!.originalName);
    const conv1 = grouping.kernels.find((k) => k.layerName === 'conv1')!;
    let euc = true;
    let sp = true;
    // Counts, so that a layer without one of the two kinds cannot pass vacuously.
    let eucSeen = 0;
    let spSeen = 0;
    const i1 = names.indexOf('conv1/kernel');
    for (let c = 0; c < conv1.inUnits * conv1.outUnits; c++) {
      const tag = conv1.groups[conv1.groupOf[c]!]!.tag;
      for (let e = 0; e < 9; e++) {
        const f = e * conv1.outUnits + c; // [3,3,1,32]: flat = (a·3 + b)·32 + d
        const want = tag === 'Euc' ? before[i1]![f]! * 0.95 : before[i1]![f]!;
        if (tag === 'Euc') (euc &&= Math.abs(after[i1]![f]! - want) < 1e-6), eucSeen++;
        else (sp &&= Math.abs(after[i1]![f]! - want) < 1e-6), spSeen++;
      }
    }
    t.ok(eucSeen > 0 && spSeen > 0, `conv1 has both kinds (${eucSeen} Euclidean and ${spSeen} sphere entries)`);
    t.ok(euc, 'Euclidean kernels shrink by 1 − lr·wd');
    t.ok(sp, 'sphere kernels do not (their norm is fixed)');
    const ib = names.indexOf('conv1/bias');
    t.ok(after[ib]!.every((v, j) => Math.abs(v - 0.95 * before[ib]![j]!) < 1e-7), 'biases are Euclidean and decay');
    const i2 = names.indexOf('conv2/kernel');
    t.equal(maxDiff([after[i2]!], [before[i2]!]), 0, 'a kernel without a gradient is not touched');
    tf.dispose(Object.values(grads));
    opt.dispose();
    model.dispose();
  });
});

t.test('schedules: registry and values', async (t) => {
  t.equal(new Set(SCHEDULES.map((s) => s.name)).size, SCHEDULES.length, 'names are unique');
  t.same(SCHEDULES.map((s) => s.name), ['constant', 'step', 'cosine', 'robbins-monro']);
  t.equal(scheduleAt(0.1, 100), 0.1);
  t.equal(scheduleAt({ name: 'step', lr: 1, milestones: [2, 5], factor: 0.1 }, 1), 1);
  t.ok(Math.abs(scheduleAt({ name: 'step', lr: 1, milestones: [2, 5], factor: 0.1 }, 5) - 0.01) < 1e-12);
  t.equal(scheduleAt({ name: 'cosine', lr: 1, totalSteps: 10 }, 0), 1);
  t.ok(Math.abs(scheduleAt({ name: 'cosine', lr: 1, totalSteps: 10 }, 5) - 0.5) < 1e-12);
  t.equal(scheduleAt({ name: 'cosine', lr: 1, totalSteps: 10, minLr: 0.1 }, 20), 0.1);
  t.equal(scheduleAt({ name: 'robbins-monro', lr: 1, tau: 10 }, 10), 0.5);
  t.throws(() => toSchedule({ name: 'linear' } as never), /unknown schedule 'linear'; valid schedules: constant, step, cosine, robbins-monro/);
  t.throws(() => toSchedule({ name: 'robbins-monro', lr: 1, power: 0.4 }), /power must lie in \(0.5, 1\]/);
  t.throws(() => toSchedule({ name: 'step', lr: 1 }), /needs 'milestones'/);
});

t.test('FG-SGD steps do not leak tensors', async (t) => {
  const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 6 });
  const { x, y } = blobData(8, [8, 8, 1], 6);
  const opt = new FGSGD(buildGrouping(model, { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 6 }), { lr: 0.05, momentum: 0.9, stabilizeEvery: 2 });
  await assertStepsDoNotLeak(t, 'fgsgd steps', 4, () => trainStep(model, opt, x, y));
  opt.dispose();
  model.dispose();
  tf.dispose([x, y]);
});
