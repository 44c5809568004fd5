/**
 * The radius ℜ of every component matrix (FGSGD.md, stages (i) and (ii)), in plain JS.
 *
 * ℜ = γ·f, where γ is the geometric constant of the component's manifold (1 for Sp, 1/√cols for
 * St and Ob, so that at unit scale every norm of the spec's table is ≤ 1 **[choice]**; `gamma:
 * 'one'` sets γ = 1 everywhere, e.g. for plain manifold problems), and f is the component's
 * Frobenius norm on the manifold (for all three types: ‖ω‖_F = ℜ for Sp, ℜ·√cols for St and Ob).
 * The **radius policy** chooses f, per layer:
 * - `init` (default): f = the initializer's expected norm, √(rows·cols·E[w²]) with E[w²] the
 *   second moment of one element under the layer's kernel initializer (He, Glorot, ... see
 *   `initializerSecondMoment`). Constraining a layer then does not rescale the network: a
 *   network without BatchNorm keeps the scale its initializer chose for every layer.
 * - `data[:band]`: the paper's γ/λ, f = 1/λ with λ the standard deviation of the features that
 *   feed the component (its input channel; for a block of a dense or 1×1 layer, the root mean
 *   square of its channels' standard deviations), clamped to [init/band, init·band] (band 2 by
 *   default) so that a dead or near-constant input channel (λ → 0) cannot blow ℜ up. Without
 *   statistics yet, λ = 1.
 * - `bound:B`: f = B for every component: every constrained Frobenius norm equals B (and the
 *   spectral norms are ≤ B). This is the earlier default rule γ·min(1/λ, B) as it acted in every
 *   measured run (the cap bound for every channel), without the statistics it never used.
 * - A bare number N is `bound:N` (handy for per-layer overrides: `conv1=1.41`).
 * Per-layer overrides (`radiusLayers`, by layer name) take any of these. Euclidean components are
 * not rescaled: ℜ = 1.
 *
 * Shared by the optimizer (which stores scaled weights, implementation (b)) and the trainer (which
 * estimates λ only where some layer's policy is `data`). No tensors are created here.
 */
import type { KernelGrouping } from './grouping.js';

export type RadiusPolicy = { kind: 'init' } | { kind: 'data'; band: number } | { kind: 'bound'; bound: number };

export interface RadiusOptions {
  /** The radius policy: 'init' (default), 'data', 'data:<band>', 'bound:<B>' or a number. */
  radius?: string;
  /** Policies per layer name, overriding `radius` (same forms). */
  radiusLayers?: Record<string, string>;
  /** 'spec': γ = 1 (Sp), 1/√cols (St, Ob); 'one': γ = 1 (default 'spec'). */
  gamma?: 'spec' | 'one';
  /** Smallest λ used by the `data` policy (default 1e-6). */
  lambdaFloor?: number;
}

export const DEFAULT_RADIUS = 'init';
/** Default band of the `data` policy: f ∈ [init/2, 2·init] **[choice]**. */
export const DEFAULT_DATA_BAND = 2;
export const DEFAULT_LAMBDA_FLOOR = 1e-6;
/** Variance of a standard normal truncated at ±2σ, tfjs's `truncatedNormal`: 1 − 4φ(2)/(2Φ(2) − 1). */
export const TRUNCATED_NORMAL_VARIANCE = 0.7737413045256234;

const POLICY_FORMS = "'init', 'data', 'data:<band>' (band > 1), 'bound:<B>' (B > 0) or a positive number";

/** Parse a radius policy string (`where` names the option in errors). */
export function parseRadius(spec: string | number, where = 'radius'): RadiusPolicy {
  const s = String(spec).trim();
  if (s === 'init') return { kind: 'init' };
  if (s === 'data') return { kind: 'data', band: DEFAULT_DATA_BAND };
  const [kind, arg, ...rest] = s.split(':');
  const value = Number(arg);
  if (rest.length === 0 && arg !== undefined && arg.trim() !== '' && Number.isFinite(value)) {
    if (kind === 'data' && value > 1) return { kind: 'data', band: value };
    if (kind === 'bound' && value > 0) return { kind: 'bound', bound: value };
  }
  const n = Number(s);
  if (s !== '' && arg === undefined && Number.isFinite(n) && n > 0) return { kind: 'bound', bound: n };
  throw new Error(`${where}: unknown radius policy '${s}'; use ${POLICY_FORMS}.`);
}

/** Parse per-layer overrides given as 'layer=policy' strings (the CLI's --radius-layer). */
export function parseRadiusLayers(items: readonly string[], where = '--radius-layer'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const layer = item.slice(0, eq).trim();
    if (eq < 1 || layer === '') throw new Error(`${where}: expected LAYER=POLICY (e.g. conv1=1.41 or conv1=data), got '${item}'.`);
    const policy = item.slice(eq + 1).trim();
    parseRadius(policy, `${where} ${layer}`);
    out[layer] = policy;
  }
  return out;
}

