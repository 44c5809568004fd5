/**
 * Property suite shared by every manifold test: the same checks for every manifold, retraction,
 * product and scaled variant (geoopt's habit). Not a test file itself (no `.test.` in the name).
 */
import * as tf from '@tensorflow/tfjs';
import type { Manifold, Point, ShapeOf } from '../../src/manifolds/types.js';
import { useBackend } from '../helpers/backend.js';
import type { BackendName } from '../../src/backend/index.js';
import type { Test } from 'tap';

/** Residual of a point that projx, retr or expmap produced (dimensionless). */
export const POINT_TOL = 1e-5;
/** Tangency residual of proju/transp outputs, relative to max(‖u‖, 1). */
export const TANGENT_TOL = 1e-5;
/** Idempotency, retr(x, 0) = x, inner symmetry: max abs difference relative to the point's scale. */
export const SAME_TOL = 1e-5;
/**
 * Central difference step for d/dt retr(x, t·v) at 0 with ‖v‖ = 1 per point: the truncation error
 * is O(h²) ≈ 1e-5 and the float32 round-off O(eps/h) ≈ 1e-5, so FD_TOL leaves a margin of ~20.
 */
export const FD_H = 1e-2;
export const FD_TOL = 5e-4;
/** Batched vs one-at-a-time calls (Newton–Schulz may run a different number of steps). */
export const BATCH_TOL = 1e-5;
/** dist(x, expmap(x, v)) = ‖v‖ for ‖v‖ below the injectivity radius. */
export const DIST_TOL = 1e-4;

/** Backends the geometry tests run on: FGSGD_TEST_BACKENDS=cpu,wasm (default both). */
export const TEST_BACKENDS: BackendName[] = (process.env.FGSGD_TEST_BACKENDS ?? 'cpu,wasm')
  .split(',')
  .map((s) => s.trim() as BackendName)
  .filter(Boolean);

export interface Asserter {
  ok(value: any, ...rest: any[]): unknown;
  equal(found: any, wanted: any, ...rest: any[]): unknown;
}

/** Adapter for test/helpers/leak.ts (whose `equal` takes an optional message). */
export const leakAsserter = (t: Asserter) => ({
  equal: (found: unknown, wanted: unknown, message?: string) => t.equal(found, wanted, message ?? ''),
});

export interface Case<P extends Point> {
  label: string;
  m: Manifold<P>;
  shape: ShapeOf<P>;
  /** Scale of the points (the radius of a scaled manifold): tolerances on points scale with it. */
  scale?: number;
  /**
   * The manifold that matrix i of the batch lives on, for the batched-vs-single check (a scaled
   * manifold with a per-matrix radius needs that radius' slice). Default: `m`. `dispose` frees
   * what it made.
   */
  at?: (i: number) => { m: Manifold<P>; dispose(): void };
}

// ---------- helpers on points that are a tensor or a list of tensors ----------

export const parts = (p: Point): readonly tf.Tensor[] => (Array.isArray(p) ? (p as readonly tf.Tensor[]) : [p as tf.Tensor]);
const like = <P extends Point>(ref: P, list: tf.Tensor[]): P => (Array.isArray(ref) ? list : list[0]!) as P;
export const pmap = <P extends Point>(f: (t: tf.Tensor, i: number) => tf.Tensor, p: P, ...more: P[]): P =>
  like(p, parts(p).map((t, i) => f(t, i)));
export const zip = <P extends Point>(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, a: P, b: P): P =>
  like(a, parts(a).map((t, i) => f(t, parts(b)[i]!)));
