/**
 * The renormalization factor ℜ of every component matrix (FGSGD.md, stage (ii)), in plain JS.
 *
 * ℜ = γ·f with
 * - γ the geometric constant of the component's manifold: 1 for Sp, 1/√cols for St and Ob, so that
 *   at unit scale every Frobenius and spectral norm of the spec's table is ≤ 1 **[choice]**
 *   (`gamma: 'one'` sets γ = 1 everywhere, e.g. for plain manifold problems);
 * - f = 1/λ, λ the standard deviation of the features that feed the component (its input channel;
 *   for a block of a dense or 1×1 layer, the root mean square of its channels' standard
 *   deviations), capped at the bound B when `cap` is on, so that every constrained norm stays ≤ B.
 *   The cap is on f (that is, ℜ ≤ γ·B), not on ℜ itself: with γ = 1/√cols, an oblique or Stiefel
 *   kernel's Frobenius norm is ℜ·√cols = f, which a cap of ℜ at B would let reach B·√cols.
 *   Without statistics yet, λ = 1.
 * - Euclidean components are not rescaled: ℜ = 1.
 *
 * Shared by the optimizer (which stores scaled weights, implementation (b)) and the renormalizer
 * (which estimates λ). No tensors are created here.
 */
import type { KernelGrouping } from './grouping.js';

export interface RadiusOptions {
  /** The bound B on every constrained norm (default 1). */
  bound?: number;
  /** Cap f = 1/λ at B (default true). */
  cap?: boolean;
  /** 'spec': γ = 1 (Sp), 1/√cols (St, Ob); 'one': γ = 1 (default 'spec'). */
  gamma?: 'spec' | 'one';
  /** Smallest λ used, so that a dead channel (λ = 0) gives a finite factor (default 1e-6). */
  lambdaFloor?: number;
}

export const DEFAULT_BOUND = 1;
export const DEFAULT_LAMBDA_FLOOR = 1e-6;

/** γ of a manifold tag for component matrices with `cols` columns. */
export function gammaOf(tag: string, cols: number, mode: 'spec' | 'one' = 'spec'): number {
  if (mode === 'one' || tag === 'Sp' || tag === 'Euc') return 1;
  return 1 / Math.sqrt(cols);
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
 * `channelLambda` (length = input channels) may be omitted: λ = 1.
 */
export function radiiFor(k: KernelGrouping, channelLambda: ArrayLike<number> | undefined, opts: RadiusOptions = {}): Float32Array {
  const bound = opts.bound ?? DEFAULT_BOUND;
  const cap = opts.cap ?? true;
  const floor = opts.lambdaFloor ?? DEFAULT_LAMBDA_FLOOR;
  const lam = channelLambda ? unitLambdas(k, channelLambda) : undefined;
  const N = k.groupOf.length;
  const out = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    const tag = k.groups[k.groupOf[n]!]!.tag;
    if (tag === 'Euc') {
      out[n] = 1;
      continue;
    }
    const l = lam ? Math.max(lam[Math.floor(n / k.outUnits)]!, floor) : 1;
    const f = cap ? Math.min(1 / l, bound) : 1 / l;
    out[n] = gammaOf(tag, k.cols, opts.gamma) * f;
  }
  return out;
}
