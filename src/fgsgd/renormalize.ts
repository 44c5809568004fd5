/**
 * Renormalization (FGSGD.md, stages (i) and (ii)) and the norms report.
 *
 * - Stage (i), `Renormalizer.initialize`: every constrained kernel is projected onto its manifold
 *   (sphere ω/‖ω‖_F, oblique per column, Stiefel polar factor), at the radius ℜ of stage (ii).
 * - Stage (ii): ℜ = γ·min(1/λ, B) per component (`radius.ts`), λ a running estimate of the
 *   standard deviation of each input channel over batch × spatial positions **[choice]**. The
 *   inputs of the conv and dense layers are captured without custom layers: a second `tf.model`
 *   shares the model's layers and outputs each kernel layer's input tensor; it runs in inference
 *   mode (batch-norm with its moving statistics, so that observing never updates them)
 *   **[choice]**. λ² is an exponential moving average of the per-batch channel variances
 *   (momentum 0.9 by default). At each refresh (every epoch by default; configurable in epochs or
 *   steps) the optimizer gets the new λ and rescales the stored weights by ℜnew/ℜold
 *   (implementation (b): the model's variables hold the scaled weights).
 * - `normsReport`: per group, the Frobenius, spectral and ℓ2→1 norms of its kernel matrices, and
 *   per layer and for the network the products of the per-group bounds δ(g, l);
 *   `maxNormByGroupKind` gives the largest Frobenius and spectral norm per manifold type.
 *
 * Tensor ownership: the renormalizer owns its capture model's outputs' running statistics and
 * frees them in `dispose()` (the capture model shares the model's layers and owns no weights);
 * `observe` frees everything it creates; the caller keeps the batches it passes. `getState`
 * returns typed arrays (copies), and `setState` copies what it is given into tensors it owns.
 */
import * as tf from '@tensorflow/tfjs';
import { planKernel, type Grouping, type KernelGrouping } from './grouping.js';
import type { FGSGD } from './optimizer.js';

export interface RenormalizerConfig {
  /** When to refresh ℜ: every `epochs` epochs (default 1) or every `steps` steps. */
  refreshEvery?: { epochs: number } | { steps: number };
  /** Momentum of the moving average of channel variances (default 0.9; 0 = last batch only). */
  momentum?: number;
}

export interface RefreshSummary {
  /** Per kernel: range of λ over its input channels and of ℜ over its components. */
  kernels: Record<string, { lambdaMin: number; lambdaMax: number; radiusMin: number; radiusMax: number }>;
}

interface SymbolicLike {
  id: number;
}

/**
 * The Renormalizer's running statistics as plain data, for checkpoints and exact resume: the
 * moving average of the channel variances of each captured kernel-layer input, keyed by the name
 * of the (first, in the grouping's order) layer that reads that input, e.g. `conv1`. Inputs with
 * no statistics yet (before the first observed batch) are absent.
 */
export interface RenormalizerState {
  running: Record<string, Float32Array>;
}

/**
 * Estimates λ from batches and drives the optimizer's ℜ. One per (model, optimizer).
 */
export class Renormalizer {
  private readonly capture: tf.LayersModel;
  /** Kernel weight name → index of its input among the capture model's outputs. */
  private readonly inputOf = new Map<string, number>();
  /** Moving average of the channel variances, per captured input (owned). */
  private running: (tf.Tensor1D | undefined)[];
  /** Per captured input, the name it is known by in the state: the first layer reading it. */
  readonly inputNames: readonly string[];
  private readonly refreshEvery: { epochs: number } | { steps: number };
  private readonly momentum: number;

  constructor(
    model: tf.LayersModel,
    private readonly optimizer: FGSGD,
    config: RenormalizerConfig = {},
  ) {
    this.refreshEvery = config.refreshEvery ?? { epochs: 1 };
    const every = 'epochs' in this.refreshEvery ? this.refreshEvery.epochs : this.refreshEvery.steps;
    if (!(Number.isInteger(every) && every >= 1)) throw new Error(`renormalize: refreshEvery must be a positive integer, got ${every}.`);
    this.momentum = config.momentum ?? 0.9;
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new Error(`renormalize: momentum must lie in [0, 1), got ${this.momentum}.`);
    const outputs: tf.SymbolicTensor[] = [];
    const names: string[] = [];
    const index = new Map<number, number>();
    for (const k of optimizer.currentGrouping.kernels) {
      const layer = model.getLayer(k.layerName);
      const input = layer.input;
      if (Array.isArray(input)) throw new Error(`renormalize: layer '${k.layerName}' has several inputs; λ needs one.`);
      const id = (input as unknown as SymbolicLike).id;
      if (!index.has(id)) {
        index.set(id, outputs.length);
        outputs.push(input);
        names.push(k.layerName);
      }
      this.inputOf.set(k.weightName, index.get(id)!);
    }
    this.capture = tf.model({ inputs: model.inputs, outputs, name: `${model.name}_renorm_inputs` });
    this.running = outputs.map(() => undefined);
    this.inputNames = names;
  }

