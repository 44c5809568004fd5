/**
 * The end-of-run report: `DIR/report.md` with the run's results and four plots, built from
 * `DIR/metrics.jsonl` (so a resumed run's report covers its whole history):
 * - `loss.png`: training loss per step (smoothed) and test (and validation) loss per evaluation;
 * - `accuracy.png`: training accuracy per step (smoothed) and test (and validation) accuracy per
 *   evaluation;
 * - `lr.png`: the learning rate per step;
 * - `norms.png`: the largest Frobenius and spectral norm of the kernel matrices per manifold type,
 *   at each refresh of ℜ (and at the end).
 *
 * Charts are vega-lite specs rendered to SVG by vega in Node (no canvas), then to PNG by sharp.
 * Creates no tensors.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { isTestEval, type EvalEnd, type TrainEvent } from './events.js';

/** Most points per series in a plot; longer series are thinned evenly. */
const MAX_POINTS = 1500;
/** Per-step curves are smoothed by a trailing mean over this many steps. */
const SMOOTHING_WINDOW = 20;
const WIDTH = 640;
const HEIGHT = 260;

type Row = { step: number; value: number; series: string };

/** Read a metrics.jsonl (pino lines with the event fields); malformed lines (a killed run's last) are skipped. */
export async function readMetrics(path: string): Promise<TrainEvent[]> {
  const text = await readFile(path, 'utf8');
  const out: TrainEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as TrainEvent;
      if (typeof o.type === 'string') out.push(o);
    } catch {
      // a line cut short by a kill
    }
  }
  return out;
}

/** The rows of each chart, from the events. A resumed run's replayed steps keep their last value. */
export function chartRows(events: readonly TrainEvent[]): Record<'loss' | 'accuracy' | 'lr' | 'norms', Row[]> {
  // Steps logged twice (a run killed after its last checkpoint, then resumed) keep the later value.
  const byStep = new Map<number, Extract<TrainEvent, { type: 'batchEnd' }>>();
  for (const e of events) if (e.type === 'batchEnd') byStep.set(e.step, e);
  const steps = [...byStep.values()].sort((a, b) => a.step - b.step);
  const smooth = (key: 'loss' | 'accuracy', series: string): Row[] => {
    const finite = steps.filter((e) => Number.isFinite(e[key]));
    let sum = 0;
    return thin(
      finite.map((e, i) => {
        sum += e[key] - (i >= SMOOTHING_WINDOW ? finite[i - SMOOTHING_WINDOW]![key] : 0);
        return { step: e.step, value: sum / Math.min(i + 1, SMOOTHING_WINDOW), series };
      }),
    );
  };
  // Test and validation evaluations as separate series (validation ones reuse the test fields).
  const evalSeries = (key: 'testLoss' | 'testAccuracy'): Row[] =>
    events
      .filter((e): e is EvalEnd => e.type === 'evalEnd' && Number.isFinite(e[key]))
      .map((e) => ({ step: e.step, value: e[key], series: isTestEval(e) ? 'test' : 'validation' }));
  const norms: Row[] = [];
  for (const e of events) {
    const m = e.type === 'renormalized' || e.type === 'fitEnd' ? e.maxNormByGroupKind : undefined;
    const step = e.type === 'renormalized' ? e.step : e.type === 'fitEnd' ? e.steps : 0;
    for (const [kind, n] of Object.entries(m ?? {})) {
      norms.push({ step, value: n.frobenius, series: `${kind} Frobenius` }, { step, value: n.spectral, series: `${kind} spectral` });
    }
  }
  return {
    loss: [...smooth('loss', 'train (smoothed)'), ...evalSeries('testLoss')],
    accuracy: [...smooth('accuracy', 'train (smoothed)'), ...evalSeries('testAccuracy')],
    lr: thin(steps.map((e) => ({ step: e.step, value: e.lr, series: 'learning rate' }))),
    norms,
  };
}

function thin<T>(rows: T[]): T[] {
  if (rows.length <= MAX_POINTS) return rows;
  const every = rows.length / MAX_POINTS;
  const out: T[] = [];
  for (let i = 0; i < MAX_POINTS; i++) out.push(rows[Math.floor(i * every)]!);
  out.push(rows[rows.length - 1]!);
  return out;
}

/**
 * Render a vega-lite spec to PNG bytes: compiled to vega, drawn as SVG by vega in Node (no
 * canvas), rasterised by sharp. Every chart of the project goes through here (run reports, sweep
 * results).
 */
export async function renderPng(spec: vl.TopLevelSpec): Promise<Buffer> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return await sharp(Buffer.from(svg)).png().toBuffer();
  } finally {
    view.finalize();
  }
}

