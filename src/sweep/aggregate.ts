/**
 * Aggregation of a sweep's run summaries: mean ± sample standard deviation (n − 1) per
 * configuration, each configuration's difference in test accuracy from the grid's baseline with
 * Welch's two-sample t-test (unequal variances, Welch–Satterthwaite degrees of freedom; Student's
 * t distribution from jstat), validation accuracy and dead first-layer channels where the runs
 * report them, the epoch time relative to the baseline's, and the results table.
 */
import jStat from 'jstat';
import type { Revision } from '../provenance.js';

export interface RunSummary {
  testAccuracy: number;
  testLoss: number;
  epochs: number;
  steps: number;
  /** Wall-clock seconds of training, evaluation included. */
  wallSeconds?: number;
  /** Share of step time spent in the optimizer update (FG-SGD or SGD), 0..1. */
  updateShare?: number;
  /** Accuracy on the validation set held out of the training data (--validation); null without one. */
  validationAccuracy?: number | null;
  /** Dead channels of the first ReLU at the last test evaluation (src/train/dead_channels.ts). */
  deadChannels?: { layer: string; dead: number; channels: number } | null;
  seed?: number;
  /** The code that trained the run (summaries written before it was recorded lack it). */
  git?: Revision;
  [key: string]: unknown;
}

export interface Stat {
  mean: number;
  std: number;
  n: number;
}

/** A configuration's test accuracy against the baseline's: Welch's t-test, two-sided. */
export interface Comparison {
  baseline: string;
  /** Mean accuracy minus the baseline's mean accuracy (a fraction, like the accuracies). */
  difference: number;
  /** 95% confidence interval of the difference (Welch–Satterthwaite degrees of freedom). */
  ci95: [number, number];
  pValue: number;
  df: number;
}

export interface ConfigResult {
  id: string;
  label: string;
  runs: number;
  /** Each run's test accuracy, in the order of the runs (seed order in a sweep). */
  accuracies: number[];
  testAccuracy: Stat;
  testLoss: Stat;
  secondsPerEpoch: Stat | null;
  updateShare: Stat | null;
  /** Against the baseline; null for the baseline itself and where either side has fewer than 2 runs. */
  vsBaseline: Comparison | null;
  /** Validation accuracy over the runs; null unless every run has one. */
  validationAccuracy: Stat | null;
  /**
   * Dead channels of the first ReLU (count) over the runs, and that layer's channel count (the
   * largest among the runs); null unless every run reports them.
   */
  deadChannels: (Stat & { channels: number }) | null;
  /** Mean seconds per epoch over the baseline's mean (1 for the baseline); null where either is unknown. */
  epochTimeRatio: number | null;
}

/**
 * Mean and sample standard deviation (Bessel-corrected). A single value has no spread: its std is
 * 0 here (plots draw no error bar) and the table shows the mean alone.
 */
export function meanStd(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) throw new Error('meanStd of no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, n };
}

function optionalStat(values: (number | undefined)[]): Stat | null {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return present.length === values.length && present.length > 0 ? meanStd(present) : null;
}

/**
 * Welch's t-test of `values` against `baseline`, two-sided, with the 95% confidence interval of the
 * difference of means. Null where either side has fewer than 2 values or neither has any spread
 * (the t statistic is undefined).
 */
export function compare(values: readonly number[], baseline: readonly number[], baselineId: string): Comparison | null {
  if (values.length < 2 || baseline.length < 2) return null;
  const a = meanStd(values);
  const b = meanStd(baseline);
  const va = a.std ** 2 / a.n;
  const vb = b.std ** 2 / b.n;
  if (va + vb === 0) return null;
  const difference = a.mean - b.mean;
  const se = Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  const pValue = Math.min(1, 2 * jStat.studentt.cdf(-Math.abs(difference / se), df));
  const half = jStat.studentt.inv(0.975, df) * se;
  return { baseline: baselineId, difference, ci95: [difference - half, difference + half], pValue, df };
}

function finiteOrThrow(runs: readonly RunSummary[], id: string, key: 'testAccuracy' | 'testLoss'): number[] {
  return runs.map((r, i) => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(`configuration '${id}', run ${r.seed ?? i + 1}: ${key} is ${String(v)}; the grid's pipeline must evaluate a test set.`);
    }
    return v;
  });
}

/**
 * One row per configuration, in the order of `configs`; configurations without runs are left out.
 * `baseline` (default: the first configuration) is what every other row is compared against.
 * @throws where a run's summary has no finite test accuracy or loss (naming the configuration and seed).
 */