  /**
   * Stage (i): project the constrained kernels onto their manifolds. With a batch, λ is first
   * estimated from it, so that the projection lands at the data-driven radius.
   */
  async initialize(x?: tf.Tensor): Promise<void> {
    if (x) {
      this.observe(x);
      await this.refresh();
    }
    this.optimizer.project();
  }

  /** Update the running channel variances with one batch (the caller keeps `x`). */
  observe(x: tf.Tensor): void {
    const next = tf.tidy(() => {
      const out = this.capture.predict(x);
      const feats = Array.isArray(out) ? out : [out];
      return feats.map((f, i) => {
        const axes = Array.from({ length: f.rank - 1 }, (_, a) => a);
        const variance = tf.moments(f, axes).variance as tf.Tensor1D;
        const prev = this.running[i];
        return prev && this.momentum > 0 ? (tf.add(tf.mul(prev, this.momentum), tf.mul(variance, 1 - this.momentum)) as tf.Tensor1D) : variance;
      });
    });
    tf.dispose(this.running.filter((r): r is tf.Tensor1D => r !== undefined));
    this.running = next;
  }

  /**
   * The running statistics as copies, by input name, as they are when it is called (read back
   * asynchronously, one read per input that has statistics).
   */
  async getState(): Promise<RenormalizerState> {
    const taken = this.running.map((r) => r && tf.clone(r));
    try {
      const values = await Promise.all(taken.map((r) => r?.data()));
      const running: Record<string, Float32Array> = {};
      values.forEach((v, i) => {
        if (v) running[this.inputNames[i]!] = Float32Array.from(v as Float32Array);
      });
      return { running };
    } finally {
      tf.dispose(taken.filter((r): r is tf.Tensor1D => r !== undefined));
    }
  }

  /**
   * Replace the running statistics with a `getState` result of a Renormalizer on the same model
   * and grouping; inputs it does not name start without statistics. Throws, keeping the current
   * statistics, on a name this renormalizer does not capture or a wrong channel count. Does not
   * refresh ℜ: the optimizer's λ is restored with its own state.
   */
  setState(state: RenormalizerState): void {
    const sizes = this.capture.outputs.map((o) => o.shape[o.shape.length - 1]);
    for (const [name, v] of Object.entries(state.running)) {
      const i = this.inputNames.indexOf(name);
      if (i < 0) throw new Error(`renormalize: the state has statistics of '${name}'; this model and grouping capture the inputs of ${this.inputNames.join(', ')}.`);
      if (v.length !== sizes[i]) throw new Error(`renormalize: the statistics of '${name}' have ${v.length} channels; its input has ${sizes[i]}.`);
    }
    const next = this.inputNames.map((name) => {
      const v = state.running[name];
      return v ? (tf.keep(tf.tensor1d(Float32Array.from(v))) as tf.Tensor1D) : undefined;
    });
    this.dispose();
    this.running = next;
  }

  /** Whether any batch has been observed. */
  get hasStatistics(): boolean {
    return this.running.some((r) => r !== undefined);
  }

  /** λ per input channel of every kernel (sqrt of the running variance), by weight name. */
  async lambdas(): Promise<Record<string, Float32Array>> {
    const { running } = await this.getState();
    const out: Record<string, Float32Array> = {};
    for (const [weight, i] of this.inputOf) {
      const v = running[this.inputNames[i]!];
      if (v) out[weight] = v.map(Math.sqrt);
    }
    return out;
  }

  /** Stage (ii): hand the current λ to the optimizer, which rescales the weights by ℜnew/ℜold. */
  async refresh(): Promise<RefreshSummary> {
    const lambdas = await this.lambdas();
    this.optimizer.setLambdas(lambdas);
    const kernels: RefreshSummary['kernels'] = {};
    for (const [weight, lam] of Object.entries(lambdas)) {
      const r = this.optimizer.radii(weight)!;
      kernels[weight] = { lambdaMin: Math.min(...lam), lambdaMax: Math.max(...lam), radiusMin: Math.min(...r), radiusMax: Math.max(...r) };
    }
    return { kernels };
  }

  /** Refresh if the step count says so (`refreshEvery: { steps }`); `step` counts from 1. */
  async onStep(step: number): Promise<RefreshSummary | undefined> {
    if ('steps' in this.refreshEvery && step % this.refreshEvery.steps === 0 && this.hasStatistics) return this.refresh();
    return undefined;
  }