/** Validate a radius configuration (throws naming the bad policy). */
export function checkRadiusOptions(opts: RadiusOptions): void {
  parseRadius(opts.radius ?? DEFAULT_RADIUS, 'radius');
  for (const [layer, p] of Object.entries(opts.radiusLayers ?? {})) parseRadius(p, `radius of layer '${layer}'`);
  const floor = opts.lambdaFloor ?? DEFAULT_LAMBDA_FLOOR;
  if (!(floor > 0 && Number.isFinite(floor))) throw new Error(`lambdaFloor must be a positive number, got ${floor}.`);
}

/** The policy of one layer. */
export function policyOf(layerName: string, opts: RadiusOptions): RadiusPolicy {
  const layer = opts.radiusLayers?.[layerName];
  return layer !== undefined ? parseRadius(layer, `radius of layer '${layerName}'`) : parseRadius(opts.radius ?? DEFAULT_RADIUS);
}

/** Whether some constrained kernel's radius depends on λ (the trainer then gathers statistics). */
export function needsStatistics(kernels: readonly KernelGrouping[], opts: RadiusOptions): boolean {
  return kernels.some((k) => k.groups.some((g) => g.tag !== 'Euc') && policyOf(k.layerName, opts).kind === 'data');
}

/** γ of a manifold tag for component matrices with `cols` columns. */
export function gammaOf(tag: string, cols: number, mode: 'spec' | 'one' = 'spec'): number {
  if (mode === 'one' || tag === 'Sp' || tag === 'Euc') return 1;
  return 1 / Math.sqrt(cols);
}

/**
 * The initializer's expected Frobenius norm of one component matrix, √(rows·cols·E[w²]).
 * @throws when the kernel's initializer is unknown (a spec built by hand, an initializer this
 * function cannot read), naming the layer and the way out.
 */
export function initNorm(k: KernelGrouping): number {
  if (!(typeof k.initSecondMoment === 'number' && k.initSecondMoment > 0)) {
    throw new Error(
      `radius policy 'init': the initializer of layer '${k.layerName}' (${k.initializer ?? 'unknown'}) gives no positive expected norm; ` +
        `give that layer a radius of its own (e.g. --radius-layer ${k.layerName}=1 or radiusLayers: { '${k.layerName}': 'bound:1' }), or use --radius bound:B.`,
    );
  }
  return Math.sqrt(k.rows * k.cols * k.initSecondMoment);
}

/** λ of each input unit (block-row) of a kernel from per-channel λ (length = input channels). */
export function unitLambdas(k: KernelGrouping, channelLambda: ArrayLike<number>): Float64Array {
  const out = new Float64Array(k.inUnits);
  if (k.layout === 'spatial') {
    for (let i = 0; i < k.inUnits; i++) out[i] = channelLambda[i]!;
    return out;
  }
  for (let i = 0; i < k.inUnits; i++) {
    let s = 0;
    for (let a = 0; a < k.rows; a++) s += channelLambda[i * k.rows + a]! ** 2;
    out[i] = Math.sqrt(s / k.rows);
  }
  return out;
}

/**
 * ℜ of every component of a kernel, in component order n = i·outUnits + j.
 * `channelLambda` (length = input channels) may be omitted: λ = 1 (used only by `data`).
 */
export function radiiFor(k: KernelGrouping, channelLambda: ArrayLike<number> | undefined, opts: RadiusOptions = {}): Float32Array {
  const policy = policyOf(k.layerName, opts);
  const N = k.groupOf.length;
  const out = new Float32Array(N);
  const constrained = k.groups.some((g) => g.tag !== 'Euc');
  // f per input unit: only `data` varies with the unit.
  let fOf: (i: number) => number;
  if (!constrained) fOf = () => 1;
  else if (policy.kind === 'bound') fOf = () => policy.bound;
  else if (policy.kind === 'init') {
    const f = initNorm(k);
    fOf = () => f;
  } else {
    const f0 = initNorm(k);
    const floor = opts.lambdaFloor ?? DEFAULT_LAMBDA_FLOOR;
    const lam = channelLambda ? unitLambdas(k, channelLambda) : undefined;
    const lo = f0 / policy.band;
    const hi = f0 * policy.band;
    fOf = (i) => {
      // A non-finite λ (NaN statistics) counts as no statistics.
      const l = lam && Number.isFinite(lam[i]!) ? lam[i]! : 1;
      return Math.min(hi, Math.max(lo, 1 / Math.max(l, floor)));
    };
  }
  for (let n = 0; n < N; n++) {
    const tag = k.groups[k.groupOf[n]!]!.tag;
    out[n] = tag === 'Euc' ? 1 : gammaOf(tag, k.cols, opts.gamma) * fOf(Math.floor(n / k.outUnits));
  }
  return out;
}
