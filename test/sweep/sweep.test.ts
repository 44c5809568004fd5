import t from 'tap';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandGrid, toArgv, type Grid } from '../../src/sweep/grid.js';
import { aggregate, compare, meanStd, resultsTable } from '../../src/sweep/aggregate.js';
import { runSweep } from '../../src/sweep/run.js';

const grid: Grid = {
  name: 'toy',
  description: 'two configurations',
  pipeline: 'default',
  base: { epochs: 2, batch: 32, lr: 0.01 },
  configs: [
    { id: 'euclidean', label: 'Euclidean SGD', args: { optimizer: 'sgd' } },
    { id: 'pio-sp', label: 'PIO Sp', args: { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp', lr: 0.02 } },
  ],
};

t.test('a grid expands to configurations × seeds with the shared budget', async (t) => {
  const runs = expandGrid(grid, 3);
  t.same(runs.map((r) => r.id), ['euclidean/seed-1', 'euclidean/seed-2', 'euclidean/seed-3', 'pio-sp/seed-1', 'pio-sp/seed-2', 'pio-sp/seed-3']);
  t.same(runs[4]!.argv, ['train', 'default', '--batch', '32', '--epochs', '2', '--grouping', 'PIO', '--lr', '0.02', '--manifolds', 'Sp', '--optimizer', 'fgsgd', '--seed', '2', '--workers', '1']);
  t.same(
    expandGrid({ ...grid, base: { ...grid.base, workers: 2 }, configs: [{ ...grid.configs[0]!, args: { ...grid.configs[0]!.args, workers: 'auto' } }, grid.configs[1]!] }, 1).map((r) => r.argv.slice(-2)),
    [['--workers', 'auto'], ['--workers', '2']],
    'a run is one replica unless the grid (its base or a configuration) says otherwise',
  );
  t.same(toArgv({ strict: true, quiet: false, b: 1 }), ['--b', '1', '--strict']);
  t.throws(() => expandGrid({ ...grid, configs: [grid.configs[0]!, grid.configs[0]!] }, 1), /appears twice/);
  t.throws(() => expandGrid({ ...grid, base: { seed: 3 } }, 1), /'seed' is set by the sweep/);
  t.throws(() => expandGrid(grid, 0), /--seeds must be a positive integer/);
});

t.test("a configuration's own seeds override the sweep's", async (t) => {
  const five: Grid = { ...grid, configs: [{ ...grid.configs[0]!, seeds: 5 }, grid.configs[1]!] };
  const runs = expandGrid(five, 3, 2);
  t.same(runs.filter((r) => r.config.id === 'euclidean').map((r) => r.seed), [2, 3, 4, 5, 6], 'the baseline: 5 seeds from the first');
  t.same(runs.filter((r) => r.config.id === 'pio-sp').map((r) => r.seed), [2, 3, 4], "the others: the sweep's 3");
  t.same(runs[4]!.argv.slice(-4), ['--seed', '6', '--workers', '1']);
  t.same(expandGrid({ ...grid, configs: [grid.configs[0]!, { ...grid.configs[1]!, seeds: 1 }] }, 2).map((r) => r.id), ['euclidean/seed-1', 'euclidean/seed-2', 'pio-sp/seed-1']);
  for (const bad of [0, 1.5]) {
    t.throws(() => expandGrid({ ...grid, configs: [{ ...grid.configs[0]!, seeds: bad }] }, 2), /configuration 'euclidean' has seeds .*positive integer/);
  }
});

t.test('aggregation: validation accuracy, dead first-layer channels, epoch time against the baseline', async (t) => {
  const run = (acc: number, wallSeconds: number, extra: Record<string, unknown> = {}) => ({ testAccuracy: acc, testLoss: 0.4, epochs: 2, steps: 4, wallSeconds, ...extra });
  const dead = (n: number) => ({ deadChannels: { layer: 'conv1', dead: n, channels: 32 } });
  const rows = aggregate(grid.configs, new Map([
    ['euclidean', [run(0.9, 10, { validationAccuracy: 0.8, ...dead(1) }), run(0.92, 14, { validationAccuracy: 0.9, ...dead(3) })]],
    ['pio-sp', [run(0.88, 30, { validationAccuracy: null, ...dead(0) }), run(0.86, 42, { validationAccuracy: 0.7, deadChannels: null })]],
  ]));
  t.ok(Math.abs(rows[0]!.validationAccuracy!.mean - 0.85) < 1e-12, 'mean validation accuracy');
  t.equal(rows[1]!.validationAccuracy, null, 'not every run has one: none');
  t.same(rows[0]!.deadChannels, { mean: 2, std: Math.sqrt(2), n: 2, channels: 32 });
  t.equal(rows[1]!.deadChannels, null);
  t.equal(rows[0]!.epochTimeRatio, 1, 'the baseline against itself');
  t.ok(Math.abs(rows[1]!.epochTimeRatio! - 3) < 1e-12, '18 s / epoch against 6');
  const table = resultsTable(rows, 'euclidean');
  t.match(table, /\| validation accuracy \(%\) \| dead first-layer channels \| epoch time vs\. baseline \|$/m);
  t.match(table, /\| Euclidean SGD \(`euclidean`\) \|.*\| 85\.00 ± 7\.07 \| 2\.0 ± 1\.4 of 32 \| 1\.00× \|$/m);
  t.match(table, /\| PIO Sp \(`pio-sp`\) \|.*\| n\/a \| n\/a \| 3\.00× \|$/m);
  const noBase = aggregate(grid.configs, new Map([['pio-sp', [run(0.88, 30)]]]));
  t.equal(noBase[0]!.epochTimeRatio, null, 'no baseline runs: no ratio');
});

t.test('aggregation: mean and Bessel-corrected standard deviation', async (t) => {
  const s = meanStd([2, 4, 4, 4, 5, 5, 7, 9]);
  t.equal(s.mean, 5);
  t.ok(Math.abs(s.std - Math.sqrt(32 / 7)) < 1e-12, 'sample std = sqrt(32/7)');
  t.same(meanStd([0.9]), { mean: 0.9, std: 0, n: 1 });
  t.throws(() => meanStd([]));
  const rows = aggregate(grid.configs, new Map([['pio-sp', [
    { testAccuracy: 0.8, testLoss: 0.5, epochs: 2, steps: 4, wallSeconds: 10, updateShare: 0.1 },
    { testAccuracy: 0.9, testLoss: 0.3, epochs: 2, steps: 4, wallSeconds: 14 },
  ]]]));
  t.equal(rows.length, 1, 'configurations without runs are left out');
  t.ok(Math.abs(rows[0]!.testAccuracy.mean - 0.85) < 1e-12);
  t.ok(Math.abs(rows[0]!.testAccuracy.std - Math.sqrt(0.005)) < 1e-12);
  t.same(rows[0]!.secondsPerEpoch, { mean: 6, std: Math.sqrt(2), n: 2 });
  t.equal(rows[0]!.updateShare, null, 'a field missing from one run is not averaged');
  t.match(resultsTable(rows, 'euclidean'), /\| PIO Sp \(`pio-sp`\) \| 2 \| 85\.00 ± 7\.07 \| 15\.00 ± 7\.07 \| 80\.00, 90\.00 \| n\/a \|/);
  const one = aggregate(grid.configs, new Map([['euclidean', [{ testAccuracy: 0.9, testLoss: 0.3, epochs: 1, steps: 1 }]]]));
  t.match(resultsTable(one, 'euclidean'), /\| 1 \| 90\.00 \| 10\.00 \| 90\.00 \| baseline \| 0\.3000 \|/, 'one run: the mean alone, no "± 0"');
  t.throws(
    () => aggregate(grid.configs, new Map([['pio-sp', [{ testAccuracy: null as unknown as number, testLoss: 1, epochs: 1, steps: 1, seed: 4 }]]])),
    /configuration 'pio-sp', run 4: testAccuracy is null/,
    'a run without a test accuracy is an error, not a 0',
  );
});

t.test("aggregation: Welch's t-test against the baseline matches scipy", async (t) => {
  // Reference: scipy 1.17 stats.ttest_ind(a, b, equal_var=False) and its confidence_interval(0.95).
  const close = (x: number, y: number, tol: number, what: string) => t.ok(Math.abs(x - y) < tol, `${what}: ${x} vs ${y}`);
  const a = [0.8712, 0.877, 0.8736];
  const b = [0.9006, 0.8957, 0.9063];
  const c = compare(a, b, 'euclidean')!;
  t.equal(c.baseline, 'euclidean');
  close(c.difference, (a[0]! + a[1]! + a[2]! - b[0]! - b[1]! - b[2]!) / 3, 1e-12, 'difference of means');
  close(c.pValue, 0.0040109807840043605, 1e-6, 'p-value');
  close(c.df, 3.1063881424521504, 1e-9, 'Welch–Satterthwaite df');
  close(c.ci95[0], -0.03784230575183149, 1e-6, 'CI low');
  close(c.ci95[1], -0.01602436091483501, 1e-6, 'CI high');
  const d = compare([0.81, 0.84], [0.8, 0.86, 0.83], 'b')!;
  close(d.pValue, 0.8417900355575492, 1e-6, 'p-value, unequal sizes');
  close(d.df, 2.8823529411764723, 1e-9, 'df, unequal sizes');
  close(d.ci95[0], -0.07963201394616143, 1e-6, 'CI low, unequal sizes');
  t.equal(compare([0.9], b, 'b'), null, 'one run: no test');
  t.equal(compare([0.9, 0.9], [0.8, 0.8], 'b'), null, 'no spread on either side: no test');
  const rows = aggregate(grid.configs, new Map([['euclidean', b.map((x) => ({ testAccuracy: x, testLoss: 1, epochs: 1, steps: 1 }))], ['pio-sp', a.map((x) => ({ testAccuracy: x, testLoss: 1, epochs: 1, steps: 1 }))]]));
  t.equal(rows[0]!.vsBaseline, null, 'the baseline is not compared with itself');
  close(rows[1]!.vsBaseline!.pValue, 0.0040109807840043605, 1e-6, 'aggregate compares each row with the first configuration');
  t.match(resultsTable(rows), /PIO Sp \(`pio-sp`\) \| 3 \| 87\.39 ± 0\.29 \| 12\.61 ± 0\.29 \| 87\.12, 87\.70, 87\.36 \| −2\.69 \[−3\.78, −1\.60\], p = 0\.004 \|/);
  const other = aggregate(grid.configs, new Map([['euclidean', b.map((x) => ({ testAccuracy: x, testLoss: 1, epochs: 1, steps: 1 }))], ['pio-sp', a.map((x) => ({ testAccuracy: x, testLoss: 1, epochs: 1, steps: 1 }))]]), 'pio-sp');
  t.equal(other[1]!.vsBaseline, null, 'a named baseline');
  close(other[0]!.vsBaseline!.difference, -c.difference, 1e-12, 'compared the other way round');
  t.throws(() => expandGrid({ ...grid, baseline: 'nope' }, 1), /baseline 'nope' is not one of its configurations/);
});

t.test('an interrupted sweep resumes, skipping finished runs and rerunning failed ones', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'sweep-'));
  const logFile = join(out, 'calls.log');
  const command = [process.execPath, fileURLToPath(new URL('./fake_trainer.mjs', import.meta.url))];
  process.env.FAKE_LOG = logFile;
  process.env.FAKE_FAIL_ID = 'PIO';
  const first = await runSweep({ grid, seeds: 2, out, parallel: 2, command });
  t.same(first.ran.sort(), ['euclidean/seed-1', 'euclidean/seed-2']);
  t.same(first.failed.map((f) => f.id).sort(), ['pio-sp/seed-1', 'pio-sp/seed-2']);
  delete process.env.FAKE_FAIL_ID;
  // One of the failed runs left a checkpoint (as a run killed mid-way does): it is resumed.
  await writeFile(join(out, 'runs', 'pio-sp', 'seed-2', 'checkpoint.ckpt'), 'a checkpoint');
  const second = await runSweep({ grid, seeds: 2, out, parallel: 2, command });
  t.same(second.skipped.sort(), ['euclidean/seed-1', 'euclidean/seed-2'], 'finished runs are skipped');
  t.same(second.ran.sort(), ['pio-sp/seed-1', 'pio-sp/seed-2'], 'failed runs run again');
  const calls = (await readFile(logFile, 'utf8')).trim().split('\n');
  t.equal(calls.length, 6, '4 + 2 trainer processes in all');
  const again = calls.slice(4);
  t.ok(again.some((c) => c.includes('--seed 2') && c.includes(`--resume ${join(out, 'runs', 'pio-sp', 'seed-2')}`)), 'the run with a checkpoint continues from it (--resume)');
  t.ok(again.some((c) => c.includes('--seed 1') && !c.includes('--resume')), 'the one without starts afresh');
  const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
  t.equal(results.results.length, 2);
  const pio = results.results.find((r: { id: string }) => r.id === 'pio-sp');
  t.ok(Math.abs(pio.testAccuracy.mean - 0.215) < 1e-12, 'mean of 0.21 and 0.22');
  t.match(await readFile(join(out, 'results.md'), 'utf8'), /Euclidean SGD \(`euclidean`\) \| 2 \|/);
});

