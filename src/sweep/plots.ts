/**
 * The sweep's charts, drawn with the run report's renderer (src/report.ts `renderPng`):
 * - `accuracy.png`: final test accuracy per configuration, mean ± sample std over seeds;
 * - `curves.png`: test accuracy at each evaluation per configuration, averaged over seeds (a band
 *   of ± one std where more than one seed was evaluated at that step).
 *
 * The curves come from each run's `metrics.jsonl` (its `evalEnd` events). Creates no tensors.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as vl from 'vega-lite';
import { isTestEval, type TrainEvent } from '../events.js';
import { renderPng } from '../report.js';
import { meanStd, type ConfigResult } from './aggregate.js';

const WIDTH = 640;
/** Height per configuration row of the accuracy chart. */
const ROW_HEIGHT = 26;
/** Pixels of configuration label shown before it is cut short. */
const LABEL_LIMIT = 360;

/** One point of a configuration's mean test-accuracy curve. */
export interface CurvePoint {
  id: string;
  label: string;
  step: number;
  mean: number;
  std: number;
  /** Seeds evaluated at this step. */
  n: number;
}

/**
 * Mean test accuracy per evaluation step over the runs (seeds) of each configuration (validation
 * evaluations left out). A run that logged a step twice (killed, then resumed) counts its later
 * value; a step only some seeds reached is averaged over those (`n` says how many).
 */
export function meanCurves(configs: readonly { id: string; label: string }[], runEvents: ReadonlyMap<string, readonly TrainEvent[][]>): CurvePoint[] {
  const out: CurvePoint[] = [];
  for (const c of configs) {
    const byStep = new Map<number, number[]>();
    for (const events of runEvents.get(c.id) ?? []) {
      const last = new Map<number, number>();
      for (const e of events) if (isTestEval(e) && Number.isFinite(e.testAccuracy)) last.set(e.step, e.testAccuracy);
      for (const [step, acc] of last) byStep.set(step, [...(byStep.get(step) ?? []), acc]);
    }
    for (const step of [...byStep.keys()].sort((a, b) => a - b)) {
      const s = meanStd(byStep.get(step)!);
      out.push({ id: c.id, label: c.label, step, mean: s.mean, std: s.std, n: s.n });
    }
  }
  return out;
}

/** Test accuracy by configuration, mean ± std over seeds, as a dot plot with error bars. */
export function accuracySpec(rows: readonly ConfigResult[]): vl.TopLevelSpec {
  const values = rows.map((r) => ({
    label: r.label,
    mean: r.testAccuracy.mean,
    lo: r.testAccuracy.mean - r.testAccuracy.std,
    hi: r.testAccuracy.mean + r.testAccuracy.std,
    runs: r.runs,
  }));
  const y = { field: 'label', type: 'nominal', sort: rows.map((r) => r.label), title: null, axis: { labelLimit: LABEL_LIMIT } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Test accuracy by configuration (mean ± std over seeds)',
    width: WIDTH,
    height: Math.max(1, rows.length) * ROW_HEIGHT,
    background: 'white',
    data: { values },
    layer: [
      {
        mark: { type: 'rule' },
        encoding: { y, x: { field: 'lo', type: 'quantitative', scale: { zero: false }, title: 'test accuracy' }, x2: { field: 'hi' } },
      },
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: { y, x: { field: 'mean', type: 'quantitative' }, tooltip: [{ field: 'mean' }, { field: 'runs' }] },
      },
      {
        mark: { type: 'text', align: 'left', dx: 8, dy: -8, fontSize: 10 },
        encoding: { y, x: { field: 'mean', type: 'quantitative' }, text: { field: 'mean', type: 'quantitative', format: '.2%' } },
      },
    ],
  } as vl.TopLevelSpec;
}

/** Mean test-accuracy curves per configuration, with a ± std band. */
export function curvesSpec(points: readonly CurvePoint[], order: readonly string[]): vl.TopLevelSpec {
  const values = points.map((p) => ({ ...p, lo: p.mean - p.std, hi: p.mean + p.std }));
  const color = { field: 'label', type: 'nominal', sort: order, title: null, legend: { labelLimit: LABEL_LIMIT } };
  const x = { field: 'step', type: 'quantitative', title: 'step' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Test accuracy during training (mean over seeds, band ± std)',
    width: WIDTH,
    height: 300,
    background: 'white',
    data: { values },
    layer: [
      { mark: { type: 'errorband', opacity: 0.15 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'test accuracy' }, y2: { field: 'hi' }, color } },
      {
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'mean', type: 'quantitative', scale: { zero: false }, title: 'test accuracy' }, color },
      },
    ],
  } as vl.TopLevelSpec;
}

/**
 * Write `accuracy.png` (when some configuration has results) and `curves.png` (when some run logged
 * an evaluation) into `dir`. Returns the files written, with their titles.
 */
export async function writeSweepPlots(dir: string, rows: readonly ConfigResult[], curves: readonly CurvePoint[]): Promise<{ file: string; title: string }[]> {
  const written: { file: string; title: string }[] = [];
  if (rows.length) {
    await writeFile(join(dir, 'accuracy.png'), await renderPng(accuracySpec(rows)));
    written.push({ file: 'accuracy.png', title: 'Test accuracy by configuration' });
  }
  if (curves.length) {
    const order = [...new Set(curves.map((c) => c.label))];
    await writeFile(join(dir, 'curves.png'), await renderPng(curvesSpec(curves, order)));
    written.push({ file: 'curves.png', title: 'Test accuracy during training' });
  }
  return written;
}
