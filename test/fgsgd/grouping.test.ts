/**
 * Grouping: every kernel in exactly one group, PI/PO/PIO structure, seed determinism, the equal
 * split of a manifold mix, summary counts, the component layout, and the errors.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import {
  buildGrouping,
  formatSummary,
  initializerSecondMoment,
  kernelGeometry,
  planKernel,
  summary,
  type Grouping,
  type KernelGrouping,
  type WeightSpec,
} from '../../src/fgsgd/grouping.js';
import { buildModel } from '../../src/models/index.js';
import { initNorm } from '../../src/fgsgd/radius.js';
import { assertNoLeak } from '../helpers/leak.js';

await useBackend('cpu');

const kernelSpec = (layer: string, shape: number[]): WeightSpec => ({
  layerName: layer,
  weightName: `${layer}/kernel`,
  variableName: `${layer}/kernel`,
  shape,
  role: 'kernel',
});

/** Checks the structural invariants of one kernel's grouping. */
interface Checks {
  // tap's assertion signatures are stricter than needed here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ok(...args: any[]): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  equal(...args: any[]): unknown;
}

function checkKernel(t: Checks, k: KernelGrouping, groupSize: number): void {
  const N = k.inUnits * k.outUnits;
  t.equal(k.groupOf.length, N, `${k.layerName}: one group id per kernel`);
  const members = k.groups.map(() => [] as number[]);
  k.groupOf.forEach((g, n) => members[g]!.push(n));
  t.ok(k.groupOf.every((g) => g >= 0 && g < k.groups.length), `${k.layerName}: every kernel is in a group`);
  t.equal(k.groups.reduce((s, g) => s + g.size, 0), N, `${k.layerName}: group sizes add up to the kernel count (each kernel in exactly one group)`);
  let structured = true;
  members.forEach((ms, g) => {
    const info = k.groups[g]!;
    if (ms.length !== info.size || ms.length > groupSize || ms.length === 0) structured = false;
    for (const n of ms) {
      const i = Math.floor(n / k.outUnits);
      const j = n % k.outUnits;
      if (info.kind === 'PI' ? i !== info.unit : j !== info.unit) structured = false;
    }
  });
  t.ok(structured, `${k.layerName}: PI groups share an input unit, PO groups an output unit, sizes ≤ ${groupSize}`);
}

t.test('every kernel of cnn-small and resnet20 lies in exactly one group, for PI, PO and PIO', async (t) => {
  const models = [buildModel('cnn-small', { inputShape: [8, 8, 1], seed: 1 }), buildModel('resnet20', { inputShape: [8, 8, 3], seed: 1 })];
  for (const model of models) {
    for (const strategy of ['PI', 'PO', 'PIO'] as const) {
      const g = buildGrouping(model, { strategy, manifolds: 'Sp+Ob+St+Euc', groupSize: 5, seed: 2 });
      for (const k of g.kernels) checkKernel(t, k, 5);
      const kinds = new Set(g.kernels.flatMap((k) => k.groups.map((x) => x.kind)));
      if (strategy === 'PIO') t.same([...kinds].sort(), ['PI', 'PO'], `${model.name} PIO: both kinds of group appear`);
      else t.same([...kinds], [strategy], `${model.name} ${strategy}: only ${strategy} groups`);
    }
    const g = buildGrouping(model, {});
    t.ok(g.others.every((o) => !/kernel$/.test(o.weightName)), `${model.name}: biases and batch-norm stay outside the kernel groups`);
    t.equal(g.kernels.length + g.others.length, model.trainableWeights.length, `${model.name}: every trainable weight is accounted for`);
    model.dispose();
  }
});

t.test('the draw is deterministic in the seed', async (t) => {
  const model = buildModel('resnet20', { inputShape: [8, 8, 3], seed: 1 });
  const cfg = { strategy: 'PIO' as const, manifolds: 'Sp+Ob+St+Euc', groupSize: 4 };
  const a = buildGrouping(model, { ...cfg, seed: 7 });
  const b = buildGrouping(model, { ...cfg, seed: 7 });
  const c = buildGrouping(model, { ...cfg, seed: 8 });
  const sig = (g: Grouping) => JSON.stringify(g.kernels.map((k) => [k.groupOf, k.groups]));
  t.equal(sig(a), sig(b), 'same seed, same groups and manifold assignment');
  t.not(sig(a), sig(c), 'another seed, another draw');
  t.same(JSON.parse(JSON.stringify(a)), a, 'a grouping is plain JSON-safe data');
  model.dispose();
});