export const disposeAll = (...ps: (Point | tf.Tensor | undefined)[]) => {
  for (const p of ps) if (p) tf.dispose(parts(p as Point) as tf.Tensor[]);
};
export function maxOf(t: tf.Tensor): number {
  return tf.tidy(() => (t.size === 0 ? 0 : tf.max(t).dataSync()[0]!));
}
export function maxAbs(p: Point): number {
  return Math.max(...parts(p).map((t) => tf.tidy(() => maxOf(tf.abs(t)))));
}
export function maxAbsDiff(a: Point, b: Point): number {
  return Math.max(...parts(a).map((t, i) => tf.tidy(() => maxOf(tf.abs(tf.sub(t, parts(b)[i]!))))));
}
export function sample<P extends Point>(shape: ShapeOf<P>, seed: number): P {
  if (typeof shape[0] === 'number') return tf.randomNormal([...(shape as number[])], 0, 1, 'float32', seed) as P;
  return (shape as readonly (readonly number[])[]).map((s, i) => tf.randomNormal([...s], 0, 1, 'float32', seed * 31 + i)) as unknown as P;
}
/** v scaled to norm `to` at every point of the batch (norm from the manifold's inner). */
export function withNorm<P extends Point>(m: Manifold<P>, x: P, v: P, to: number): P {
  return tf.tidy(() => {
    const n = m.inner(x, v, v).sqrt();
    const f = tf.div(to, tf.maximum(n, 1e-30));
    return pmap((t) => tf.mul(t, f.reshape([...f.shape, 1, 1])), v) as unknown as tf.TensorContainer;
  }) as unknown as P;
}
/** Matrix i of the batch (rank-3 components only), keeping a batch axis of 1. */
export function matrixAt<P extends Point>(p: P, i: number): P {
  return pmap((t) => tf.slice(t, [i, 0, 0], [1, t.shape[1]!, t.shape[2]!]), p);
}

/** Runs `body` once per test backend, as subtests. */
export async function onBackends(t: Test, body: (t: Test, backend: BackendName) => Promise<void>) {
  for (const backend of TEST_BACKENDS) {
    await t.test(backend, async (tt) => {
      await useBackend(backend);
      await body(tt, backend);
    });
  }
}

/** Least residual of a point stretched by 1.7 off a constrained manifold (the relative residual is ≈ 0.7–1.9). */
const OFF_MANIFOLD_RESIDUAL = 0.1;

// ---------- the suite ----------

/**
 * Checks every property of the Manifold contract on one case. Every tensor it creates is disposed
 * (callers wrap it in assertNoLeak).
 */
export function checkManifold<P extends Point>(t: Asserter, c: Case<P>, seed = 1): void {
  withTensors(() => checkManifoldBody(t, c, seed));
}

