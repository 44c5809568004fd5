/**
 * FG-SGD (Ozay 2019, Algorithm 1) as a `tf.Optimizer`: the layout around the rule. The rule itself,
 * one step for a batch of groups of one manifold type, is `riemannianStep` in rule.ts (and
 * `euclideanStep` for the other weights); this file lays weights, gradients and buffers out for it.
 *
 * For every step t, layer and group g, batched over all groups of a manifold type at once:
 * 1. rgrad = egrad2rgrad(X, G) on the ℜ-scaled manifold (`scaled(M, ℜ)`); Euclidean parameters
 *    first get weight decay G + wd·X.
 * 2. d = μ·m + rgrad with the momentum buffer m (μ = 0: d = rgrad), and the step v = −r·d with
 *    - 'fixed' (default): r = g(t), chosen on validation accuracy over the adaptive rules;
 *    - 'adaptive': r = g(t) / max(1, n²·max((2ρ + n)², 1 + c·(ρ + n))), the rule
 *      evaluated on the unit manifold **[choice]**: n = √Σ‖d‖²/ℜ² is the norm of the group's
 *      direction in the product metric of the unit manifolds (each kernel's d divided by its ℜ),
 *      ρ the unit diameter (the largest over the group's kernels, or with `rho: 'product'` the
 *      product's diameter √Σ diameter²) and c the unit curvature bound. Its throttling is then
 *      scale-free: with ℜ ×k (and the gradient of the same function of the unit-scale weights,
 *      ×k) the stored-coordinate update is exactly ×k;
 *    - 'adaptive-stored': the same rule on the ℜ-scaled manifold (n = √Σ‖d‖², ρ = diameter·ℜ,
 *      c = curvature/ℜ²), whose throttling depends on ℜ (at ℜ = 0.1 it cut steps to 4–13% of
 *      g(t)); kept to reproduce earlier results.
 *    Euclidean groups (ρ = ∞, c = 0) take the plain step r = g(t) in both adaptive rules **[choice]**.
 * 3. Y = retr(X, v) (default) or expmap(X, v) where the manifold has one; the momentum buffer is
 *    carried to Y by vector transport (projection onto the tangent space at Y).
 * A group whose direction has a non-finite norm (NaN/Inf in its gradient) is not updated: its
 * point and buffer stay, and `skippedGroupUpdates` counts it. Every `stabilizeEvery` steps points
 * are re-projected onto their manifolds and buffers onto the tangent spaces (geoopt's `stabilize`).
 *
 * The optimizer knows only the `Manifold` interface. Kernels whose component matrices have the
 * same shape (every 3×3 conv of a ResNet, say) form a bucket; per bucket it builds, once, index
 * tensors from `planKernel` (a flat gather that orders all the bucket's components by manifold
 * type, variable and group; segment ids; the inverse gather), so that an update is a constant
 * number of tensor ops per bucket and manifold type, plus a reshape and an assign per variable,
 * whatever the number of kernels. The weights that take the plain Euclidean step (the non-kernel
 * weights, and the kernels whose every group is Euclidean) are updated together in their own layout
 * (`PlainBucket`): an elementwise step needs no permutation.
 * On the wasm and onednn backends each bucket, and the plain bucket, is one fused kernel call
 * (`fusedKinds`; src/backend/fgsgd_step_module.ts) with the same numbers, bit for bit.
 *
 * Renormalization (implementation (b)): the model's variables hold the scaled weights ℜ·X; ℜ of
 * every component comes from `radiiFor` (γ and the radius policy: the initializer's norm, λ, or a
 * bound). `setLambdas` changes λ (the renormalizer calls it at each refresh; it matters only under
 * the `data` policy) and rescales the variables by ℜnew/ℜold.
 *
 * Plain SGD with momentum is this optimizer with every group Euclidean (`manifolds: 'Euc'`).
 *
 * Tensor ownership: the optimizer owns its index tensors, radii, momentum buffers and counters and
 * frees them in `dispose()`; it never disposes the gradients it is given; every step's
 * intermediates are freed inside `tf.tidy`.
 */
import * as tf from '@tensorflow/tfjs';
import type { FusedKind } from '../backend/fgsgd_step_module.js';
import type { BucketStepAttrs } from '../backend/kernels/FgsgdBucketStep.js';
import type { PlainStepAttrs } from '../backend/kernels/FgsgdPlainStep.js';
import { MANIFOLD_TAGS, manifoldByTag, scaled, type MatrixManifold, type ScaledManifold, type StiefelRetraction } from '../manifolds/index.js';
import { planKernel, type Grouping, type KernelGrouping, type KernelPlan } from './grouping.js';
import { checkRadiusOptions, DEFAULT_LAMBDA_FLOOR, DEFAULT_RADIUS, radiiFor, type RadiusOptions } from './radius.js';
import { scheduleAt, toSchedule, type ScheduleConfig } from './schedules.js';
import { euclideanStep, groupGatherOf, riemannianStep, segmentSum, type Hyperparameters } from './rule.js';

export interface FGSGDConfig extends RadiusOptions {
  /** g(t): a constant rate or a schedule config (`schedules.ts`). */
  lr: number | ScheduleConfig;
  /** 'fixed' (r = g(t), default), 'adaptive' (the spec's rule on the unit manifold) or 'adaptive-stored' (on the ℜ-scaled one). */
  step?: StepRule;
  /** ρ of a group: 'component' (largest kernel diameter·ℜ, default) or 'product' (√Σ). */
  rho?: 'component' | 'product';
  /** Momentum μ (default 0). */
  momentum?: number;
  /** Weight decay on Euclidean parameters only (default 0). */
  weightDecay?: number;
  /** 'retr' (default) or 'exp' (exponential map where the manifold has a closed form). */
  map?: 'retr' | 'exp';
  /** Retraction of Stiefel groups (default 'qr'). */
  stiefelRetraction?: StiefelRetraction;
  /** Re-project points and buffers every N steps; 0 never (default 100). */
  stabilizeEvery?: number;
  /** Project onto the manifolds (stage (i)) before the first step if not done yet (default true). */
  projectOnFirstStep?: boolean;
}

export const STEP_RULES = ['adaptive', 'adaptive-stored', 'fixed'] as const;
export type StepRule = (typeof STEP_RULES)[number];
/**
 * The default step rule, chosen on validation accuracy (the `settings` grid, docs/fgsgd.md): the
 * spec's adaptive rule on the unit manifold throttles most steps away at this project's budgets.
 */
export const DEFAULT_STEP_RULE: StepRule = 'fixed';

export type ResolvedConfig = Required<Omit<FGSGDConfig, 'lr'>> & { lr: ScheduleConfig };

