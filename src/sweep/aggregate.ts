/**
 * Aggregation of a sweep's run summaries: mean ± sample standard deviation (n − 1) per
 * configuration, and the results table.
 */

export interface RunSummary {
  testAccuracy: number;
  testLoss: number;
  epochs: number;
  steps: number;
  /** Wall-clock seconds of training, evaluation included. */
  wallSeconds?: number;
  /** Share of step time spent in the optimizer update (FG-SGD or SGD), 0..1. */
  updateShare?: number;
  [key: string]: unknown;
}

export interface Stat {
  mean: number;
  std: number;
  n: number;
}

export interface ConfigResult {
  id: string;
  label: string;
  runs: number;
  testAccuracy: Stat;
  testLoss: Stat;
  secondsPerEpoch: Stat | null;
  updateShare: Stat | null;
}

/** Mean and sample standard deviation (Bessel-corrected; 0 for a single value). */
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

/** One row per configuration, in the order of `configs`; configurations without runs are left out. */
export function aggregate(configs: readonly { id: string; label: string }[], summaries: ReadonlyMap<string, RunSummary[]>): ConfigResult[] {
  const out: ConfigResult[] = [];
  for (const c of configs) {
    const runs = summaries.get(c.id) ?? [];
    if (runs.length === 0) continue;
    out.push({
      id: c.id,
      label: c.label,
      runs: runs.length,
      testAccuracy: meanStd(runs.map((r) => r.testAccuracy)),
      testLoss: meanStd(runs.map((r) => r.testLoss)),
      secondsPerEpoch: optionalStat(runs.map((r) => (r.wallSeconds === undefined ? undefined : r.wallSeconds / Math.max(1, r.epochs)))),
      updateShare: optionalStat(runs.map((r) => r.updateShare)),
    });
  }
  return out;
}

const pm = (s: Stat | null, scale = 1, digits = 2) =>
  s === null ? 'n/a' : `${(s.mean * scale).toFixed(digits)} ± ${(s.std * scale).toFixed(digits)}`;

/** The results table in Markdown: accuracy and error in %, loss, s/epoch, update share in %. */
export function resultsTable(rows: readonly ConfigResult[]): string {
  const lines = [
    '| configuration | runs | test accuracy (%) | test error (%) | test loss | s / epoch | update share of step (%) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const err: Stat = { mean: 1 - r.testAccuracy.mean, std: r.testAccuracy.std, n: r.testAccuracy.n };
    lines.push(
      `| ${r.label} (\`${r.id}\`) | ${r.runs} | ${pm(r.testAccuracy, 100)} | ${pm(err, 100)} | ${pm(r.testLoss, 1, 4)} | ${pm(r.secondsPerEpoch, 1, 1)} | ${pm(r.updateShare, 100, 1)} |`,
    );
  }
  return lines.join('\n');
}
