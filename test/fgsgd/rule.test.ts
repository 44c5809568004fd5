/**
 * The update rule (src/fgsgd/rule.ts) on hand-sized inputs, against the formulas written out in
 * plain JS: the sphere step with a fixed rate, the adaptive rate, a group skipped for a non-finite
 * gradient, an absent component, the momentum carried by transport, and the Euclidean step.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { sphere } from '../../src/manifolds/index.js';
import { euclideanStep, gatherSegmentSum, groupGatherOf, riemannianStep, type GroupLayout } from '../../src/fgsgd/rule.js';

await useBackend('cpu');

/** Components [count, 1, 2] (2-vectors), groups given by sorted ids. */
function layout(groups: number[]): GroupLayout {
  const n = groups.length;
  return {
    manifold: sphere(),
    euclidean: false,
    numGroups: Math.max(...groups) + 1,
    positions: tf.tensor1d(Array.from({ length: n }, (_, i) => i), 'int32'),
    segmentIds: tf.tensor1d(groups, 'int32'),
    segmentIndex: tf.tensor2d(groups, [n, 1], 'int32'),
    groupGather: tf.tensor2d(groupGatherOf(groups).data, groupGatherOf(groups).shape, 'int32'),
    rho: tf.tensor1d(Array(Math.max(...groups) + 1).fill(Math.PI)),
    curv: tf.tensor1d(Array(Math.max(...groups) + 1).fill(1)),
  };
}
const disposeLayout = (l: GroupLayout) => tf.dispose([l.positions, l.segmentIds, l.segmentIndex, l.groupGather, l.rho!, l.curv!]);

/** The sphere step in JS: rgrad = g − ⟨x, g⟩x, y = (x − r·rgrad)/‖·‖. */
function sphereStep(x: number[], g: number[], r: number): number[] {
  const xg = x[0]! * g[0]! + x[1]! * g[1]!;
  const u = [g[0]! - xg * x[0]!, g[1]! - xg * x[1]!];
  const y = [x[0]! - r * u[0]!, x[1]! - r * u[1]!];
  const n = Math.hypot(y[0]!, y[1]!);
  return [y[0]! / n, y[1]! / n];
}

t.test('fixed rate: every component moves along its Riemannian gradient and is retracted', async (t) => {
  await assertNoLeak(t, 'fixed', () => {
    const l = layout([0, 0, 1]);
    const xs = [[1, 0], [0.6, 0.8], [0, 1]];
    const gs = [[0.3, 0.5], [-0.2, 0.4], [1, 1]];
    const out = tf.tidy(() => {
      const r = riemannianStep(l, { x: tf.tensor3d([xs], [1, 3, 2]).reshape([3, 1, 2]), g: tf.tensor3d([gs], [1, 3, 2]).reshape([3, 1, 2]), flag: tf.zeros([3]) }, { lr: 0.1, momentum: 0, weightDecay: 0, adaptive: false, exp: false });
      return [r.y.arraySync() as number[][][], r.skipped.arraySync() as number, r.buffer];
    });
    const [y, skipped, buffer] = out as [number[][][], number, undefined];
    xs.forEach((x, i) => t.ok(sphereStep(x, gs[i]!, 0.1).every((v, k) => Math.abs(v - y[i]![0]![k]!) < 1e-6), `component ${i}`));
    t.equal(skipped, 0);
    t.equal(buffer, undefined, 'no buffer without momentum');
    disposeLayout(l);
  });
});

t.test('adaptive rate: r = g(t)/max(1, n²·max((2ρ+n)², 1+c(ρ+n))) per group', async (t) => {
  await assertNoLeak(t, 'adaptive', () => {
    const l = layout([0]);
    const x = [1, 0];
    const g = [0, 2]; // rgrad = g; n = 2
    const y = tf.tidy(() => riemannianStep(l, { x: tf.tensor3d([[x]]), g: tf.tensor3d([[g]]), flag: tf.zeros([1]) }, { lr: 0.5, momentum: 0, weightDecay: 0, adaptive: true, exp: false }).y.arraySync() as number[][][]);
    const n = 2;
    const r = 0.5 / Math.max(1, n * n * Math.max((2 * Math.PI + n) ** 2, 1 + (Math.PI + n)));
    const want = sphereStep(x, g, r);
    t.ok(Math.abs(y[0]![0]![0]! - want[0]!) < 1e-6 && Math.abs(y[0]![0]![1]! - want[1]!) < 1e-6, `y ${y[0]![0]} ≈ ${want}`);
    disposeLayout(l);
  });
});