/** Defaults of everything FG-SGD decides, in one place. */
const DEFAULTS: Omit<ResolvedConfig, 'lr'> = {
  step: DEFAULT_STEP_RULE,
  rho: 'component',
  momentum: 0,
  weightDecay: 0,
  map: 'retr',
  stiefelRetraction: 'qr',
  stabilizeEvery: 100,
  projectOnFirstStep: true,
  radius: DEFAULT_RADIUS,
  radiusLayers: {},
  gamma: 'spec',
  lambdaFloor: DEFAULT_LAMBDA_FLOOR,
};

function resolve(config: FGSGDConfig, base?: ResolvedConfig): ResolvedConfig {
  const merged = { ...DEFAULTS, ...base, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) } as FGSGDConfig;
  const cfg = { ...merged, lr: toSchedule(merged.lr) } as ResolvedConfig;
  if (!(STEP_RULES as readonly string[]).includes(cfg.step)) throw new Error(`fgsgd: unknown step rule '${cfg.step}'; valid: ${STEP_RULES.join(', ')}.`);
  if (!['component', 'product'].includes(cfg.rho)) throw new Error(`fgsgd: unknown rho '${cfg.rho}'; valid: component, product.`);
  if (!['retr', 'exp'].includes(cfg.map)) throw new Error(`fgsgd: unknown map '${cfg.map}'; valid: retr, exp.`);
  if (!['spec', 'one'].includes(cfg.gamma)) throw new Error(`fgsgd: unknown gamma '${cfg.gamma}'; valid: spec, one.`);
  if (!(cfg.momentum >= 0 && cfg.momentum < 1)) throw new Error(`fgsgd: momentum must lie in [0, 1), got ${cfg.momentum}.`);
  if (!(cfg.weightDecay >= 0)) throw new Error(`fgsgd: weightDecay must be ≥ 0, got ${cfg.weightDecay}.`);
  try {
    checkRadiusOptions(cfg);
  } catch (e) {
    throw new Error(`fgsgd: ${(e as Error).message}`);
  }
  if (!(Number.isInteger(cfg.stabilizeEvery) && cfg.stabilizeEvery >= 0)) throw new Error(`fgsgd: stabilizeEvery must be an integer ≥ 0.`);
  return cfg;
}

/** One kernel variable inside a bucket. */
interface Member {
  spec: KernelGrouping;
  plan: KernelPlan;
  /** Element offset of the variable in the bucket's flat concatenation. */
  offset: number;
  size: number;
  /** ℜ per component, component order n = i·outUnits + j (JS). */
  radii: Float32Array;
}

/** One manifold type's contiguous slice of a bucket's permuted components. */
interface SliceState {
  tag: string;
  start: number;
  count: number;
  numGroups: number;
  euclidean: boolean;
  /** The ℜ-scaled manifold (the base manifold for Euclidean slices). */
  manifold: MatrixManifold;
  /** Which member and component each position of the slice holds (JS). */
  member: Int32Array;
  component: Int32Array;
  /** Sorted group id of each position (local to the slice): JS, tensor, and `[count, 1]` indices. */
  seg: Int32Array;
  segmentIds: tf.Tensor1D;
  segmentIndex: tf.Tensor2D;
  /** The groups' components as gather indices (`segmentSum` on GPU backends). */
  groupGather: tf.Tensor2D;
  /** 0..count−1, the `indices` of the sparse segment sum. */
  positions: tf.Tensor1D;
  /** ℜ per position, [count, 1, 1] (owned; absent for Euclidean slices). */
  radius?: tf.Tensor;
  /** ρ and c per group (adaptive step, non-Euclidean slices). */
  rho?: tf.Tensor1D;
  curv?: tf.Tensor1D;
  /** 1/ℜ² per position, [count] (the unit-manifold adaptive rule; owned). */
  invRadiusSq?: tf.Tensor1D;
  /** Momentum buffer, [count, rows, cols] (owned). */
  buffer?: tf.Tensor;
}

/**
 * All grouped kernels whose component matrices have the same shape (e.g. every 3×3 conv of a
 * ResNet), updated together: one flat concatenation, one gather that orders all their components
 * by manifold type (then variable, then group), one batched update per type, one inverse gather.
 */
interface Bucket {
  rows: number;
  cols: number;
  members: Member[];
  size: number;
  /** Flat gathers bucket ↔ permuted components, as `[size, 1]` gatherND indices. */
  flatIndex: tf.Tensor2D;
  inverseIndex: tf.Tensor2D;
  slices: SliceState[];
  /** Presence flags per slice for a pattern of members without a gradient (rare; cached). */
  presence: Map<string, tf.Tensor[]>;
}

/**
 * Every weight that takes the plain Euclidean step, updated together in the variables' own layout:
 * the non-kernel weights (biases, batch-norm; one group each) and the kernels whose every group is
 * Euclidean (their groups). A Euclidean step is elementwise, so these need no permutation into
 * components; only the per-group non-finite check needs the groups, through `sortIndex`.
 */
interface PlainBucket {
  members: { weightName: string; variableName: string; shape: number[]; offset: number; size: number }[];
  size: number;
  /** The member owning each group (JS), for the presence flags. */
  groupMember: Int32Array;
  /** The elements in group order, as `[size, 1]` gatherND indices; absent when the flat layout is in group order already (one group per variable). */
  sortIndex?: tf.Tensor2D;
  /** Group ids in group order (sorted), `segmentSum`'s layout (`positions`, `groupGather`). */
  segmentIds: tf.Tensor1D;
  groupGather: tf.Tensor2D;
  positions: tf.Tensor1D;
  /** Group of every element in the flat (variable) layout, as `[size, 1]` gatherND indices. */
  elementGroup: tf.Tensor2D;
  buffer?: tf.Tensor;
}

/** A variable outside the grouping (seen only in `applyGradients`): plain Euclidean step. */
interface LooseState {
  buffer?: tf.Tensor;
}

/** JSON part of the optimizer state (tensors go alongside, see `getState`). */
export interface FGSGDStateJson {
  className: 'FGSGD';
  version: 1;
  iterations: number;
  skippedGroupUpdates: number;
  config: ResolvedConfig;
  grouping: Grouping;
  /** λ per input channel of each kernel that has statistics, by weight name. */
  lambdas: Record<string, number[]>;
  /** Whether stage (i) has been applied. */
  projected: boolean;
}

export interface FGSGDState {
  json: FGSGDStateJson;
  /** Momentum buffers in each variable's own layout, named '<weight name>/momentum'. */
  tensors: Record<string, tf.Tensor>;
}