  /** Refresh if the epoch count says so (`refreshEvery: { epochs }`); `epoch` counts from 1. */
  async onEpochEnd(epoch: number): Promise<RefreshSummary | undefined> {
    if ('epochs' in this.refreshEvery && epoch % this.refreshEvery.epochs === 0 && this.hasStatistics) return this.refresh();
    return undefined;
  }

  /** Free the running statistics (the capture model shares the model's layers: nothing else). */
  dispose(): void {
    tf.dispose(this.running.filter((r): r is tf.Tensor1D => r !== undefined));
    this.running = this.running.map(() => undefined);
  }
}

// -------------------------------------------------------------------- norms

/** Power-iteration steps for larger Gram matrices (reporting only; converges geometrically). */
const POWER_ITERATIONS = 100;
const TINY = 1e-30;

/**
 * Spectral norm (largest singular value) of every matrix of a `[B, r, c]` stack, batched: the
 * square root of the largest eigenvalue of the smaller Gram matrix, in closed form up to 3×3
 * (trigonometric formula for 3×3), else by power iteration. Returns `[B]`; caller owns it.
 */
export function spectralNorms(x: tf.Tensor3D): tf.Tensor1D {
  return tf.tidy(() => {
    const [b, r, c] = x.shape;
    const g = r >= c ? tf.matMul(x, x, true, false) : tf.matMul(x, x, false, true);
    const k = Math.min(r, c);
    let lmax: tf.Tensor;
    if (k === 1) {
      lmax = g.reshape([b]);
    } else if (k === 2) {
      const [a, , bb, d] = tf.split(g.reshape([b, 4]), 4, 1).map((t) => t.reshape([b]));
      lmax = tf.add(tf.div(tf.add(a!, d!), 2), tf.sqrt(tf.add(tf.square(tf.div(tf.sub(a!, d!), 2)), tf.square(bb!))));
    } else if (k === 3) {
      const e = tf.split(g.reshape([b, 9]), 9, 1).map((t) => t.reshape([b]));
      const [a00, a01, a02, , a11, a12, , , a22] = e as tf.Tensor[];
      const q = tf.div(tf.add(tf.add(a00!, a11!), a22!), 3);
      const p1 = tf.add(tf.add(tf.square(a01!), tf.square(a02!)), tf.square(a12!));
      const d0 = tf.sub(a00!, q);
      const d1 = tf.sub(a11!, q);
      const d2 = tf.sub(a22!, q);
      const p2 = tf.add(tf.add(tf.add(tf.square(d0), tf.square(d1)), tf.square(d2)), tf.mul(p1, 2));
      const p = tf.maximum(tf.sqrt(tf.div(p2, 6)), TINY);
      // det(B)/2 with B = (G − qI)/p
      const [b00, b11, b22, b01, b02, b12] = [d0, d1, d2, a01!, a02!, a12!].map((t) => tf.div(t, p));
      const det = tf.add(
        tf.sub(tf.mul(b00!, tf.sub(tf.mul(b11!, b22!), tf.square(b12!))), tf.mul(b01!, tf.sub(tf.mul(b01!, b22!), tf.mul(b12!, b02!)))),
        tf.mul(b02!, tf.sub(tf.mul(b01!, b12!), tf.mul(b11!, b02!))),
      );
      const phi = tf.div(tf.acos(tf.clipByValue(tf.div(det, 2), -1, 1)), 3);
      lmax = tf.add(q, tf.mul(tf.mul(p, 2), tf.cos(phi)));
    } else {
      let v: tf.Tensor = tf.div(tf.add(tf.ones([b, k, 1]), tf.mul(tf.range(0, k).reshape([1, k, 1]), 1e-3)), Math.sqrt(k));
      for (let i = 0; i < POWER_ITERATIONS; i++) {
        const w = tf.matMul(g, v);
        v = tf.div(w, tf.maximum(tf.norm(w, 'euclidean', [1, 2], true), TINY));
      }
      lmax = tf.sum(tf.mul(v, tf.matMul(g, v)), [1, 2]);
    }
    return tf.sqrt(tf.maximum(lmax, 0)) as tf.Tensor1D;
  });
}

export interface NormTriple {
  frobenius: number;
  spectral: number;
  /** ℓ2→1: the (2,1) mixed norm, the sum of the ℓ2 norms of the columns **[choice]**. */
  l21: number;
}

export interface GroupNorms extends NormTriple {
  group: number;
  tag: string;
  kind: 'PI' | 'PO';
  unit: number;
  size: number;
  /** √Σ‖ω‖²_F over the group's kernels: the norm of the group's point in the product metric. */
  pomFrobenius: number;
}

export interface LayerNorms {
  layer: string;
  weight: string;
  /** Per group, δ(g, l) = the largest norm over the group's kernels (each norm separately). */
  groups: GroupNorms[];
  /** Π_g δ(g, l) per norm, and its log10 (the product underflows for large layers). */
  boundProduct: NormTriple;
  log10BoundProduct: NormTriple;
  /** Largest δ(g, l) per norm over the layer's groups. */
  max: NormTriple;
}

