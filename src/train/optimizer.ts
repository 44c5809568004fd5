/**
 * The trainer's view of the optimizer: one object per run that applies gradients, knows its
 * global step and learning rate, can be reconfigured between two steps (hot-swap), refreshes ℜ,
 * reports norms, and saves/restores its state keyed by weight name.
 *
 * Behind it sits one FG-SGD optimizer (src/fgsgd/optimizer.ts) for the whole run. Plain SGD with
 * momentum (`optimizer: 'sgd'`) is FG-SGD with every group Euclidean, as that file says, so every
 * hot-swap (SGD → FG-SGD, Sp+Ob+St → Sp+Ob+St+Euc, a new rate) is `FGSGD.reconfigure`: the step
 * count continues (and with it the learning-rate schedule), momentum buffers are carried over and
 * projected onto the tangent spaces of the new manifolds, λ is kept.
 *
 * ℜ follows the radius policy (src/fgsgd/radius.ts). Only the `data` policy needs the statistics
 * of the kernel layers' inputs: then `observe(x)` feeds a training batch to the Renormalizer
 * (src/fgsgd/renormalize.ts) every `lambdaEvery` steps (an inference pass of the layers below
 * each kernel), and `renormalize()` hands the estimate to the optimizer. Under `init` and `bound`
 * (and with plain SGD) there is no Renormalizer and `observe` does nothing: no extra pass.
 *
 * Tensor ownership: `applyGradients` never disposes the gradients it is given (the caller does);
 * this object owns the FG-SGD optimizer and the Renormalizer until `dispose()`; `getState`
 * returns typed arrays, not tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { buildGrouping, DEFAULT_MANIFOLDS, DEFAULT_STRATEGY, parseManifoldMix, type Grouping as FgGrouping, type Strategy } from '../fgsgd/grouping.js';
export { DEFAULT_MANIFOLDS, DEFAULT_STRATEGY };
import { DEFAULT_STEP_RULE, FGSGD, type FGSGDConfig, type FGSGDStateJson, type StepRule } from '../fgsgd/optimizer.js';
import { maxNormByGroupKind, Renormalizer } from '../fgsgd/renormalize.js';
import { checkRadiusOptions, DEFAULT_RADIUS, needsStatistics } from '../fgsgd/radius.js';
import { toSchedule, type ScheduleConfig } from '../fgsgd/schedules.js';
import type { NormsByGroupKind } from '../events.js';
import { readTensors, type TensorData } from '../backend/reads.js';
import { isOptimizerSetting, parseOptimizerSetting, type OptimizerSetting } from './optimizer_options.js';

export type Grouping = Strategy;

/** A JSON-safe optimizer configuration: what `--optimizer/--lr/...` and hot-swaps carry. */
export interface OptimizerConfig {
  optimizer: 'sgd' | 'fgsgd';
  /** A constant rate, or a schedule over the global step (src/fgsgd/schedules.ts). */
  lr: number | ScheduleConfig;
  momentum: number;
  /** FG-SGD: the grouping strategy (default 'PIO'). */
  grouping?: Grouping;
  /** FG-SGD: the manifold mix (default 'Sp+Ob+St+Euc'). */
  manifolds?: string;
  /** Weight decay on Euclidean parameters (default 0): biases, batch-norm, Euc groups, all of SGD. */
  weightDecay?: number;
  /** FG-SGD: kernels per group (default 8). */
  groupSize?: number;
  /** FG-SGD, `data` radius policy: gather λ statistics every N steps (default 10). */
  lambdaEvery?: number;
  /** Further FG-SGD settings (step rule, retraction, ...), passed through. */
  fgsgd?: Omit<FGSGDConfig, 'lr' | 'momentum' | 'weightDecay'>;
}

export type { TensorData };

/** Optimizer state as plain data, keyed by weight name (the layer weight's `originalName`). */
export interface OptimizerState {
  config: OptimizerConfig;
  step: number;
  /** Momentum buffers ('<weight>/momentum') and λ statistics ('renormalizer/<layer>', by the name of the layer whose input they describe). */
  tensors: Record<string, TensorData>;
  /** FG-SGD's JSON state (config, grouping, λ, ...). */
  extra?: unknown;
}