/** tfjs-core's NamedTensor (not re-exported by @tensorflow/tfjs). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

type Registry = Record<string, tf.Variable>;
const registered = (): Registry => tf.engine().registeredVariables as Registry;

const int2d = (a: ArrayLike<number>) => tf.keep(tf.tensor2d(Int32Array.from(a), [a.length, 1], 'int32'));
const int1d = (a: ArrayLike<number>) => tf.keep(tf.tensor1d(Int32Array.from(a), 'int32'));
const gatherOf = (seg: ArrayLike<number>) => {
  const { shape, data } = groupGatherOf(seg);
  return tf.keep(tf.tensor2d(data, shape, 'int32'));
};

/** A flat vector of members concatenated (variable layout) split into the members' tensors, of `shapes`. */
const splitFlat = (flat: tf.Tensor, shapes: readonly number[][]): tf.Tensor[] =>
  (shapes.length === 1 ? [flat] : tf.split(flat, shapes.map((shape) => tf.util.sizeFromShape(shape)))).map((t, i) => t.reshape(shapes[i]!));

/** The base manifolds the fused bucket kernel computes, by name (a Stiefel manifold's is 'stiefel' with the QR retraction only). */
const FUSED_BASES: Record<string, FusedKind> = { sphere: 'sphere', oblique: 'oblique', stiefel: 'stiefel' };

export class FGSGD extends tf.Optimizer {
  static get className(): string {
    return 'FGSGD';
  }

  private cfg: ResolvedConfig;
  private grouping: Grouping;
  private buckets: Bucket[] = [];
  private plain?: PlainBucket;
  /** Grouped kernels by tf.Variable name and by weight name. */
  private byVariable = new Map<string, { bucket?: Bucket; member: Member }>();
  private byWeight = new Map<string, { bucket?: Bucket; member: Member }>();
  /** The weights of the plain bucket (non-kernel weights, all-Euclidean kernels), by tf.Variable name. */
  private plainNames = new Set<string>();
  /** Variables outside the grouping, by tf.Variable name. */
  private loose = new Map<string, LooseState>();
  /** λ per input channel, by weight name (kept across hot-swaps). */
  private lambdas = new Map<string, Float32Array>();
  private skipped: tf.Scalar = tf.keep(tf.scalar(0, 'int32'));
  private projected = false;

  /**
   * @param grouping from `buildGrouping`: which components lie on which manifold.
   * @param config step rule, schedule, momentum, renormalization bound; see `FGSGDConfig`.
   */
  constructor(grouping: Grouping, config: FGSGDConfig) {
    super();
    this.cfg = resolve(config);
    this.grouping = grouping;
    this.iterations_ = 0;
    this.build();
  }

  getClassName(): string {
    return 'FGSGD';
  }

  /** The resolved configuration (a copy). */
  get config(): ResolvedConfig {
    return structuredClone(this.cfg);
  }

  /** The grouping in use. */
  get currentGrouping(): Grouping {
    return this.grouping;
  }

  /** Number of group updates skipped so far because of a non-finite gradient (one read-back). */
  async skippedGroupUpdates(): Promise<number> {
    return (await this.skipped.data())[0]!;
  }

  /** ℜ of every component of a kernel (component order n = i·outUnits + j), by weight name. */
  radii(weightName: string): Float32Array | undefined {
    return this.byWeight.get(weightName)?.member.radii.slice();
  }

  /** λ per input channel currently used for a kernel (by weight name), if any. */
  lambda(weightName: string): Float32Array | undefined {
    return this.lambdas.get(weightName)?.slice();
  }

  /**
   * Diagnostics: per manifold type, the largest constraint residual of the points and the largest
   * tangency residual of the momentum buffers (both relative, from the manifolds'
   * `pointResidual` / `tangentResidual` at the current radii). One sync per bucket and type.
   */
  residuals(): Record<string, { point: number; tangent: number }> {
    const out: Record<string, { point: number; tangent: number }> = {};
    for (const b of this.buckets) {
      const variables = b.members.map((m) => this.variableOf(m.spec.variableName));
      tf.tidy(() => {
        const X = this.toComponents(b, this.flatOf(b.members, variables));
        for (const s of b.slices) {
          const x = this.sliceOf(b, X, s);
          const e = (out[s.tag] ??= { point: 0, tangent: 0 });
          e.point = Math.max(e.point, tf.max(s.manifold.pointResidual(x)).dataSync()[0]!);
          if (s.buffer) e.tangent = Math.max(e.tangent, tf.max(s.manifold.tangentResidual(x, s.buffer)).dataSync()[0]!);
        }
      });
    }
    return out;
  }

  // ---------------------------------------------------------------- construction

  private baseManifold(tag: string): MatrixManifold {
    return manifoldByTag(tag).create({ retraction: this.cfg.stiefelRetraction });
  }

  private radiiOf(spec: KernelGrouping): Float32Array {
    const lam = this.lambdas.get(spec.weightName);
    return radiiFor(spec, lam && lam.length === spec.inChannels ? lam : undefined, this.cfg);
  }

  private build(): void {
    const byShape = new Map<string, KernelGrouping[]>();
    const euclidean: Member[] = [];
    for (const k of this.grouping.kernels) {
      if (k.groups.every((g) => g.tag === 'Euc')) {
        euclidean.push({ spec: k, plan: planKernel(k), offset: 0, size: k.shape.reduce((a, b) => a * b, 1), radii: this.radiiOf(k) });
        continue;
      }
      const key = `${k.rows}x${k.cols}`;
      byShape.set(key, [...(byShape.get(key) ?? []), k]);
    }
    this.buckets = [...byShape.values()].map((specs) => this.buildBucket(specs));
    for (const bucket of this.buckets) {
      for (const member of bucket.members) {
        this.byVariable.set(member.spec.variableName, { bucket, member });
        this.byWeight.set(member.spec.weightName, { bucket, member });
      }
    }
    for (const member of euclidean) {
      this.byVariable.set(member.spec.variableName, { member });
      this.byWeight.set(member.spec.weightName, { member });
    }
    this.plain = this.buildPlain(euclidean);
    this.plainNames = new Set(this.plain?.members.map((m) => m.variableName));
  }