export interface NormsReport {
  layers: LayerNorms[];
  /** Π over layers of the per-layer bound products, as log10. */
  log10NetworkBound: NormTriple;
  /** Largest Frobenius and spectral norm of the kernels on each manifold type. */
  maxNormByGroupKind: Record<string, { frobenius: number; spectral: number }>;
}

const NORMS = ['frobenius', 'spectral', 'l21'] as const;

/** Per-component norms of one kernel, in the plan's permuted order (a few batched ops). */
async function componentNorms(k: KernelGrouping, flatIndex: Int32Array): Promise<{ fro: Float32Array; spec: Float32Array; l21: Float32Array }> {
  const variable = (tf.engine().registeredVariables as Record<string, tf.Variable>)[k.variableName];
  if (!variable) throw new Error(`normsReport: no variable named '${k.variableName}'.`);
  const [fro, spec, l21] = tf.tidy(() => {
    const X = tf.gather(variable.reshape([-1]), tf.tensor1d(flatIndex, 'int32')).reshape([-1, k.rows, k.cols]) as tf.Tensor3D;
    return [
      tf.sqrt(tf.sum(tf.square(X), [1, 2])),
      spectralNorms(X),
      tf.sum(tf.sqrt(tf.sum(tf.square(X), 1)), 1),
    ];
  });
  try {
    const [f, s, l] = (await Promise.all([fro!.data(), spec!.data(), l21!.data()])) as Float32Array[];
    return { fro: f!, spec: s!, l21: l! };
  } finally {
    tf.dispose([fro!, spec!, l21!]);
  }
}

/**
 * Norms of every group of every grouped kernel, from the variables' current values. A group's
 * δ(g, l) is the largest norm over its kernel matrices (the bound every kernel of the group
 * satisfies) **[choice]**; the generalization bounds are then products of δ(g, l) over groups and
 * layers. Frees all tensors it creates.
 */
export async function normsReport(grouping: Grouping): Promise<NormsReport> {
  const layers: LayerNorms[] = [];
  const byKind: NormsReport['maxNormByGroupKind'] = {};
  const net: NormTriple = { frobenius: 0, spectral: 0, l21: 0 };
  for (const k of grouping.kernels) {
    const plan = planKernel(k);
    const { fro, spec, l21 } = await componentNorms(k, plan.flatIndex);
    const groups: GroupNorms[] = k.groups.map((g, id) => ({ group: id, tag: g.tag, kind: g.kind, unit: g.unit, size: g.size, frobenius: 0, spectral: 0, l21: 0, pomFrobenius: 0 }));
    // Reporting, not updating: a JS pass over the components' scalars is fine here.
    for (let p = 0; p < plan.order.length; p++) {
      const g = groups[k.groupOf[plan.order[p]!]!]!;
      g.frobenius = Math.max(g.frobenius, fro[p]!);
      g.spectral = Math.max(g.spectral, spec[p]!);
      g.l21 = Math.max(g.l21, l21[p]!);
      g.pomFrobenius += fro[p]! ** 2;
    }
    const boundProduct: NormTriple = { frobenius: 1, spectral: 1, l21: 1 };
    const log10: NormTriple = { frobenius: 0, spectral: 0, l21: 0 };
    const max: NormTriple = { frobenius: 0, spectral: 0, l21: 0 };
    for (const g of groups) {
      g.pomFrobenius = Math.sqrt(g.pomFrobenius);
      for (const n of NORMS) {
        boundProduct[n] *= g[n];
        log10[n] += Math.log10(g[n]);
        max[n] = Math.max(max[n], g[n]);
      }
      const e = (byKind[g.tag] ??= { frobenius: 0, spectral: 0 });
      e.frobenius = Math.max(e.frobenius, g.frobenius);
      e.spectral = Math.max(e.spectral, g.spectral);
    }
    for (const n of NORMS) net[n] += log10[n];
    layers.push({ layer: k.layerName, weight: k.weightName, groups, boundProduct, log10BoundProduct: log10, max });
  }
  return { layers, log10NetworkBound: net, maxNormByGroupKind: byKind };
}

/**
 * The largest Frobenius and spectral norm of the kernel matrices on each manifold type
 * ('Sp', 'Ob', 'St', 'Euc'), for the CLI's `summary.json`.
 */
export async function maxNormByGroupKind(source: Grouping | NormsReport): Promise<Record<string, { frobenius: number; spectral: number }>> {
  return 'maxNormByGroupKind' in source ? source.maxNormByGroupKind : (await normsReport(source)).maxNormByGroupKind;
}