/** Describe a config in one line, for logs and `optimizerSwapped` events. */
export function describeConfig(c: OptimizerConfig): string {
  const lr = typeof c.lr === 'number' ? `lr=${c.lr}` : `lr=${c.lr.name}(${c.lr.lr})`;
  const fg = c.optimizer === 'fgsgd';
  const geo = fg ? ` ${c.grouping ?? DEFAULT_STRATEGY} ${c.manifolds ?? DEFAULT_MANIFOLDS}` : '';
  // FG-SGD decays only the Euclidean parameters (constrained norms are fixed): say so.
  const wd = c.weightDecay ? ` weightDecay=${c.weightDecay}${fg ? ' (Euclidean parameters)' : ''}` : '';
  let rest = '';
  if (fg) {
    const f = c.fgsgd ?? {};
    const layers = Object.entries(f.radiusLayers ?? {}).map(([l, p]) => `,${l}=${p}`).join('');
    rest = ` radius=${f.radius ?? DEFAULT_RADIUS}${layers} step=${f.step ?? DEFAULT_STEP_RULE}`;
    if (c.groupSize !== undefined) rest += ` groupSize=${c.groupSize}`;
  }
  return `${c.optimizer}${geo} ${lr} momentum=${c.momentum}${wd}${rest}`;
}

/**
 * What a scheduled swap changes (the CLI's `--swap STEP:key=value,...`); everything it leaves out
 * stays as it is at the swap, the learning-rate schedule included: `lr` sets the peak of the
 * current schedule, not a new constant.
 */
export interface SwapChanges {
  optimizer?: 'sgd' | 'fgsgd';
  grouping?: Grouping;
  manifolds?: string;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  groupSize?: number;
  radius?: string;
  step?: StepRule;
}

/** A configuration change that takes effect after `step` optimizer steps (for step `step` + 1). */
export interface ScheduledSwap {
  step: number;
  changes: SwapChanges;
}

/** What `manifoldStep` takes as hot-swaps: a whole configuration (now), or a scheduled change. */
export type ConfigChange = OptimizerConfig | ScheduledSwap;

export function isScheduledSwap(c: ConfigChange): c is ScheduledSwap {
  return 'changes' in c;
}

/** `current` with a swap's changes applied (validated). */
export function applySwap(current: OptimizerConfig, changes: SwapChanges): OptimizerConfig {
  const { optimizer, grouping, manifolds, lr, momentum, weightDecay, groupSize, radius, step } = changes;
  const next: OptimizerConfig = { ...current };
  if (optimizer !== undefined) next.optimizer = optimizer;
  if (next.optimizer === 'fgsgd') {
    next.grouping = grouping ?? current.grouping ?? DEFAULT_STRATEGY;
    next.manifolds = manifolds ?? current.manifolds ?? DEFAULT_MANIFOLDS;
  } else {
    next.grouping = undefined;
    next.manifolds = undefined;
  }
  if (lr !== undefined) next.lr = typeof current.lr === 'number' ? lr : { ...current.lr, lr };
  if (momentum !== undefined) next.momentum = momentum;
  if (weightDecay !== undefined) next.weightDecay = weightDecay;
  if (groupSize !== undefined) next.groupSize = groupSize;
  if (radius !== undefined || step !== undefined) {
    next.fgsgd = { ...current.fgsgd, ...(radius !== undefined ? { radius } : {}), ...(step !== undefined ? { step } : {}) };
  }
  return validateConfig(next);
}

/** The swap's field of each setting (the settings are parsed in optimizer_options.ts). */
const SWAP_FIELDS: Record<OptimizerSetting, keyof SwapChanges> = {
  optimizer: 'optimizer',
  grouping: 'grouping',
  manifolds: 'manifolds',
  lr: 'lr',
  momentum: 'momentum',
  'weight-decay': 'weightDecay',
  'group-size': 'groupSize',
  radius: 'radius',
  'step-rule': 'step',
};