t.test('a manifold mix is split equally among a layer’s groups; summary counts match', async (t) => {
  const model = buildModel('resnet20', { inputShape: [8, 8, 3], seed: 1 });
  const g = buildGrouping(model, { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', groupSize: 8, seed: 3 });
  const rows = summary(g);
  t.equal(rows.length, g.kernels.length);
  for (const r of rows) {
    const counts = Object.values(r.byTag).map((e) => e.groups);
    const total = counts.reduce((a, b) => a + b, 0);
    t.equal(total, r.groups, `${r.layer}: groups per manifold add up`);
    t.equal(Object.values(r.byTag).reduce((a, e) => a + e.kernels, 0), r.kernels, `${r.layer}: kernels per manifold add up`);
    if (r.groups >= 4) t.ok(Math.max(...counts) - Math.min(...counts) <= 1 && counts.length === 4, `${r.layer}: equal split ${counts.join('/')}`);
  }
  const s1 = rows.find((r) => r.layer === 's1b1_conv1')!;
  t.equal(s1.kernels, 16 * 16, 's1b1_conv1 holds 16·16 kernels');
  t.equal(s1.matrix, '3×3');
  const text = formatSummary(g);
  t.match(text, /s1b1_conv1\s+\[3,3,16,16\]\s+3×3\s+PIO\s+256/, 'the table shows the layer, shape, matrix, strategy and kernel count');
  t.match(text, /^total/m, 'and a total line');
  model.dispose();
});

t.test('per-layer overrides set the mix, strategy and group size', async (t) => {
  const model = buildModel('cnn-small', { inputShape: [8, 8, 1], seed: 1 });
  const g = buildGrouping(model, { manifolds: 'Sp+Ob', overrides: { conv2: { manifolds: 'St', strategy: 'PO', groupSize: 3 } } });
  const conv2 = g.kernels.find((k) => k.layerName === 'conv2')!;
  t.ok(conv2.groups.every((x) => x.tag === 'St' && x.kind === 'PO' && x.size <= 3), 'conv2 is all Stiefel, PO, groups ≤ 3');
  const conv1 = g.kernels.find((k) => k.layerName === 'conv1')!;
  t.same([...new Set(conv1.groups.map((x) => x.tag))].sort(), ['Ob', 'Sp'], 'conv1 keeps the global mix');
  model.dispose();
});

t.test('component layout: spatial kernels are kh×kw slices, 1×1 and dense kernels are blocks', async (t) => {
  t.same(kernelGeometry([3, 3, 4, 6]), { layout: 'spatial', rows: 3, cols: 3, inUnits: 4, outUnits: 6, inChannels: 4 });
  t.same(kernelGeometry([1, 1, 16, 32]), { layout: 'block', rows: 8, cols: 4, inUnits: 2, outUnits: 8, inChannels: 16 });
  t.same(kernelGeometry([64, 10]), { layout: 'block', rows: 8, cols: 2, inUnits: 8, outUnits: 5, inChannels: 64 });
  t.same(kernelGeometry([12, 7], { rows: 12, cols: 1 }), { layout: 'block', rows: 12, cols: 1, inUnits: 1, outUnits: 7, inChannels: 12 }, 'whole columns');

  for (const shape of [[3, 3, 4, 6], [1, 1, 16, 12], [24, 10]]) {
    const k = buildGrouping([kernelSpec('k', shape)], { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', groupSize: 3, seed: 1 }).kernels[0]!;
    const plan = planKernel(k);
    const size = shape.reduce((a, b) => a * b, 1);
    t.same([...plan.flatIndex].sort((a, b) => a - b), Array.from({ length: size }, (_, i) => i), `[${shape}]: the flat gather is a permutation`);
    t.ok(plan.flatIndex.every((f, p) => plan.inverseIndex[f] === p), `[${shape}]: the inverse gather inverts it`);
    // Component n's element (a, b) is where the layout says.
    const data = Float32Array.from({ length: size }, (_, i) => i);
    const m = k.rows * k.cols;
    const cin = shape[shape.length - 2]!;
    const cout = shape[shape.length - 1]!;
    let ok = true;
    for (let p = 0; p < plan.order.length; p++) {
      const n = plan.order[p]!;
      const i = Math.floor(n / k.outUnits);
      const j = n % k.outUnits;
      for (let a = 0; a < k.rows; a++) {
        for (let b = 0; b < k.cols; b++) {
          const want = k.layout === 'spatial' ? ((a * k.cols + b) * cin + i) * cout + j : (i * k.rows + a) * cout + (j * k.cols + b);
          if (data[plan.flatIndex[p * m + a * k.cols + b]!] !== want) ok = false;
        }
      }
    }
    t.ok(ok, `[${shape}]: components hold ω(c, d) (spatial) or blocks (1×1, dense)`);
    // Slices: contiguous per manifold type, groups sorted within.
    let pos = 0;
    for (const s of plan.slices) {
      t.equal(s.start, pos, `[${shape}] ${s.tag}: contiguous`);
      t.ok(s.segmentIds.every((v, q) => q === 0 || v >= s.segmentIds[q - 1]!), `[${shape}] ${s.tag}: group ids sorted`);
      t.ok(s.groupIds.every((gid) => k.groups[gid]!.tag === s.tag), `[${shape}] ${s.tag}: groups of that type only`);
      pos += s.count;
    }
    t.equal(pos, k.groupOf.length, `[${shape}]: the slices cover every kernel`);
  }
});

t.test('errors name what is valid', async (t) => {
  const model = buildModel('cnn-small', { inputShape: [8, 8, 1], seed: 1 });
  t.throws(() => buildGrouping(model, { strategy: 'PX' as never }), /unknown grouping strategy 'PX'; valid strategies: PI, PO, PIO/);
  t.throws(() => buildGrouping(model, { manifolds: 'Sp+Hy' }), /unknown manifold 'Hy'.*Sp.*Ob.*St.*Euc/);
  t.throws(() => buildGrouping(model, { overrides: { nope: { manifolds: 'Sp' } } }), /no layer named 'nope'.*conv1, conv2, fc/);
  t.throws(() => buildGrouping(model, { overrides: { conv1: { manifolds: 'Sp+Xx' } } }), /overrides\['conv1'\].*unknown manifold 'Xx'/);
  t.throws(() => buildGrouping(model, { groupSize: 0 }), /groupSize must be an integer ≥ 1/);
  // A 1×3 convolution has 1×3 kernel matrices: Stiefel (rows ≥ cols) cannot hold them.
  const wide = tf.sequential({ layers: [tf.layers.conv2d({ name: 'wide', inputShape: [5, 5, 2], filters: 4, kernelSize: [1, 3] })] });
  t.throws(
    () => buildGrouping(wide, { manifolds: 'St' }),
    /layer 'wide' \(kernel \[1, 3, 2, 4\]\): its 1×3 kernel matrices cannot lie on 'St'.*Transpose.*another manifold/,
    'Stiefel on rows < cols names the layer and shape and suggests transposing or another manifold',
  );
  t.doesNotThrow(() => buildGrouping(wide, { manifolds: 'Sp+Ob' }), 'the sphere and the oblique manifold hold 1×3 matrices');
  wide.dispose();
  model.dispose();
});

t.test('initializerSecondMoment matches the second moment of what each tfjs initializer draws', async (t) => {
  await assertNoLeak(t, 'initializer moments', () => {
    // A large kernel so that the empirical mean of w² is within 2% of its expectation.
    const shape = [3, 3, 64, 128];
    const cases: [string, ReturnType<typeof tf.initializers.zeros>][] = [
      ['heNormal (truncated at 2σ)', tf.initializers.heNormal({ seed: 1 })],
      ['heUniform', tf.initializers.heUniform({ seed: 2 })],
      ['glorotNormal', tf.initializers.glorotNormal({ seed: 3 })],
      ['glorotUniform', tf.initializers.glorotUniform({ seed: 4 })],
      ['leCunNormal', tf.initializers.leCunNormal({ seed: 5 })],
      ['varianceScaling fanOut uniform', tf.initializers.varianceScaling({ scale: 3, mode: 'fanOut', distribution: 'uniform', seed: 6 })],
      ['randomNormal', tf.initializers.randomNormal({ mean: 0.01, stddev: 0.03, seed: 7 })],
      ['truncatedNormal', tf.initializers.truncatedNormal({ stddev: 0.02, seed: 8 })],
      ['randomUniform', tf.initializers.randomUniform({ minval: -0.01, maxval: 0.05, seed: 9 })],
      ['orthogonal', tf.initializers.orthogonal({ gain: 2, seed: 10 })],
      ['constant', tf.initializers.constant({ value: 0.3 })],
    ];
    for (const [name, init] of cases) {
      const want = initializerSecondMoment(init as never, shape)!;
      const got = tf.tidy(() => tf.mean(tf.square(init.apply(shape))).dataSync()[0]!);
      t.ok(Math.abs(got - want) <= 0.02 * want, `${name}: E[w²] = ${want.toExponential(4)}, drawn ${got.toExponential(4)}`);
    }
    t.equal(initializerSecondMoment(tf.initializers.zeros() as never, shape), 0, 'zeros: 0 (the init policy refuses it)');
    t.equal(initializerSecondMoment({ getClassName: () => 'Mystery', getConfig: () => ({}) }, shape), undefined, 'an unknown initializer: undefined');
  });
});

t.test('the init radius of a kernel whose initializer gives no norm is refused, naming the layer', async (t) => {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ name: 'zeroed', inputShape: [6, 6, 1], filters: 2, kernelSize: 3, kernelInitializer: 'zeros' }));
  const k = buildGrouping(model, { manifolds: 'Sp' }).kernels[0]!;
  t.equal(k.initializer, 'Zeros');
  t.throws(() => initNorm(k), /radius policy 'init': the initializer of layer 'zeroed' \(Zeros\) gives no positive expected norm; give that layer a radius of its own \(e.g. --radius-layer zeroed=1/);
  model.dispose();
});