t.test('a run that wrote the summary of an interrupted run is not finished: the next sweep runs it again', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'sweep-'));
  const logFile = join(out, 'calls.log');
  const command = [process.execPath, fileURLToPath(new URL('./fake_trainer.mjs', import.meta.url))];
  process.env.FAKE_LOG = logFile;
  process.env.FAKE_INTERRUPT_ID = 'PIO';
  process.env.FAKE_COMMIT = 'abcdef1234567890';
  t.teardown(() => {
    delete process.env.FAKE_INTERRUPT_ID;
    delete process.env.FAKE_COMMIT;
  });
  const first = await runSweep({ grid, seeds: 1, out, parallel: 1, command });
  t.same(first.ran, ['euclidean/seed-1']);
  t.same(first.failed.map((f) => [f.id, f.code]), [['pio-sp/seed-1', 130]]);
  t.equal(first.results.length, 1, 'the interrupted run is not aggregated');
  delete process.env.FAKE_INTERRUPT_ID;
  const second = await runSweep({ grid, seeds: 1, out, parallel: 1, command });
  t.same(second.skipped, ['euclidean/seed-1']);
  t.same(second.ran, ['pio-sp/seed-1'], 'rerun, although its folder held a summary.json');
  const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
  t.same(results.trainedAt, { commits: [['abcdef123456', 2]], unrecorded: 0 });
  t.match(await readFile(join(out, 'results.md'), 'utf8'), /\| commit \(training runs\) \| `abcdef123456` \(2 runs\) \|/);
});

