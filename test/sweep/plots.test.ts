/**
 * The sweep's plots: the mean curves over seeds, and the charts rendered as PNG through the
 * report's renderer.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { meanCurves, writeSweepPlots } from '../../src/sweep/plots.js';
import { aggregate } from '../../src/sweep/aggregate.js';
import type { TrainEvent } from '../../src/events.js';
import { tempDir } from '../helpers/tmp.js';

const evalAt = (step: number, testAccuracy: number): TrainEvent => ({ type: 'evalEnd', epoch: 0, step, testLoss: 1, testAccuracy, images: 10, ms: 1 });
const configs = [{ id: 'a', label: 'A' }, { id: 'b', label: 'B' }];

t.test('mean curves: per configuration and step, over the seeds that reached it; a resumed step keeps its later value', async (t) => {
  const curves = meanCurves(configs, new Map([
    ['a', [[evalAt(10, 0.5), evalAt(20, 0.7)], [evalAt(10, 0.6), evalAt(20, 0.1), evalAt(20, 0.9)]]],
    ['b', [[evalAt(10, 0.4)]]],
  ]));
  t.match(curves, [
    { id: 'a', label: 'A', step: 10, n: 2 },
    { id: 'a', step: 20, n: 2 },
    { id: 'b', step: 10, mean: 0.4, std: 0, n: 1 },
  ]);
  t.ok(Math.abs(curves[0]!.mean - 0.55) < 1e-12 && Math.abs(curves[1]!.mean - 0.8) < 1e-12);
  t.ok(Math.abs(curves[1]!.std - Math.sqrt(0.02)) < 1e-12);
  t.same(meanCurves(configs, new Map()), []);
});

t.test('accuracy.png and curves.png', async (t) => {
  const dir = tempDir(t);
  const rows = aggregate(configs, new Map([
    ['a', [{ testAccuracy: 0.8, testLoss: 0.5, epochs: 1, steps: 4 }, { testAccuracy: 0.9, testLoss: 0.4, epochs: 1, steps: 4 }]],
    ['b', [{ testAccuracy: 0.85, testLoss: 0.45, epochs: 1, steps: 4 }]],
  ]));
  const curves = meanCurves(configs, new Map([['a', [[evalAt(4, 0.8)], [evalAt(4, 0.9)]]], ['b', [[evalAt(4, 0.85)]]]]));
  const written = await writeSweepPlots(dir, rows, curves);
  t.same(written.map((w) => w.file), ['accuracy.png', 'curves.png']);
  for (const f of ['accuracy.png', 'curves.png']) {
    const meta = await sharp(join(dir, f)).metadata();
    t.equal(meta.format, 'png');
    t.ok(meta.width! >= 640, `${f} width ${meta.width}`);
  }
  const none = tempDir(t);
  t.same(await writeSweepPlots(none, [], []), [], 'nothing to plot, no files');
  t.notOk(existsSync(join(none, 'accuracy.png')));
});