function checkManifoldBody<P extends Point>(t: Asserter, c: Case<P>, seed: number): void {
  const { m, shape, label } = c;
  const scale = c.scale ?? 1;
  const tag = `${label} ${JSON.stringify(shape)}`;
  m.assertShape(shape, label);

  // random: on the manifold and reproducible.
  const x = m.random(shape, seed);
  const x2 = m.random(shape, seed);
  t.ok(maxOf(m.pointResidual(x).abs()) <= POINT_TOL, `${tag}: random lies on the manifold`);
  t.equal(maxAbsDiff(x, x2), 0, `${tag}: random is reproducible from its seed`);
  disposeAll(x2);
  // pointResidual sees a point off the manifold (else every "lies on the manifold" check above
  // and below would pass for any residual function): a random point stretched by 1.7 is off every
  // constrained manifold; the Euclidean one has no constraint and no residual.
  withTensors(() => {
    const off = maxOf(m.pointResidual(pmap((a) => tf.mul(a, 1.7), x)));
    if (m.tag.split('×').every((c) => c === 'Euc')) t.equal(off, 0, `${tag}: Euclidean: no residual anywhere`);
    else t.ok(off > OFF_MANIFOLD_RESIDUAL, `${tag}: pointResidual of a point off the manifold is ${off.toExponential(2)} > ${OFF_MANIFOLD_RESIDUAL}`);
  });
  withTensors(() => {
    // projx: lands on the manifold, idempotent.
    const amb = sample<P>(shape, seed + 1);
    const px = m.projx(pmap((a) => tf.mul(a, scale), amb));
    const res = maxOf(m.pointResidual(px));
    t.ok(res <= POINT_TOL, `${tag}: projx lands on the manifold (residual ${res.toExponential(2)})`);
    const ppx = m.projx(px);
    const d = maxAbsDiff(ppx, px) / scale;
    t.ok(d <= SAME_TOL, `${tag}: projx is idempotent (${d.toExponential(2)})`);
  });

  // proju: tangent, idempotent, orthogonal (g − u ⟂ u), equal to egrad2rgrad.
  const g = sample<P>(shape, seed + 2);
  const u = m.proju(x, g);
  withTensors(() => {
    const tr = maxOf(m.tangentResidual(x, u));
    t.ok(tr <= TANGENT_TOL, `${tag}: proju is tangent (residual ${tr.toExponential(2)})`);
    const d = maxAbsDiff(m.proju(x, u), u);
    t.ok(d <= SAME_TOL * Math.max(1, maxAbs(u)), `${tag}: proju is idempotent (${d.toExponential(2)})`);
    const normal = zip((a, b) => tf.sub(a, b), g, u);
    const orth = maxOf(m.inner(x, normal, u).abs()) / Math.max(1, maxOf(m.inner(x, g, g)));
    t.ok(orth <= TANGENT_TOL, `${tag}: proju is orthogonal: ⟨g − proju g, proju g⟩ = 0 (${orth.toExponential(2)})`);
    t.ok(maxAbsDiff(m.egrad2rgrad(x, g), u) <= SAME_TOL, `${tag}: egrad2rgrad = proju (embedded metric)`);
  });

  // inner: symmetric, positive, the Frobenius product summed over components.
  withTensors(() => {
    const v = m.proju(x, sample<P>(shape, seed + 3));
    const a = m.inner(x, u, v);
    const b = m.inner(x, v, u);
    t.ok(maxOf(tf.abs(tf.sub(a, b))) <= SAME_TOL * Math.max(1, maxOf(a.abs())), `${tag}: inner is symmetric`);
    t.ok(maxOf(tf.neg(m.inner(x, u, u))) <= 0, `${tag}: inner(u, u) ≥ 0`);
    const frob = parts(u)
      .map((ui, i) => tf.sum(tf.mul(ui, parts(v)[i]!), [-2, -1]))
      .reduce((s, q) => tf.add(s, q));
    t.ok(maxOf(tf.abs(tf.sub(a, frob))) <= SAME_TOL * Math.max(1, maxOf(frob.abs())), `${tag}: inner = Σ ⟨u, v⟩_F`);
  });

  // retr and expmap: map(x, 0) = x, on the manifold, derivative at 0 = v.
  const maps: [string, (x: P, u: P) => P][] = [['retr', (a, b) => m.retr(a, b)]];
  if (m.expmap) maps.push(['expmap', (a, b) => m.expmap!(a, b)]);
  for (const [name, f] of maps) {
    withTensors(() => {
      const zero = pmap((a) => tf.zerosLike(a), u);
      const d0 = maxAbsDiff(f(x, zero), x) / scale;
      t.ok(d0 <= SAME_TOL, `${tag}: ${name}(x, 0) = x (${d0.toExponential(2)})`);
      const y = f(x, withNorm(m, x, u, 0.8 * scale));
      const ry = maxOf(m.pointResidual(y));
      t.ok(ry <= POINT_TOL, `${tag}: ${name}(x, u) lies on the manifold (residual ${ry.toExponential(2)})`);
      const v = withNorm(m, x, u, 1);
      const hp = f(x, pmap((a) => tf.mul(a, FD_H), v));
      const hm = f(x, pmap((a) => tf.mul(a, -FD_H), v));
      const fd = zip((a, b) => tf.div(tf.sub(a, b), 2 * FD_H), hp, hm);
      const err = maxAbsDiff(fd, v);
      t.ok(err <= FD_TOL, `${tag}: d/dt ${name}(x, t·v) at 0 = v (central difference error ${err.toExponential(2)})`);
      // transp lands in the tangent space at y.
      const w = m.transp(x, y, v);
      const tr = maxOf(m.tangentResidual(y, w));
      t.ok(tr <= TANGENT_TOL, `${tag}: transp to ${name}(x, u) is tangent there (residual ${tr.toExponential(2)})`);
    });
  }

  // dist: zero on the diagonal, symmetric, and = ‖v‖ along a short geodesic.
  if (m.dist) {
    withTensors(() => {
      const y = m.random(shape, seed + 4);
      t.ok(maxOf(m.dist!(x, x).abs()) <= DIST_TOL * scale, `${tag}: dist(x, x) = 0`);
      t.ok(maxOf(tf.abs(tf.sub(m.dist!(x, y), m.dist!(y, x)))) <= DIST_TOL * scale, `${tag}: dist is symmetric`);
      if (m.expmap) {
        const v = withNorm(m, x, u, 0.5 * scale);
        const dv = m.dist!(x, m.expmap(x, v));
        const nv = m.inner(x, v, v).sqrt();
        const err = maxOf(tf.abs(tf.sub(dv, nv))) / scale;
        t.ok(err <= DIST_TOL, `${tag}: dist(x, expmap(x, v)) = ‖v‖ (${err.toExponential(2)})`);
      }
    });
  }
  disposeAll(g, u, x);
}