  private buildBucket(specs: KernelGrouping[]): Bucket {
    const { rows, cols } = specs[0]!;
    const m = rows * cols;
    let offset = 0;
    const members: Member[] = specs.map((spec) => {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const member = { spec, plan: planKernel(spec), offset, size, radii: this.radiiOf(spec) };
      offset += size;
      return member;
    });
    const size = offset;
    const tags = MANIFOLD_TAGS.filter((t) => members.some((mb) => mb.plan.slices.some((s) => s.tag === t)));
    const flat = new Int32Array(size);
    const inverse = new Int32Array(size);
    const slices: SliceState[] = [];
    let p = 0;
    for (const tag of tags) {
      const start = p;
      const memberOf: number[] = [];
      const componentOf: number[] = [];
      const seg: number[] = [];
      let groups = 0;
      members.forEach((mb, mi) => {
        const s = mb.plan.slices.find((x) => x.tag === tag);
        if (!s) return;
        for (let q = 0; q < s.count; q++) {
          const src = s.start + q;
          for (let e = 0; e < m; e++) {
            const f = mb.plan.flatIndex[src * m + e]! + mb.offset;
            flat[p * m + e] = f;
            inverse[f] = p * m + e;
          }
          memberOf.push(mi);
          componentOf.push(mb.plan.order[src]!);
          seg.push(groups + s.segmentIds[q]!);
          p++;
        }
        groups += s.numGroups;
      });
      const count = p - start;
      slices.push({
        tag,
        start,
        count,
        numGroups: groups,
        euclidean: tag === 'Euc',
        manifold: this.baseManifold(tag),
        member: Int32Array.from(memberOf),
        component: Int32Array.from(componentOf),
        seg: Int32Array.from(seg),
        segmentIds: int1d(seg),
        segmentIndex: int2d(seg),
        groupGather: gatherOf(seg),
        positions: tf.keep(tf.range(0, count, 1, 'int32') as tf.Tensor1D),
      });
    }
    const bucket: Bucket = { rows, cols, members, size, flatIndex: int2d(flat), inverseIndex: int2d(inverse), slices, presence: new Map() };
    this.setSliceRadii(bucket);
    return bucket;
  }

  /**
   * The plain bucket: the non-kernel weights (one group each), then the all-Euclidean kernels
   * (their groups), flat in that order. The elements are put in group order by a counting sort
   * (stable), or left as they are when they are in group order already.
   */
  private buildPlain(kernels: Member[]): PlainBucket | undefined {
    const specs = [
      ...this.grouping.others.map((o) => ({ weightName: o.weightName, variableName: o.variableName, shape: [...o.shape] })),
      ...kernels.map((k) => ({ weightName: k.spec.weightName, variableName: k.spec.variableName, shape: [...k.spec.shape] })),
    ];
    if (specs.length === 0) return undefined;
    let offset = 0;
    const members = specs.map((sp) => {
      const size = sp.shape.reduce((a, b) => a * b, 1);
      const mb = { ...sp, offset, size };
      offset += size;
      return mb;
    });
    const group = new Int32Array(offset);
    const groupMember: number[] = [];
    const nOthers = this.grouping.others.length;
    members.forEach((mb, i) => {
      const kernel = kernels[i - nOthers];
      if (!kernel) {
        group.fill(groupMember.length, mb.offset, mb.offset + mb.size);
        groupMember.push(i);
        return;
      }
      const { spec, plan } = kernel;
      const base = groupMember.length;
      const m = spec.rows * spec.cols;
      for (let p = 0; p < plan.order.length; p++) {
        const g = base + spec.groupOf[plan.order[p]!]!;
        for (let e = 0; e < m; e++) group[mb.offset + plan.flatIndex[p * m + e]!] = g;
      }
      for (let g = 0; g < spec.groups.length; g++) groupMember.push(i);
    });
    const numGroups = groupMember.length;
    let sorted = true;
    for (let i = 1; i < offset && sorted; i++) sorted = group[i - 1]! <= group[i]!;
    let seg = group;
    let sortIndex: tf.Tensor2D | undefined;
    if (!sorted) {
      const start = new Int32Array(numGroups + 1);
      for (let i = 0; i < offset; i++) start[group[i]! + 1]!++;
      for (let g = 0; g < numGroups; g++) start[g + 1]! += start[g]!;
      const order = new Int32Array(offset);
      for (let i = 0; i < offset; i++) order[start[group[i]!]!++] = i;
      seg = order.map((i) => group[i]!);
      sortIndex = int2d(order);
    }
    return {
      members,
      size: offset,
      groupMember: Int32Array.from(groupMember),
      sortIndex,
      segmentIds: int1d(seg),
      groupGather: gatherOf(seg),
      positions: tf.keep(tf.range(0, offset, 1, 'int32') as tf.Tensor1D),
      elementGroup: int2d(group),
    };
  }

  /** (Re)build each slice's ℜ tensor, scaled manifold and per-group ρ, c from the members' radii. */
  private setSliceRadii(bucket: Bucket): void {
    const shape = [bucket.rows, bucket.cols];
    for (const sl of bucket.slices) {
      if (sl.euclidean) continue;
      const r = new Float32Array(sl.count);
      for (let q = 0; q < sl.count; q++) r[q] = bucket.members[sl.member[q]!]!.radii[sl.component[q]!]!;
      const seg = sl.seg;
      const base = this.baseManifold(sl.tag);
      sl.radius?.dispose();
      sl.rho?.dispose();
      sl.curv?.dispose();
      sl.invRadiusSq?.dispose();
      sl.radius = tf.keep(tf.tensor3d(r, [sl.count, 1, 1]));
      sl.manifold = scaled(base, sl.radius);
      // ρ and c per group from the unit manifold's constants (the scaled wrapper's would sync):
      // as they are for the unit-manifold rule, scaled by ℜ for 'adaptive-stored'.
      const stored = this.cfg.step === 'adaptive-stored';
      const diam = base.diameter(shape);
      const curv = base.curvature(shape);
      const rho = new Float32Array(sl.numGroups);
      const c = new Float32Array(sl.numGroups);
      for (let q = 0; q < sl.count; q++) {
        const g = seg[q]!;
        const rq = stored ? diam * r[q]! : diam;
        rho[g] = this.cfg.rho === 'product' ? rho[g]! + rq * rq : Math.max(rho[g]!, rq);
        c[g] = Math.max(c[g]!, stored ? curv / r[q]! ** 2 : curv);
      }
      if (this.cfg.rho === 'product') for (let g = 0; g < sl.numGroups; g++) rho[g] = Math.sqrt(rho[g]!);
      sl.rho = tf.keep(tf.tensor1d(rho));
      sl.curv = tf.keep(tf.tensor1d(c));
      sl.invRadiusSq = stored ? undefined : tf.keep(tf.tensor1d(r.map((x) => 1 / (x * x))));
    }
  }