t.test('--first-seed: seeds S..S+N-1 under their own folders; the command line, machine and plots are recorded', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'sweep-'));
  const command = [process.execPath, fileURLToPath(new URL('./fake_trainer.mjs', import.meta.url))];
  process.env.FAKE_LOG = join(out, 'calls.log');
  const r = await runSweep({ grid, seeds: 2, firstSeed: 5, out, parallel: 2, command, commandLine: 'fgsgd sweep toy --seeds 2 --first-seed 5' });
  t.same(r.ran.sort(), ['euclidean/seed-5', 'euclidean/seed-6', 'pio-sp/seed-5', 'pio-sp/seed-6']);
  const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
  t.match(results, { firstSeed: 5, command: 'fgsgd sweep toy --seeds 2 --first-seed 5', machine: { cores: Number }, plots: ['accuracy.png'] });
  t.same(results.runs.map((x: { seed: number }) => x.seed), [5, 6, 5, 6]);
  const md = await readFile(join(out, 'results.md'), 'utf8');
  t.match(md, /seed\(s\) per configuration \(5\.\.6\)/);
  t.match(md, /!\[Test accuracy by configuration\]\(accuracy\.png\)/);
  t.notMatch(md, /curves\.png/, 'no curves without metrics.jsonl');
});

t.test('per-configuration seeds: runs, results.json and results.md', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'sweep-'));
  const command = [process.execPath, fileURLToPath(new URL('./fake_trainer.mjs', import.meta.url))];
  process.env.FAKE_LOG = join(out, 'calls.log');
  const r = await runSweep({ grid: { ...grid, configs: [{ ...grid.configs[0]!, seeds: 3 }, grid.configs[1]!] }, seeds: 2, out, parallel: 2, command });
  t.same(r.results.map((x) => x.runs), [3, 2]);
  const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
  t.same(results.seedsByConfig, { euclidean: 3, 'pio-sp': 2 });
  t.match(results.results[1], { epochTimeRatio: Number, validationAccuracy: null, deadChannels: null });
  t.match(await readFile(join(out, 'results.md'), 'utf8'), /2 seed\(s\) per configuration \(1\.\.2\) except `euclidean`: 3 seed\(s\) \(1\.\.3\)/);
});

t.test('each run\'s accuracy is listed in seed order, whatever order the runs finish in', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'sweep-'));
  const command = [process.execPath, fileURLToPath(new URL('./fake_trainer.mjs', import.meta.url))];
  process.env.FAKE_LOG = join(out, 'calls.log');
  process.env.FAKE_REVERSE_OF = '3';
  t.teardown(() => delete process.env.FAKE_REVERSE_OF);
  const r = await runSweep({ grid: { ...grid, configs: [grid.configs[0]!] }, seeds: 3, out, parallel: 3, command });
  t.same(r.ran, ['euclidean/seed-3', 'euclidean/seed-2', 'euclidean/seed-1'], 'they finished in reverse seed order');
  // The fake's accuracy is lr·10 + seed/100 = 0.1 + seed/100.
  t.same(r.results[0]!.accuracies.map((a) => Math.round(a * 100)), [11, 12, 13]);
  t.match(await readFile(join(out, 'results.md'), 'utf8'), /\| 11\.00, 12\.00, 13\.00 \|/);
});