/**
 * Batched calls equal one-matrix-at-a-time calls, for every method. `shape` must have one batch
 * axis (rank-3 components).
 */
export function checkBatched<P extends Point>(t: Asserter, c: Case<P>, seed = 7): void {
  const { m, shape, label } = c;
  const tag = `${label} ${JSON.stringify(shape)}`;
  const first = (typeof shape[0] === 'number' ? shape : shape[0]) as readonly number[];
  const batch = first[0]!;
  withTensors(() => {
    const x = m.random(shape, seed);
    const y = m.random(shape, seed + 1);
    const a = sample<P>(shape, seed + 2);
    const u = m.proju(x, a);
    const v = withNorm(m, x, u, 0.7 * (c.scale ?? 1));
    type Op = [string, (mm: Manifold<P>, x: P, y: P, a: P, u: P, v: P) => Point | tf.Tensor];
    const ops: Op[] = [
      ['projx', (mm, _x, _y, a) => mm.projx(a)],
      ['proju', (mm, x, _y, a) => mm.proju(x, a)],
      ['retr', (mm, x, _y, _a, _u, v) => mm.retr(x, v)],
      ['transp', (mm, x, y, _a, _u, v) => mm.transp(x, y, v)],
      ['inner', (mm, x, _y, _a, u, v) => mm.inner(x, u, v)],
      ['pointResidual', (mm, _x, _y, a) => mm.pointResidual(a)],
      ['tangentResidual', (mm, x, _y, a) => mm.tangentResidual(x, a)],
    ];
    if (m.expmap) ops.push(['expmap', (mm, x, _y, _a, _u, v) => mm.expmap!(x, v)]);
    if (m.dist) ops.push(['dist', (mm, x, y) => mm.dist!(x, y)]);
    for (const [name, op] of ops) {
      const whole = op(m, x, y, a, u, v);
      let worst = 0;
      for (let i = 0; i < batch; i++) {
        tf.tidy(() => {
          const mi = c.at ? c.at(i) : { m, dispose() {} };
          const one = op(mi.m, matrixAt(x, i), matrixAt(y, i), matrixAt(a, i), matrixAt(u, i), matrixAt(v, i));
          const slice = Array.isArray(whole) || (whole as tf.Tensor).rank >= 3 ? matrixAt(whole as P, i) : tf.slice(whole as tf.Tensor, [i], [1]);
          worst = Math.max(worst, maxAbsDiff(one as Point, slice as Point));
          mi.dispose();
        });
      }
      t.ok(worst <= BATCH_TOL, `${tag}: batched ${name} = per-matrix ${name} (${worst.toExponential(2)})`);
    }
  });
}

/** Runs f and disposes every tensor it created (f returns nothing). */
export function withTensors(f: () => void): void {
  tf.tidy(f);
}