export function aggregate(
  configs: readonly { id: string; label: string }[],
  summaries: ReadonlyMap<string, RunSummary[]>,
  baseline: string | undefined = configs[0]?.id,
): ConfigResult[] {
  const accuracies = new Map(configs.map((c) => [c.id, finiteOrThrow(summaries.get(c.id) ?? [], c.id, 'testAccuracy')]));
  const base = baseline === undefined ? [] : accuracies.get(baseline) ?? [];
  const secondsPerEpoch = (runs: readonly RunSummary[]) =>
    optionalStat(runs.map((r) => (r.wallSeconds === undefined ? undefined : r.wallSeconds / Math.max(1, r.epochs))));
  const baseSeconds = baseline === undefined ? null : secondsPerEpoch(summaries.get(baseline) ?? []);
  const out: ConfigResult[] = [];
  for (const c of configs) {
    const runs = summaries.get(c.id) ?? [];
    if (runs.length === 0) continue;
    const acc = accuracies.get(c.id)!;
    const seconds = secondsPerEpoch(runs);
    const dead = optionalStat(runs.map((r) => r.deadChannels?.dead));
    out.push({
      id: c.id,
      label: c.label,
      runs: runs.length,
      accuracies: acc,
      testAccuracy: meanStd(acc),
      testLoss: meanStd(finiteOrThrow(runs, c.id, 'testLoss')),
      secondsPerEpoch: seconds,
      updateShare: optionalStat(runs.map((r) => r.updateShare)),
      vsBaseline: c.id === baseline ? null : compare(acc, base, baseline!),
      validationAccuracy: optionalStat(runs.map((r) => r.validationAccuracy ?? undefined)),
      deadChannels: dead && { ...dead, channels: Math.max(...runs.map((r) => r.deadChannels!.channels)) },
      epochTimeRatio: seconds && baseSeconds && baseSeconds.mean > 0 ? seconds.mean / baseSeconds.mean : null,
    });
  }
  return out;
}

const pm = (s: Stat | null, scale = 1, digits = 2) =>
  s === null ? 'n/a' : s.n < 2 ? (s.mean * scale).toFixed(digits) : `${(s.mean * scale).toFixed(digits)} ± ${(s.std * scale).toFixed(digits)}`;

/** `1.3 ± 0.6 of 32`: the mean dead count over the runs, of the first ReLU's channels. */
const deadCell = (r: ConfigResult) => (r.deadChannels === null ? 'n/a' : `${pm(r.deadChannels, 1, 1)} of ${r.deadChannels.channels}`);

const signed = (x: number, digits: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;

/** `+0.42 [−0.10, +0.94], p = 0.083` in percentage points; 'baseline' for the baseline, 'n/a' without a test. */
function comparisonCell(r: ConfigResult, baseline: string | undefined): string {
  if (r.id === baseline) return 'baseline';
  const c = r.vsBaseline;
  if (!c) return 'n/a';
  const p = c.pValue < 0.001 ? 'p < 0.001' : `p = ${c.pValue.toFixed(3)}`;
  return `${signed(c.difference * 100, 2)} [${signed(c.ci95[0] * 100, 2)}, ${signed(c.ci95[1] * 100, 2)}], ${p}`;
}

/**
 * The results table in Markdown: accuracy and error in %, each run's accuracy, the difference from
 * the baseline in percentage points with its 95% interval and p-value, loss, s/epoch, update share
 * in %, validation accuracy in %, dead first-layer channels (of the layer's channels), and the
 * epoch time relative to the baseline's. `baseline` names the row to mark as such (the one
 * `aggregate` compared against).
 */
export function resultsTable(rows: readonly ConfigResult[], baseline?: string): string {
  const lines = [
    '| configuration | runs | test accuracy (%) | test error (%) | accuracy of each run (%) | vs. baseline (points, 95% CI, Welch) | test loss | s / epoch | update share of step (%) | validation accuracy (%) | dead first-layer channels | epoch time vs. baseline |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const err: Stat = { mean: 1 - r.testAccuracy.mean, std: r.testAccuracy.std, n: r.testAccuracy.n };
    lines.push(
      `| ${r.label} (\`${r.id}\`) | ${r.runs} | ${pm(r.testAccuracy, 100)} | ${pm(err, 100)} | ${r.accuracies.map((a) => (a * 100).toFixed(2)).join(', ')} | ${comparisonCell(r, baseline)} | ${pm(r.testLoss, 1, 4)} | ${pm(r.secondsPerEpoch, 1, 1)} | ${pm(r.updateShare, 100, 1)} | ${pm(r.validationAccuracy, 100)} | ${deadCell(r)} | ${r.epochTimeRatio === null ? 'n/a' : `${r.epochTimeRatio.toFixed(2)}×`} |`,
    );
  }
  return lines.join('\n');
}