t.test('a non-finite gradient skips its group (point and buffer stay); an absent component stays; momentum is transported', async (t) => {
  await assertNoLeak(t, 'skip', () => {
    const l = layout([0, 1, 2]);
    const x = tf.tensor3d([[[1, 0]], [[0, 1]], [[0.6, 0.8]]]);
    const graw = [[[0, 1]], [[NaN, 1]], [[1, 0]]];
    const res = tf.tidy(() => {
      const G = tf.tensor3d(graw);
      const g = tf.where(tf.isFinite(G), G, tf.zerosLike(G));
      const flag = tf.sum(tf.mul(G, 0), [1, 2]);
      const buffer = tf.tensor3d([[[0, 0.5]], [[0.5, 0]], [[0.1, 0.1]]]);
      const present = tf.tensor3d([1, 1, 0], [3, 1, 1]);
      const r = riemannianStep(l, { x, g, flag, buffer, present }, { lr: 0.1, momentum: 0.9, weightDecay: 0, adaptive: false, exp: false });
      return { y: r.y.arraySync() as number[][][], b: r.buffer!.arraySync() as number[][][], skipped: r.skipped.arraySync() as number };
    });
    t.equal(res.skipped, 1, 'one group skipped');
    t.same(res.y[1], [[0, 1]], 'the NaN group stays');
    t.same(res.b[1], [[0.5, 0]], 'and keeps its buffer');
    t.same(res.y[2], [[Math.fround(0.6), Math.fround(0.8)]], 'the absent component stays, bit for bit');
    // Component 0: d = 0.9·[0, 0.5] + proj([0, 1]) = [0, 1.45]; y = normalize([1, −0.145]); m = proj_y(d).
    const want = sphereStep([1, 0], [0, 1.45], 0.1);
    t.ok(Math.abs(res.y[0]![0]![0]! - want[0]!) < 1e-6 && Math.abs(res.y[0]![0]![1]! - want[1]!) < 1e-6, 'component 0 moves by momentum + gradient');
    const dy = 0 * want[0]! + 1.45 * want[1]!;
    const m = [0 - dy * want[0]!, 1.45 - dy * want[1]!];
    t.ok(Math.abs(res.b[0]![0]![0]! - m[0]!) < 1e-6 && Math.abs(res.b[0]![0]![1]! - m[1]!) < 1e-6, 'its buffer is carried to the tangent space at y');
    x.dispose();
    disposeLayout(l);
  });
});

t.test('euclideanStep: x − lr·(μm + g + wd·x) where ok, unchanged where not', async (t) => {
  await assertNoLeak(t, 'euclidean', () => {
    const r = tf.tidy(() => {
      const s = euclideanStep(tf.tensor1d([1, 2]), tf.tensor1d([0.5, 0.5]), tf.tensor1d([1, 0]), tf.tensor1d([0.2, 0.2]), { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
      return { y: Array.from(s.y.dataSync()), b: Array.from(s.buffer!.dataSync()) };
    });
    const d0 = 0.9 * 0.2 + 0.5 + 0.01 * 1;
    t.ok(Math.abs(r.y[0]! - (1 - 0.1 * d0)) < 1e-6, 'moved');
    t.equal(r.y[1], 2, 'not ok: stays');
    t.ok(Math.abs(r.b[0]! - d0) < 1e-6 && Math.abs(r.b[1]! - 0.2) < 1e-6, 'buffer updated where ok, kept where not');
  });
});

t.test('the gather form of the per-group sum equals sparseSegmentSum and keeps a NaN inside its group', async (t) => {
  await assertNoLeak(t, 'segment sum', () => {
    const seg = [0, 0, 0, 1, 2, 2];
    t.same(groupGatherOf(seg), { shape: [3, 3], data: Int32Array.from([0, 1, 2, 3, 6, 6, 4, 5, 6]) }, 'indices, padded with the count');
    const [a, b] = tf.tidy(() => {
      const v = tf.tensor1d([1, 2, 3, 4, NaN, 6]);
      const g = tf.tensor2d(groupGatherOf(seg).data, groupGatherOf(seg).shape, 'int32');
      return [Array.from(gatherSegmentSum(v, g).dataSync()), Array.from(tf.sparse.sparseSegmentSum(v, tf.range(0, 6, 1, 'int32'), tf.tensor1d(seg, 'int32')).dataSync())];
    });
    t.same(a.slice(0, 2), [6, 4], 'finite groups summed');
    t.ok(Number.isNaN(a[2]!), 'the NaN stays in its group');
    t.same(a.slice(0, 2), b.slice(0, 2), 'as sparseSegmentSum');
  });
});
