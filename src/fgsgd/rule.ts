/**
 * The update rule of FG-SGD (Ozay 2019, Algorithm 1), for one batch of groups that share a
 * manifold type, and the plain SGD step for Euclidean parameters. Pure tensor functions: the
 * caller (src/fgsgd/optimizer.ts) lays the weights, gradients and buffers out as components
 * `[count, rows, cols]` sorted by group, runs these inside `tf.tidy`, writes `y` back and keeps
 * the new buffer. Nothing here knows about buckets, variables or the grouping.
 *
 * For each group g of components X with Euclidean gradient G (non-finite entries zeroed):
 * 1. rgrad = egrad2rgrad(X, G); Euclidean groups first get weight decay G + wd·X.
 * 2. d = μ·m + rgrad (m the momentum buffer);
 * 3. r = g(t) ('fixed'), or the adaptive rate r = g(t) / max(1, n²·max((2ρ + n)², 1 + c·(ρ + n)))
 *    with n the norm of the group's d (on the unit manifolds when `invRadiusSq` is given: each
 *    component's ‖d‖²/ℜ²), ρ the diameter and c the curvature bound of the group's manifold;
 *    Euclidean groups take r = g(t);
 * 4. Y = retr(X, −r·d) (or expmap), and m ← transp(X, Y, d).
 * A group whose direction has a non-finite norm (a NaN/Inf gradient entry, flagged by `flag`) is
 * not moved and keeps its buffer; so is a component whose `present` flag is 0. Euclidean groups
 * take the plain step (`euclideanStep`, the same arithmetic) and are skipped on `flag` alone.
 */
import * as tf from '@tensorflow/tfjs';
import type { MatrixManifold } from '../manifolds/index.js';

/** Which group each component belongs to, and the group's geometry. */
export interface GroupLayout {
  /** The manifold of every component (ℜ-scaled for constrained groups). */
  manifold: MatrixManifold;
  euclidean: boolean;
  numGroups: number;
  /** 0..count−1, and the sorted group id of each component ([count]) and as `[count, 1]` indices. */
  positions: tf.Tensor1D;
  segmentIds: tf.Tensor1D;
  segmentIndex: tf.Tensor2D;
  /** Each group's components as `[numGroups, largest group]` indices, padded with `count` (see `segmentSum`). */
  groupGather: tf.Tensor2D;
  /** ρ and c per group (the adaptive rules, constrained groups). */
  rho?: tf.Tensor1D;
  curv?: tf.Tensor1D;
  /** 1/ℜ² per component: the adaptive rule evaluated on the unit manifolds. */
  invRadiusSq?: tf.Tensor1D;
}

export interface Hyperparameters {
  /** g(t), the step's learning rate. */
  lr: number;
  momentum: number;
  /** Weight decay of Euclidean groups. */
  weightDecay: number;
  adaptive: boolean;
  /** Use the exponential map where the manifold has one (default: the retraction). */
  exp: boolean;
}

export interface StepInput {
  /** Points and cleaned gradients, [count, rows, cols]. */
  x: tf.Tensor;
  g: tf.Tensor;
  /** Per component, 0, or NaN where its raw gradient had a non-finite entry. */
  flag: tf.Tensor;
  /** Momentum buffer, [count, rows, cols] (none yet: zero). */
  buffer?: tf.Tensor;
  /** Per component, 1 where its variable has a gradient this step, 0 where not ([count, 1, 1]; absent: all). */
  present?: tf.Tensor;
}

export interface StepOutput {
  y: tf.Tensor;
  /** The new buffer (momentum > 0), for the caller to keep. */
  buffer?: tf.Tensor;
  /** Groups not updated (non-finite direction), int32 scalar. */
  skipped: tf.Tensor;
}