  private disposeStructures(): void {
    for (const b of this.buckets) {
      tf.dispose([b.flatIndex, b.inverseIndex]);
      for (const p of b.presence.values()) tf.dispose(p);
      for (const s of b.slices) {
        tf.dispose([s.segmentIds, s.segmentIndex, s.groupGather, s.positions]);
        s.radius?.dispose();
        s.rho?.dispose();
        s.curv?.dispose();
        s.invRadiusSq?.dispose();
        s.buffer?.dispose();
      }
    }
    if (this.plain) {
      const pb = this.plain;
      tf.dispose([pb.segmentIds, pb.groupGather, pb.positions, pb.elementGroup]);
      pb.sortIndex?.dispose();
      this.plain.buffer?.dispose();
    }
    this.buckets = [];
    this.plain = undefined;
    this.byVariable.clear();
    this.byWeight.clear();
    this.plainNames.clear();
  }

  // ---------------------------------------------------------------- layout helpers

  private variableOf(name: string): tf.Variable {
    const v = registered()[name];
    if (!v) throw new Error(`fgsgd: no variable named '${name}' is registered (was its model disposed?).`);
    return v;
  }

  /** The members' tensors (variables, gradients, buffers) as one flat vector; zeros where absent. */
  private flatOf(parts: readonly { size: number }[], tensors: readonly (tf.Tensor | undefined)[]): tf.Tensor1D {
    const flat = tensors.map((t, i) => (t ? t.reshape([-1]) : tf.zeros([parts[i]!.size])));
    return (flat.length === 1 ? flat[0]! : tf.concat(flat, 0)) as tf.Tensor1D;
  }

  /**
   * Components of a bucket's flat vector, permuted: [N, rows, cols]. (`gatherND`, not `gather`:
   * wasm's GatherV2 checks every index in a JS loop, about 20× slower here.)
   */
  private toComponents(b: Bucket, flat: tf.Tensor): tf.Tensor3D {
    return tf.gatherND(flat, b.flatIndex).reshape([-1, b.rows, b.cols]) as tf.Tensor3D;
  }

  /** The inverse of `toComponents`, split into the members' tensors (variable layout). */
  private fromComponents(b: Bucket, c: tf.Tensor): tf.Tensor[] {
    return splitFlat(tf.gatherND(c.reshape([-1]), b.inverseIndex), b.members.map((m) => m.spec.shape));
  }

  private sliceOf(b: Bucket, all: tf.Tensor, s: SliceState): tf.Tensor {
    return b.slices.length === 1 ? all : tf.slice(all, [s.start, 0, 0], [s.count, b.rows, b.cols]);
  }

  /** A JS per-element field of a member, in its variable's layout, from a per-component one. */
  private fieldOf(member: Member, perComponent: (n: number) => number): Float32Array {
    const { plan, spec } = member;
    const m = spec.rows * spec.cols;
    const out = new Float32Array(member.size);
    for (let p = 0; p < plan.order.length; p++) {
      const v = perComponent(plan.order[p]!);
      for (let e = 0; e < m; e++) out[plan.flatIndex[p * m + e]!] = v;
    }
    return out;
  }

  /** ℜ per element of a member's variable; 0 for Euclidean components. */
  private radiusField(member: Member): Float32Array {
    const { spec } = member;
    return this.fieldOf(member, (n) => (spec.groups[spec.groupOf[n]!]!.tag === 'Euc' ? 0 : member.radii[n]!));
  }

  // ---------------------------------------------------------------- the update

