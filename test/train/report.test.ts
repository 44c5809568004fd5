/** The end-of-run report: rows from metrics.jsonl (a killed run's cut line, replayed steps), PNG plots. */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { boundOf, chartRows, readMetrics, writeReport } from '../../src/report.js';
import type { TrainEvent } from '../../src/events.js';
import { tempDir } from '../helpers/tmp.js';

const batchEnd = (step: number, loss: number, lr = 0.1): TrainEvent => ({
  type: 'batchEnd', epoch: 0, step, sampleIndex: step * 8, loss, accuracy: 0.5, lr, images: 8, stallMs: 0, stepMs: 1,
});

t.test('rows: a step logged twice (killed after its checkpoint, then resumed) keeps its later value', async (t) => {
  const rows = chartRows([batchEnd(1, 2), batchEnd(2, 9), batchEnd(2, 1), batchEnd(3, 1, 0.05)]);
  t.same(rows.lr.map((r) => [r.step, r.value]), [[1, 0.1], [2, 0.1], [3, 0.05]]);
  t.same(rows.loss.map((r) => r.value), [2, 1.5, 4 / 3], 'trailing mean of 2, 1, 1');
});

t.test('readMetrics skips a line cut by a kill; writeReport draws PNGs and the markdown', async (t) => {
  const dir = tempDir(t);
  const events: TrainEvent[] = [
    batchEnd(1, 2),
    batchEnd(2, 1),
    { type: 'evalEnd', epoch: 0, step: 2, testLoss: 1.2, testAccuracy: 0.6, images: 10, ms: 1 },
    { type: 'renormalized', epoch: 0, step: 2, maxNormByGroupKind: { Sp: { frobenius: 1, spectral: 0.9 } } },
  ];
  await writeFile(`${dir}/metrics.jsonl`, events.map((e) => JSON.stringify({ level: 30, time: 1, ...e })).join('\n') + '\n{"level":30,"ty');
  t.equal((await readMetrics(`${dir}/metrics.jsonl`)).length, 4);
  await writeFile(`${dir}/summary.json`, JSON.stringify({ testAccuracy: 0.6, reason: 'completed', message: 'done', maxNormByGroupKind: { Sp: { frobenius: 1, spectral: 0.9 } } }));
  const path = await writeReport(dir);
  const md = await readFile(path, 'utf8');
  t.match(md, /\| testAccuracy \| 0\.6000 \|/);
  t.match(md, /!\[Largest kernel norms per manifold type\]\(norms\.png\)/);
  t.match(md, /\| Sp \| 1\.0000 \| 0\.9000 \|/);
  for (const png of ['loss', 'accuracy', 'lr', 'norms']) {
    const bytes = await readFile(`${dir}/${png}.png`);
    t.same([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], `${png}.png is a PNG`);
  }
});

t.test('the norms plot draws the bound B of the radius policy in use at the end', async (t) => {
  const start = (optimizer: string) => ({ type: 'fitStart', optimizer }) as unknown as TrainEvent;
  const swap = (to: string) => ({ type: 'optimizerSwapped', step: 5, from: '', to }) as unknown as TrainEvent;
  t.equal(boundOf([start('fgsgd PIO Sp lr=0.1 momentum=0.9 radius=bound:0.25 step=fixed')]), 0.25);
  t.equal(boundOf([start('fgsgd PIO Sp lr=0.1 momentum=0.9 radius=init step=fixed')]), undefined, 'init: no single bound');
  t.equal(boundOf([start('sgd lr=0.1 momentum=0.9'), swap('fgsgd PIO Sp lr=0.1 momentum=0.9 radius=bound:2,conv1=1.41 step=fixed')]), 2, 'after a swap: the new one');
});