/** One step of Algorithm 1 for the groups of `layout`. Call inside `tf.tidy`. */
export function riemannianStep(layout: GroupLayout, input: StepInput, h: Hyperparameters): StepOutput {
  const M = layout.manifold;
  const { x, flag, buffer } = input;
  const count = x.shape[0]!;
  if (layout.euclidean) {
    // The plain step, elementwise (`euclideanStep`): the same arithmetic as retr(X, −g(t)·d) on
    // ℝ^{r×c} (x − g(t)·d is x + (−g(t))·d bit for bit), without a norm. A group is skipped when its
    // raw gradient has a non-finite entry, as in the optimizer's plain bucket.
    const okGroup = tf.isFinite(segmentSum(flag, layout));
    let ok = tf.gatherND(tf.cast(okGroup, 'float32'), layout.segmentIndex).reshape([count, 1, 1]);
    if (input.present) ok = tf.mul(ok, input.present);
    const step = euclideanStep(x, input.g, ok, buffer, h);
    return { ...step, skipped: tf.sum(tf.cast(tf.logicalNot(okGroup), 'int32')) };
  }
  const g = input.g;
  const rgrad = M.egrad2rgrad(x, g);
  const d = h.momentum > 0 && buffer ? tf.add(tf.mul(buffer, h.momentum), rgrad) : rgrad;
  // Squared product-metric norm of each group's direction, NaN for a bad group. (A sorted-segment
  // sum: components are ordered by group; wasm lacks UnsortedSegmentSum.)
  const sq = layout.invRadiusSq ? tf.mul(M.inner(x, d, d), layout.invRadiusSq) : M.inner(x, d, d);
  const gsq = segmentSum(tf.add(sq, flag), layout);
  const okGroup = tf.isFinite(gsq);
  // The adaptive rate per group; the fixed one is g(t) everywhere.
  let rateGroup: tf.Tensor | undefined;
  if (h.adaptive) {
    const gn = tf.sqrt(gsq);
    const a = tf.square(tf.add(tf.mul(layout.rho!, 2), gn));
    const c = tf.add(1, tf.mul(layout.curv!, tf.add(layout.rho!, gn)));
    rateGroup = tf.div(h.lr, tf.maximum(1, tf.mul(gsq, tf.maximum(a, c))));
  }
  let ok = tf.gatherND(tf.cast(okGroup, 'float32'), layout.segmentIndex).reshape([count, 1, 1]);
  if (input.present) ok = tf.mul(ok, input.present);
  const notOk = tf.sub(1, ok);
  // −r per component, ±0 for a bad group or an absent member. The selections below are exact
  // for ok ∈ {0, 1}, since every operand is finite (a bad group's adaptive rate is NaN, so it is
  // replaced by 0 before the product).
  const negRate = rateGroup
    ? tf.mul(tf.gatherND(tf.where(okGroup, tf.neg(rateGroup), tf.zerosLike(rateGroup)), layout.segmentIndex).reshape([count, 1, 1]), ok)
    : tf.mul(ok, -h.lr);
  const v = tf.mul(d, negRate);
  const moved = h.exp && M.expmap ? M.expmap(x, v) : M.retr(x, v);
  const y = tf.add(tf.mul(moved, ok), tf.mul(x, notOk));
  const skipped = tf.sum(tf.cast(tf.logicalNot(okGroup), 'int32'));
  if (!(h.momentum > 0)) return { y, skipped };
  const carried = M.transp(x, moved, d);
  return { y, skipped, buffer: buffer ? tf.add(tf.mul(carried, ok), tf.mul(buffer, notOk)) : tf.mul(carried, ok) };
}

/**
 * Plain SGD with momentum and weight decay: x − g(t)·(μ·m + G + wd·x) where `ok` is 1; where it
 * is 0 (a non-finite gradient, or no gradient) x and m stay. `g` is the cleaned gradient. Call
 * inside `tf.tidy`.
 */
export function euclideanStep(x: tf.Tensor, g: tf.Tensor, ok: tf.Tensor, buffer: tf.Tensor | undefined, h: Pick<Hyperparameters, 'lr' | 'momentum' | 'weightDecay'>): { y: tf.Tensor; buffer?: tf.Tensor } {
  const gd = h.weightDecay > 0 ? tf.add(g, tf.mul(x, h.weightDecay)) : g;
  const d = h.momentum > 0 && buffer ? tf.add(tf.mul(buffer, h.momentum), gd) : gd;
  const y = tf.sub(x, tf.mul(tf.mul(d, ok), h.lr));
  if (!(h.momentum > 0)) return { y };
  return { y, buffer: buffer ? tf.add(tf.mul(d, ok), tf.mul(buffer, tf.sub(1, ok))) : tf.mul(d, ok) };
}

/** Backends whose SparseSegmentSum reads its input back to the CPU synchronously (impossible for GPU memory in Node). */
const GATHER_SUM_BACKENDS = new Set(['webgpu', 'webgl']);

/**
 * Σ over each group of `v` ([count], sorted by group): `sparseSegmentSum` where the backend has it
 * (cpu, wasm, tensorflow), else a gather of each group's components, padded with a 0, and a sum
 * over the last axis. Either way a non-finite value stays inside its own group.
 */
export function segmentSum(v: tf.Tensor, layout: Pick<GroupLayout, 'positions' | 'segmentIds' | 'groupGather'>): tf.Tensor {
  if (!GATHER_SUM_BACKENDS.has(tf.getBackend())) return tf.sparse.sparseSegmentSum(v, layout.positions, layout.segmentIds);
  return gatherSegmentSum(v, layout.groupGather);
}

/** The gather form of `segmentSum`, on any backend. */
export function gatherSegmentSum(v: tf.Tensor, groupGather: tf.Tensor2D): tf.Tensor {
  return tf.sum(tf.gather(tf.concat([v, tf.zeros([1])]), groupGather), 1);
}

/** The `groupGather` of sorted group ids `seg` (see `GroupLayout`). */
export function groupGatherOf(seg: ArrayLike<number>): { shape: [number, number]; data: Int32Array } {
  const n = seg.length;
  const groups = n ? seg[n - 1]! + 1 : 0;
  const sizes = new Int32Array(groups);
  for (let i = 0; i < n; i++) sizes[seg[i]!]!++;
  const width = Math.max(1, ...sizes);
  const data = new Int32Array(groups * width).fill(n);
  const filled = new Int32Array(groups);
  for (let i = 0; i < n; i++) {
    const g = seg[i]!;
    data[g * width + filled[g]!++] = i;
  }
  return { shape: [groups, width], data };
}