/** A line chart of `rows` (one line per series, points where a series is sparse) as PNG bytes. */
export async function lineChartPng(
  rows: readonly Row[],
  title: string,
  yTitle: string,
  yScale: 'linear' | 'log' = 'linear',
  /** Vertical rules at these steps (hot-swaps), labelled. */
  marks: readonly { step: number; label: string }[] = [],
): Promise<Buffer> {
  const line = {
    data: { values: rows as Row[] },
    mark: { type: 'line', point: rows.length < 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', axis: { format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: yScale === 'log' ? { type: 'log' } : { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
  const rules = [
    { data: { values: marks as { step: number; label: string }[] }, mark: { type: 'rule', strokeDash: [4, 3], color: 'gray' }, encoding: { x: { field: 'step', type: 'quantitative' } } },
    { data: { values: marks as { step: number; label: string }[] }, mark: { type: 'text', align: 'left', dx: 3, dy: -4, baseline: 'bottom', fontSize: 10, color: 'gray' }, encoding: { x: { field: 'step', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } } },
  ];
  return renderPng({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    layer: marks.length ? [line, ...rules] : [line],
  } as vl.TopLevelSpec);
}

/**
 * The largest kernel norms per manifold type over the run: one colour per manifold, solid for
 * Frobenius and dashed for spectral, points at each refresh, and the bound B drawn when the
 * radius policy is `bound:B`.
 */
export async function normsChartPng(rows: readonly Row[], bound?: number): Promise<Buffer> {
  const values = rows.map((r) => {
    const [manifold, kind] = r.series.split(' ');
    return { step: r.step, value: r.value, manifold, norm: kind };
  });
  const lines = {
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', axis: { format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: 'largest norm (log scale)', scale: { type: 'log' } },
      color: { field: 'manifold', type: 'nominal', title: 'manifold' },
      strokeDash: { field: 'norm', type: 'nominal', title: 'norm', scale: { domain: ['Frobenius', 'spectral'], range: [[1, 0], [5, 3]] } },
      shape: { field: 'norm', type: 'nominal', title: 'norm' },
    },
  };
  const rule = bound === undefined ? [] : [
    { data: { values: [{ bound, label: `bound B = ${bound}` }] }, mark: { type: 'rule', color: 'black', strokeDash: [2, 2] }, encoding: { y: { field: 'bound', type: 'quantitative' } } },
    { data: { values: [{ bound, label: `bound B = ${bound}` }] }, mark: { type: 'text', align: 'left', dx: 4, dy: -6, fontSize: 10 }, encoding: { y: { field: 'bound', type: 'quantitative' }, x: { value: 0 }, text: { field: 'label' } } },
  ];
  return renderPng({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Largest kernel norms per manifold type',
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    layer: [lines, ...rule],
  } as vl.TopLevelSpec);
}

/**
 * Write `DIR/report.md` and its PNG plots from `DIR/metrics.jsonl` (and `DIR/summary.json` when
 * present). Returns the report's path.
 */
export async function writeReport(dir: string): Promise<string> {
  const events = await readMetrics(join(dir, 'metrics.jsonl'));
  const rows = chartRows(events);
  let summary: Record<string, unknown> = {};
  try {
    summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    // no summary: the report shows the plots only
  }
  const charts: [keyof typeof rows, string, string, 'linear' | 'log'][] = [
    ['loss', 'Loss', 'softmax cross-entropy', 'log'],
    ['accuracy', 'Accuracy', 'accuracy', 'linear'],
    ['lr', 'Learning rate', 'learning rate', 'linear'],
    ['norms', 'Largest kernel norms per manifold type', 'norm', 'linear'],
  ];
  const swaps = events.flatMap((e) => (e.type === 'optimizerSwapped' ? [e] : []));
  const swapMarks = swaps.map((e) => ({ step: e.step, label: `swap: ${e.to.split(' ').slice(0, 3).join(' ')}` }));
  const lines = ['# Training report', ''];
  const keys = ['pipeline', 'reason', 'testAccuracy', 'testLoss', 'validationAccuracy', 'validationLoss', 'deadChannels', 'epochs', 'steps', 'imagesPerSecond', 'backend', 'model', 'optimizer', 'seed', 'skippedSamples', 'wallSeconds', 'updateShare', 'weightsDigest'];
  if (Object.keys(summary).length) {
    lines.push('| | |', '|---|---|');
    for (const k of keys) if (k in summary) lines.push(`| ${k} | ${format(summary[k])} |`);
    lines.push('');
    if (summary.message) lines.push(`${String(summary.message)}.`, '');
  }
  for (const [key, title, y, scale] of charts) {
    if (rows[key].length === 0) {
      lines.push(`## ${title}`, '', '_No data._', '');
      continue;
    }
    const png = key === 'norms' ? await normsChartPng(rows.norms, boundOf(events)) : await lineChartPng(rows[key], title, y, scale, key === 'lr' ? swapMarks : []);
    await writeFile(join(dir, `${key}.png`), png);
    lines.push(`## ${title}`, '', `![${title}](${key}.png)`, '');
  }
  if (swaps.length) {
    lines.push('## Hot-swaps', '', '| from step | from | to |', '|---|---|---|');
    for (const e of swaps) lines.push(`| ${e.step} | ${e.from} | ${e.to} |`);
    lines.push('');
  }
  const norms = summary.maxNormByGroupKind as Record<string, { frobenius: number; spectral: number }> | undefined;
  if (norms && Object.keys(norms).length) {
    lines.push('## Final norm bounds', '', '| manifold | max Frobenius | max spectral |', '|---|---|---|');
    // A diverged run's norms are NaN, which summary.json stores as null.
    const norm = (v: number | null) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : 'not finite');
    for (const [k, n] of Object.entries(norms)) lines.push(`| ${k} | ${norm(n.frobenius)} | ${norm(n.spectral)} |`);
    lines.push('');
  }
  const path = join(dir, 'report.md');
  await writeFile(path, lines.join('\n'));
  return path;
}

/** B of the radius policy `bound:B` in use at the end of the run, from the optimizer's description. */
export function boundOf(events: readonly TrainEvent[]): number | undefined {
  let description = '';
  for (const e of events) {
    if (e.type === 'fitStart') description = e.optimizer;
    else if (e.type === 'optimizerSwapped') description = e.to;
  }
  const m = / radius=bound:([0-9.eE+-]+)[ ,]/.exec(`${description} `);
  return m ? Number(m[1]) : undefined;
}

function format(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(4);
  // deadChannels
  if (v && typeof v === 'object' && 'dead' in v && 'channels' in v && 'layer' in v) return `${String(v.dead)} of ${String(v.channels)} (${String(v.layer)})`;
  return String(v);
}