  /**
   * One FG-SGD step on the variables named in `variableGradients` (tf.Variable names, as
   * `tf.variableGrads` returns them). Variables outside the grouping take the plain Euclidean step.
   * Returns the learning rate g(t) the step used.
   */
  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): number {
    const grads = new Map<string, tf.Tensor>();
    const entries: [string, tf.Tensor | null | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((e) => [e.name, e.tensor])
      : Object.entries(variableGradients);
    for (const [name, g] of entries) if (g != null) grads.set(name, g);
    if (!this.projected && this.cfg.projectOnFirstStep) this.project();
    const lr = scheduleAt(this.cfg.lr, this.iterations);
    const counts: tf.Tensor[] = [];
    for (const b of this.buckets) {
      const c = this.updateBucket(b, grads, lr);
      if (c) counts.push(c);
    }
    if (this.plain) {
      const c = this.updatePlain(this.plain, grads, lr);
      if (c) counts.push(c);
    }
    for (const [name, g] of grads) {
      if (this.byVariable.has(name) || this.plainNames.has(name)) continue;
      counts.push(this.updateLoose(name, g, lr));
    }
    if (counts.length) {
      const next = tf.tidy(() => tf.addN([this.skipped, ...counts]) as tf.Scalar);
      tf.dispose(counts);
      this.skipped.dispose();
      this.skipped = tf.keep(next);
    }
    this.incrementIterations();
    if (this.cfg.stabilizeEvery > 0 && this.iterations % this.cfg.stabilizeEvery === 0) this.stabilize();
    return lr;
  }

  /**
   * Per-position presence flags of every slice ([count, 1, 1]) when some members have no
   * gradient; built once per pattern of absent members and cached.
   */
  private presence(b: Bucket, present: readonly boolean[]): tf.Tensor[] {
    const key = present.map((p) => (p ? 1 : 0)).join('');
    let flags = b.presence.get(key);
    if (!flags) {
      flags = b.slices.map((s) => {
        const f = new Float32Array(s.count);
        for (let q = 0; q < s.count; q++) f[q] = present[s.member[q]!] ? 1 : 0;
        return tf.keep(tf.tensor3d(f, [s.count, 1, 1]));
      });
      b.presence.set(key, flags);
    }
    return flags;
  }

  /**
   * Update one bucket; returns the number of skipped groups (int32 scalar, caller owns it), or
   * undefined when no member has a gradient.
   *
   * Non-finite gradients: the gradient is cleaned (non-finite entries → 0) before any geometry,
   * and a per-component flag (Σ G·0: 0, or NaN where an entry is not finite) is added to the
   * group's squared norm, which makes a bad group's norm NaN. Such a group gets rate 0 (so its
   * point maps to retr(X, 0) = X), and the selections Y = ok·moved + (1−ok)·X (likewise for the
   * buffer) are exact for ok ∈ {0, 1} since every operand is finite. This avoids `tf.where` with a
   * broadcast condition, which tiles the mask to full size. A member without a gradient gets ok = 0
   * and is not written back.
   */
  private updateBucket(b: Bucket, grads: Map<string, tf.Tensor>, lr: number): tf.Tensor | undefined {
    const present = b.members.map((m) => grads.has(m.spec.variableName));
    if (!present.some(Boolean)) return undefined;
    const complete = present.every(Boolean);
    const { momentum, weightDecay } = this.cfg;
    const hyper: Hyperparameters = { lr, momentum, weightDecay, adaptive: this.cfg.step !== 'fixed', exp: this.cfg.map === 'exp' };
    const variables = b.members.map((m) => this.variableOf(m.spec.variableName));
    const newBuffers: (tf.Tensor | undefined)[] = [];
    const presence = complete ? undefined : this.presence(b, present);
    const kinds = this.fusedKinds(b, hyper);
    const count = tf.tidy(() => {
      const xFlat = this.flatOf(b.members, variables);
      const gFlat = this.flatOf(b.members, b.members.map((m) => grads.get(m.spec.variableName)));
      if (kinds) {
        // The same step as one fused kernel (src/backend/fgsgd_step_module.ts), bit for bit.
        const inputs: tf.NamedTensorMap = { x: xFlat, g: gFlat, index: b.flatIndex };
        b.slices.forEach((s, i) => {
          const named: Record<string, tf.Tensor | undefined> = {
            buffer: s.buffer, present: presence?.[i], radius: s.radius, seg: s.segmentIds,
            invRadiusSq: s.invRadiusSq, ...(hyper.adaptive && { rho: s.rho, curv: s.curv }),
          };
          for (const [k, t] of Object.entries(named)) if (t) inputs[`${k}${i}`] = t;
        });
        const attrs: BucketStepAttrs = {
          rows: b.rows, cols: b.cols, lr, momentum, weightDecay, adaptive: hyper.adaptive,
          slices: b.slices.map((s, i) => ({ kind: kinds[i]!, start: s.start, count: s.count, numGroups: s.numGroups })),
        };
        const [yFlat, skipped, ...buffers] = tf.engine().runKernel('FgsgdBucketStep', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        buffers.forEach((t) => newBuffers.push(tf.keep(t)));
        splitFlat(yFlat!, b.members.map((m) => m.spec.shape)).forEach((t, i) => present[i] && variables[i]!.assign(t));
        return skipped!;
      }
      const X = this.toComponents(b, xFlat);
      const Graw = this.toComponents(b, gFlat);
      const G = tf.where(tf.isFinite(Graw), Graw, tf.zerosLike(Graw));
      const flag = tf.sum(tf.mul(Graw, 0), [1, 2]);
      const ys: tf.Tensor[] = [];
      const skippedPerSlice: tf.Tensor[] = [];
      b.slices.forEach((s, si) => {
        const step = riemannianStep(
          s,
          {
            x: this.sliceOf(b, X, s),
            g: this.sliceOf(b, G, s),
            flag: b.slices.length === 1 ? flag : tf.slice(flag, [s.start], [s.count]),
            buffer: s.buffer,
            present: presence?.[si],
          },
          hyper,
        );
        ys.push(step.y);
        skippedPerSlice.push(step.skipped);
        newBuffers.push(step.buffer && tf.keep(step.buffer));
      });
      const parts = this.fromComponents(b, ys.length === 1 ? ys[0]! : tf.concat(ys, 0));
      parts.forEach((t, i) => present[i] && variables[i]!.assign(t));
      return skippedPerSlice.length === 1 ? skippedPerSlice[0]! : tf.addN(skippedPerSlice);
    });
    b.slices.forEach((s, i) => {
      s.buffer?.dispose();
      s.buffer = newBuffers[i];
    });
    return count;
  }

  /**
   * Each slice's kind for the fused bucket kernel `FgsgdBucketStep` (wasm and onednn:
   * src/backend/fgsgd_step_module.ts), or undefined where the bucket takes the tensor ops. The
   * kernel gives their numbers bit for bit, for ℜ-scaled sphere, oblique and QR-retraction Stiefel
   * slices and Euclidean ones, with the retraction (not the exponential map). A Stiefel slice of
   * one component keeps the tensor ops: there the package sends its unbatched matrix products to
   * XNNPACK, whose sums go in another order.
   */
  private fusedKinds(b: Bucket, h: Hyperparameters): FusedKind[] | undefined {
    if (h.exp || !tf.getKernel('FgsgdBucketStep', tf.getBackend())) return undefined;
    const kinds: FusedKind[] = [];
    for (const s of b.slices) {
      if (s.euclidean) {
        kinds.push('euclidean');
        continue;
      }
      const M = s.manifold as Partial<ScaledManifold>;
      const kind = M.base && FUSED_BASES[M.base.name];
      if (!kind || !s.radius || M.radius !== s.radius || (kind === 'stiefel' && s.count < 2)) return undefined;
      kinds.push(kind);
    }
    return kinds;
  }

  /**
   * Plain Euclidean step (weight decay, momentum) of the plain bucket at once. A group is not
   * updated when its raw gradient has a non-finite entry (Σ G·0 over the group is NaN), nor when
   * its variable has no gradient. Selections by exact 0/1 products, as in `updateBucket`.
   */
  private updatePlain(pb: PlainBucket, grads: Map<string, tf.Tensor>, lr: number): tf.Tensor | undefined {
    const present = pb.members.map((m) => grads.has(m.variableName));
    if (!present.some(Boolean)) return undefined;
    const { momentum, weightDecay } = this.cfg;
    const variables = pb.members.map((m) => this.variableOf(m.variableName));
    let newBuffer: tf.Tensor | undefined;
    const buffer = pb.buffer;
    const count = tf.tidy(() => {
      const x = this.flatOf(pb.members, variables);
      const graw = this.flatOf(pb.members, pb.members.map((m) => grads.get(m.variableName)));
      const write = (xNew: tf.Tensor) => splitFlat(xNew, pb.members.map((m) => m.shape)).forEach((t, i) => present[i] && variables[i]!.assign(t));
      const groupMask = present.every(Boolean) ? undefined : tf.tensor1d(Float32Array.from(pb.groupMember, (i) => (present[i] ? 1 : 0)));
      if (tf.getKernel('FgsgdPlainStep', tf.getBackend()) && x.dtype === 'float32' && graw.dtype === 'float32') {
        // The same step as one fused kernel (src/backend/fgsgd_step_module.ts), bit for bit.
        const inputs: tf.NamedTensorMap = { x, g: graw, group: pb.elementGroup };
        if (groupMask) inputs.groupMask = groupMask;
        if (buffer) inputs.buffer = buffer;
        const attrs: PlainStepAttrs = {
          numGroups: pb.groupMember.length, lr, momentum, weightDecay,
          useMomentum: momentum > 0 && buffer !== undefined, keepBuffer: momentum > 0,
        };
        const [xNew, skipped, nextBuffer] = tf.engine().runKernel('FgsgdPlainStep', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        newBuffer = nextBuffer && tf.keep(nextBuffer);
        write(xNew!);
        return skipped!;
      }
      const flags = tf.mul(graw, 0);
      const okGroup = tf.isFinite(segmentSum(pb.sortIndex ? tf.gatherND(flags, pb.sortIndex) : flags, pb));
      let okGroupF = tf.cast(okGroup, 'float32');
      if (groupMask) okGroupF = tf.mul(okGroupF, groupMask);
      const ok = tf.gatherND(okGroupF, pb.elementGroup);
      const clean = tf.where(tf.isFinite(graw), graw, tf.zerosLike(graw));
      const step = euclideanStep(x, clean, ok, buffer, { lr, momentum, weightDecay });
      const xNew = step.y;
      newBuffer = step.buffer && tf.keep(step.buffer);
      write(xNew);
      return tf.sum(tf.cast(tf.logicalNot(okGroup), 'int32'));
    });
    buffer?.dispose();
    pb.buffer = newBuffer;
    return count;
  }

  /** Plain Euclidean step of a variable outside the grouping. */
  private updateLoose(name: string, grad: tf.Tensor, lr: number): tf.Tensor {
    const { momentum, weightDecay } = this.cfg;
    const st = this.loose.get(name) ?? {};
    this.loose.set(name, st);
    const variable = this.variableOf(name);
    const buffer = st.buffer;
    let newBuffer: tf.Tensor | undefined;
    const count = tf.tidy(() => {
      const okS = tf.isFinite(tf.sum(tf.mul(grad, 0)));
      const ok = tf.cast(okS, 'float32');
      const clean = tf.where(tf.isFinite(grad), grad, tf.zerosLike(grad));
      const step = euclideanStep(variable, clean, ok, buffer, { lr, momentum, weightDecay });
      variable.assign(step.y);
      newBuffer = step.buffer && tf.keep(step.buffer);
      return tf.cast(tf.logicalNot(okS), 'int32');
    });
    buffer?.dispose();
    st.buffer = newBuffer;
    return count;
  }

  // ---------------------------------------------------------------- projection, renormalization

  /** Stage (i): project every constrained kernel onto its (ℜ-scaled) manifold. */
  project(): void {
    this.stabilize();
    this.projected = true;
  }

  /** Re-project points onto their manifolds and momentum buffers onto the tangent spaces. */
  stabilize(): void {
    for (const b of this.buckets) {
      if (b.slices.every((s) => s.euclidean)) continue;
      const variables = b.members.map((m) => this.variableOf(m.spec.variableName));
      const buffers: (tf.Tensor | undefined)[] = [];
      tf.tidy(() => {
        const X = this.toComponents(b, this.flatOf(b.members, variables));
        const ys = b.slices.map((s) => {
          const x = this.sliceOf(b, X, s);
          if (s.euclidean) {
            buffers.push(s.buffer);
            return x;
          }
          const y = s.manifold.projx(x);
          buffers.push(s.buffer ? tf.keep(s.manifold.proju(y, s.buffer)) : undefined);
          return y;
        });
        this.fromComponents(b, ys.length === 1 ? ys[0]! : tf.concat(ys, 0)).forEach((t, i) => variables[i]!.assign(t));
      });
      b.slices.forEach((s, i) => {
        if (s.buffer !== buffers[i]) s.buffer?.dispose();
        s.buffer = buffers[i];
      });
    }
  }

  /**
   * Set λ (per input channel) of kernels by weight name and rescale their variables by ℜnew/ℜold
   * (stage (ii), implementation (b)). Momentum buffers are kept: the tangent spaces of a scaled
   * manifold do not depend on the radius.
   */
  setLambdas(lambdas: Record<string, ArrayLike<number>>, { rescale = true }: { rescale?: boolean } = {}): void {
    const touched = new Set<Bucket>();
    for (const [weightName, lam] of Object.entries(lambdas)) {
      const entry = this.byWeight.get(weightName);
      if (!entry) throw new Error(`fgsgd: setLambdas: no grouped kernel named '${weightName}'.`);
      const { member } = entry;
      if (lam.length !== member.spec.inChannels) {
        throw new Error(`fgsgd: setLambdas('${weightName}'): expected ${member.spec.inChannels} values (one per input channel), got ${lam.length}.`);
      }
      this.lambdas.set(weightName, Float32Array.from(lam as ArrayLike<number>));
      const next = this.radiiOf(member.spec);
      if (rescale) {
        const old = member.radii;
        const ratio = this.fieldOf(member, (n) => next[n]! / old[n]!);
        const variable = this.variableOf(member.spec.variableName);
        tf.tidy(() => variable.assign(tf.mul(variable, tf.tensor(ratio, variable.shape))));
      }
      member.radii = next;
      if (entry.bucket) touched.add(entry.bucket);
    }
    for (const b of touched) this.setSliceRadii(b);
  }

  // ---------------------------------------------------------------- hot-swap

  /**
   * Change the configuration mid-run (hot-swap), optionally with a new grouping. The step count
   * (and so the schedule) continues; momentum buffers are carried over in each variable's layout
   * and projected onto the tangent spaces of the new manifolds; points are rescaled to the new ℜ
   * and projected onto the new manifolds. Setting momentum to 0 drops the buffers.
   */
  reconfigure(next: Partial<FGSGDConfig> & { grouping?: Grouping }): void {
    const { grouping, ...rest } = next;
    const cfg = resolve(rest as FGSGDConfig, this.cfg);
    const buffers = this.exportBuffers();
    const oldRadius = new Map<string, Float32Array>();
    for (const [name, { member }] of this.byVariable) oldRadius.set(name, this.radiusField(member));
    this.disposeStructures();
    this.cfg = cfg;
    if (grouping) this.grouping = grouping;
    this.build();
    // Rescale points from the old ℜ to the new one, element by element; elements that are
    // Euclidean before or after (ℜ field 0) keep their value.
    for (const [name, { member }] of this.byVariable) {
      const before = oldRadius.get(name);
      if (!before) continue;
      const after = this.radiusField(member);
      const ratio = after.map((a, i) => (a > 0 && before[i]! > 0 ? a / before[i]! : 1));
      const variable = this.variableOf(name);
      tf.tidy(() => variable.assign(tf.mul(variable, tf.tensor(ratio, variable.shape))));
    }
    this.importBuffers(buffers, true);
    tf.dispose(Object.values(buffers));
    if (this.projected) this.stabilize();
  }

  /** Momentum buffers in each variable's layout, by weight name (new tensors, caller owns). */
  private exportBuffers(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const b of this.buckets) {
      if (!b.slices.some((s) => s.buffer)) continue;
      const parts = tf.tidy(() => {
        const all = b.slices.map((s) => s.buffer ?? tf.zeros([s.count, b.rows, b.cols]));
        return this.fromComponents(b, all.length === 1 ? all[0]! : tf.concat(all, 0));
      });
      parts.forEach((t, i) => (out[b.members[i]!.spec.weightName] = t));
    }
    if (this.plain?.buffer) {
      const pb = this.plain;
      const parts = tf.tidy(() => splitFlat(pb.buffer!, pb.members.map((m) => m.shape)));
      parts.forEach((t, i) => (out[pb.members[i]!.weightName] = t));
    }
    for (const [name, st] of this.loose) if (st.buffer) out[name] = tf.clone(st.buffer);
    return out;
  }

  /**
   * Load buffers given in each variable's layout (by weight name). With `project`, they are
   * projected onto the tangent spaces at the current points (hot-swap); without, loaded as saved
   * (a restored state takes exactly the step the saved one would have taken).
   */
  private importBuffers(buffers: Record<string, tf.Tensor>, project: boolean): void {
    if (this.cfg.momentum === 0) return;
    for (const b of this.buckets) {
      const given = b.members.map((m) => buffers[m.spec.weightName]);
      if (!given.some(Boolean)) continue;
      const variables = b.members.map((m) => this.variableOf(m.spec.variableName));
      tf.tidy(() => {
        const B = this.toComponents(b, this.flatOf(b.members, given));
        const X = project ? this.toComponents(b, this.flatOf(b.members, variables)) : undefined;
        for (const s of b.slices) {
          s.buffer?.dispose();
          const v = this.sliceOf(b, B, s);
          s.buffer = tf.keep(X ? s.manifold.proju(this.sliceOf(b, X, s), v) : v);
        }
      });
    }
    if (this.plain) {
      const pb = this.plain;
      const given = pb.members.map((m) => buffers[m.weightName]);
      if (given.some(Boolean)) {
        pb.buffer?.dispose();
        pb.buffer = tf.keep(tf.tidy(() => this.flatOf(pb.members, given)));
      }
    }
    for (const [name, st] of this.loose) {
      const b = buffers[name];
      if (b) {
        st.buffer?.dispose();
        st.buffer = tf.clone(b);
      }
    }
  }

  // ---------------------------------------------------------------- state

  /**
   * The whole state for a checkpoint, as it is when it is called: JSON (step count, config,
   * grouping, λ, skip counter) and tensors (momentum buffers in each variable's layout). The
   * caller owns the returned tensors. Asynchronous for the one value read back (the skip counter).
   */
  async getState(): Promise<FGSGDState> {
    const lambdas: Record<string, number[]> = {};
    for (const [k, v] of this.lambdas) lambdas[k] = Array.from(v);
    const tensors: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(this.exportBuffers())) tensors[`${k}/momentum`] = v;
    const json = {
      iterations: this.iterations,
      config: structuredClone(this.cfg),
      grouping: this.grouping,
      projected: this.projected,
    };
    const skipped = tf.clone(this.skipped);
    let skippedGroupUpdates: number;
    try {
      skippedGroupUpdates = (await skipped.data())[0]!;
    } catch (e) {
      tf.dispose(Object.values(tensors));
      throw e;
    } finally {
      skipped.dispose();
    }
    return {
      json: {
        className: 'FGSGD',
        version: 1,
        iterations: json.iterations,
        skippedGroupUpdates,
        config: json.config,
        grouping: json.grouping,
        lambdas,
        projected: json.projected,
      },
      tensors,
    };
  }

  /**
   * Restore a state from `getState` (the model's weights are restored separately: they already
   * hold the scaled weights, so nothing is rescaled). Does not dispose the given tensors.
   */
  setState(state: FGSGDState): void {
    const { json, tensors } = state;
    if (json.className !== 'FGSGD' || json.version !== 1) throw new Error(`fgsgd: unsupported state (${json.className} v${json.version}).`);
    this.disposeStructures();
    for (const st of this.loose.values()) st.buffer?.dispose();
    this.cfg = resolve(json.config);
    this.grouping = json.grouping;
    this.lambdas = new Map(Object.entries(json.lambdas).map(([k, v]) => [k, Float32Array.from(v)]));
    this.build();
    const buffers: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(tensors)) if (k.endsWith('/momentum')) buffers[k.slice(0, -'/momentum'.length)] = v;
    for (const name of Object.keys(buffers)) {
      if (!this.byWeight.has(name) && !this.grouping.others.some((o) => o.weightName === name) && registered()[name]) this.loose.set(name, {});
    }
    this.importBuffers(buffers, false);
    this.iterations_ = json.iterations;
    this.skipped.dispose();
    this.skipped = tf.keep(tf.scalar(json.skippedGroupUpdates, 'int32'));
    this.projected = json.projected;
  }

  /** tf.Optimizer API: 'iter', then the momentum buffers, λ and the skip counter as named tensors. */
  async getWeights(): Promise<NamedTensor[]> {
    const st = await this.getState();
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const [name, tensor] of Object.entries(st.tensors)) out.push({ name, tensor });
    for (const [name, lam] of Object.entries(st.json.lambdas)) out.push({ name: `${name}/lambda`, tensor: tf.tensor1d(lam) });
    out.push({ name: 'skipped', tensor: tf.scalar(st.json.skippedGroupUpdates, 'int32') });
    return out;
  }

  /** tf.Optimizer API: the inverse of `getWeights` (config and grouping come from `getConfig`). */
  async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const iterations = this.iterations_;
    const tensors: Record<string, tf.Tensor> = {};
    const lambdas: Record<string, number[]> = {};
    let skipped = 0;
    for (const { name, tensor } of rest) {
      if (name === 'skipped') skipped = (await tensor.data())[0]!;
      else if (name.endsWith('/lambda')) lambdas[name.slice(0, -'/lambda'.length)] = Array.from(await tensor.data());
      else tensors[name] = tensor;
    }
    this.setState({
      json: { className: 'FGSGD', version: 1, iterations, skippedGroupUpdates: skipped, config: this.cfg, grouping: this.grouping, lambdas, projected: true },
      tensors,
    });
  }

  /** Serializable config: the resolved configuration and the grouping. */
  getConfig(): tf.serialization.ConfigDict {
    return { config: structuredClone(this.cfg), grouping: this.grouping } as unknown as tf.serialization.ConfigDict;
  }

  static fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const c = config as unknown as { config: FGSGDConfig; grouping: Grouping };
    return new cls(c.grouping, c.config);
  }

  /** Free every tensor the optimizer owns. */
  dispose(): void {
    this.disposeStructures();
    for (const st of this.loose.values()) st.buffer?.dispose();
    this.loose.clear();
    this.skipped.dispose();
    super.dispose();
  }
}

tf.serialization.registerClass(FGSGD);