/** Parse `STEP:key=value[,key=value...]` (the CLI's --swap). */
export function parseSwap(text: string): ScheduledSwap {
  const where = `--swap ${text}`;
  const colon = text.indexOf(':');
  const step = Number(text.slice(0, colon));
  if (colon < 1 || !Number.isInteger(step) || step < 0) throw new Error(`${where}: expected STEP:key=value[,key=value...], e.g. 500:optimizer=fgsgd,manifolds=Sp+Ob+St`);
  const changes: SwapChanges = {};
  for (const item of text.slice(colon + 1).split(',')) {
    const eq = item.indexOf('=');
    const key = item.slice(0, eq).trim();
    if (eq < 1 || !isOptimizerSetting(key)) throw new Error(`${where}: unknown setting '${eq < 1 ? item : key}'; valid: ${Object.keys(SWAP_FIELDS).join(', ')}`);
    try {
      Object.assign(changes, { [SWAP_FIELDS[key]]: parseOptimizerSetting(key, item.slice(eq + 1).trim()) });
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  return { step, changes };
}

/** λ statistics every N steps under the `data` policy **[choice]**: about a 3% overhead. */
export const DEFAULT_LAMBDA_EVERY = 10;
/** Key prefix of the λ statistics in the optimizer state: `renormalizer/conv1`. */
const RENORMALIZER = 'renormalizer/';

/** Whether two configurations are the same (key order and undefined fields aside). */
export function sameConfig(a: OptimizerConfig, b: OptimizerConfig): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function validateConfig(c: OptimizerConfig): OptimizerConfig {
  if (c.optimizer !== 'sgd' && c.optimizer !== 'fgsgd') {
    throw new Error(`unknown optimizer '${String(c.optimizer)}'; valid optimizers: sgd, fgsgd.`);
  }
  if (!(c.momentum >= 0 && c.momentum < 1)) throw new Error(`momentum must lie in [0, 1), got ${c.momentum}.`);
  toSchedule(c.lr);
  if (c.manifolds !== undefined) parseManifoldMix(c.manifolds);
  if (c.groupSize !== undefined && !(Number.isInteger(c.groupSize) && c.groupSize >= 1)) throw new Error(`groupSize must be an integer ≥ 1, got ${c.groupSize}.`);
  if (c.lambdaEvery !== undefined && !(Number.isInteger(c.lambdaEvery) && c.lambdaEvery >= 1)) throw new Error(`lambdaEvery must be an integer ≥ 1, got ${c.lambdaEvery}.`);
  if (c.fgsgd) checkRadiusOptions(c.fgsgd);
  return c;
}

export class TrainOptimizer {
  private readonly fgsgd: FGSGD;
  private renormalizer?: Renormalizer;
  private cfg: OptimizerConfig;
  private initialized = false;

  constructor(
    private readonly model: tf.LayersModel,
    config: OptimizerConfig,
    /** Seed of the grouping draw. */
    private readonly seed = 0,
  ) {
    this.cfg = validateConfig(config);
    this.fgsgd = new FGSGD(this.groupingFor(this.cfg), this.fgsgdConfig(this.cfg));
    this.renormalizer = this.renormalizerFor();
  }

  get config(): OptimizerConfig {
    return this.cfg;
  }

  /** Steps applied so far (over resumes); the next step is `step + 1`. */
  get step(): number {
    return this.fgsgd.iterations;
  }

  /** The underlying FG-SGD optimizer (for tests and tools; the trainer does not need it). */
  get inner(): FGSGD {
    return this.fgsgd;
  }

  /**
   * Call with each training batch's input before its forward pass. The first batch of a fresh run
   * projects the kernels onto their manifolds (stage (i)); under the `data` policy it also sets
   * the initial ℜ from the batch, and every `lambdaEvery` steps a batch feeds the λ statistics
   * (an inference-mode pass of the layers below each kernel). Does not dispose `x`. Asynchronous
   * only where it reads λ back (the first batch under `data`).
   */
  async observe(x: tf.Tensor): Promise<void> {
    if (!this.initialized && this.step === 0) {
      // Stage (i) before the first forward pass, so that the first gradient is taken at the
      // projected weights (with λ from this batch under the data policy).
      if (this.renormalizer) await this.renormalizer.initialize(x);
      else this.fgsgd.project();
    } else if (this.renormalizer && this.step % (this.cfg.lambdaEvery ?? DEFAULT_LAMBDA_EVERY) === 0) {
      this.renormalizer.observe(x);
    }
    this.initialized = true;
  }

  /** Whether `observe` runs a statistics pass at all (some layer's radius policy is `data`). */
  get gathersStatistics(): boolean {
    return this.renormalizer !== undefined;
  }

  /** Apply one step (`grads` keyed by tfjs variable name). Does not dispose `grads`. Returns the rate used. */
  applyGradients(grads: tf.NamedTensorMap): number {
    return this.fgsgd.applyGradients(grads);
  }

  /**
   * Take a new configuration at a step boundary. State carries over: the step count (so the
   * schedule continues), λ, and the momentum, projected onto the tangent spaces of the new
   * manifolds.
   */
  reconfigure(config: OptimizerConfig): void {
    const next = validateConfig(config);
    const regroup =
      next.optimizer !== this.cfg.optimizer ||
      (next.grouping ?? DEFAULT_STRATEGY) !== (this.cfg.grouping ?? DEFAULT_STRATEGY) ||
      (next.manifolds ?? '') !== (this.cfg.manifolds ?? '') ||
      next.groupSize !== this.cfg.groupSize;
    this.fgsgd.reconfigure({ ...this.fgsgdConfig(next), ...(regroup ? { grouping: this.groupingFor(next) } : {}) });
    this.cfg = next;
    // A new grouping captures other inputs; a new radius policy may need statistics or not.
    if (regroup || (this.renormalizerFor() !== undefined) !== (this.renormalizer !== undefined)) {
      this.renormalizer?.dispose();
      this.renormalizer = this.renormalizerFor();
      this.initialized = true;
    }
  }

  /** Refresh ℜ from the statistics gathered so far; returns the norms, or undefined when nothing is constrained. */
  async renormalize(): Promise<NormsByGroupKind | undefined> {
    if (!this.constrained) return undefined;
    if (this.renormalizer?.hasStatistics) await this.renormalizer.refresh();
    return this.norms();
  }

  /** Whether some kernel group is constrained (not Euclidean). */
  get constrained(): boolean {
    return this.fgsgd.currentGrouping.kernels.some((k) => k.groups.some((g) => g.tag !== 'Euc'));
  }

  /** Largest Frobenius and spectral norm of the kernel matrices per manifold kind. */
  norms(): Promise<NormsByGroupKind> {
    return maxNormByGroupKind(this.fgsgd.currentGrouping);
  }

  /**
   * The state as it is when it is called (every part is taken before the first read-back), read
   * back asynchronously.
   */
  async getState(): Promise<OptimizerState> {
    const [config, step, initialized] = [this.cfg, this.step, this.initialized];
    const fgsgd = this.fgsgd.getState();
    const running = this.renormalizer?.getState();
    const s = await fgsgd;
    const tensors = await readTensors(s.tensors);
    for (const [name, r] of Object.entries((await running)?.running ?? {})) {
      tensors[`${RENORMALIZER}${name}`] = { dtype: 'float32', shape: [r.length], data: r };
    }
    return { config, step, tensors, extra: { fgsgd: s.json, initialized } };
  }

  setState(state: OptimizerState): void {
    const { fgsgd: json, initialized } = state.extra as { fgsgd: FGSGDStateJson; initialized: boolean };
    const tensors: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(state.tensors)) if (k.endsWith('/momentum')) tensors[k] = tf.tensor(t.data, t.shape, t.dtype);
    try {
      this.fgsgd.setState({ json: { ...json, grouping: this.rebind(json.grouping) }, tensors });
    } finally {
      tf.dispose(Object.values(tensors));
    }
    this.cfg = validateConfig(state.config);
    this.renormalizer?.dispose();
    this.renormalizer = this.renormalizerFor();
    if (this.renormalizer) {
      const names = this.renormalizer.inputNames;
      const running: Record<string, Float32Array> = {};
      for (const [key, t] of Object.entries(state.tensors)) {
        if (!key.startsWith(RENORMALIZER)) continue;
        const id = key.slice(RENORMALIZER.length);
        // Checkpoints written before the statistics were keyed by name used the input's position.
        const name = names.includes(id) ? id : /^\d+$/.test(id) && Number(id) < names.length ? names[Number(id)]! : id;
        running[name] = Float32Array.from(t.data);
      }
      this.renormalizer.setState({ running });
    }
    this.initialized = initialized;
  }

  dispose(): void {
    this.renormalizer?.dispose();
    this.fgsgd.dispose();
  }

  /**
   * A saved grouping names the tfjs variables of the model that saved it ('conv1/kernel_3'); point
   * it at this model's variables of the same weight names.
   */
  private rebind(grouping: FgGrouping): FgGrouping {
    const varName = new Map<string, string>();
    for (const w of this.model.trainableWeights) varName.set(w.originalName, (w as unknown as { val: tf.Variable }).val.name);
    const bind = <T extends { weightName: string; variableName: string }>(spec: T): T => {
      const v = varName.get(spec.weightName);
      if (!v) throw new Error(`optimizer state names weight '${spec.weightName}', which this model does not have`);
      return { ...spec, variableName: v };
    };
    return { ...grouping, kernels: grouping.kernels.map(bind), others: grouping.others.map(bind) };
  }

  private groupingFor(c: OptimizerConfig): FgGrouping {
    return buildGrouping(this.model, {
      strategy: c.grouping ?? DEFAULT_STRATEGY,
      manifolds: c.optimizer === 'sgd' ? 'Euc' : (c.manifolds ?? DEFAULT_MANIFOLDS),
      ...(c.groupSize !== undefined ? { groupSize: c.groupSize } : {}),
      seed: this.seed,
    });
  }

  private fgsgdConfig(c: OptimizerConfig): FGSGDConfig {
    return { ...c.fgsgd, lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay ?? 0 };
  }

  /** A Renormalizer when some constrained kernel's radius policy needs λ (`data`). */
  private renormalizerFor(): Renormalizer | undefined {
    return needsStatistics(this.fgsgd.currentGrouping.kernels, this.fgsgd.config) ? new Renormalizer(this.model, this.fgsgd) : undefined;
  }
}

