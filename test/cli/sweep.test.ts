/**
 * `fgsgd sweep` as users run it (node bin/fgsgd.js): a tiny grid file end to end (2 configurations
 * × 2 seeds of the tiny test pipeline, 2 steps each) with its results and plots, resume, failed
 * runs, unknown grids; and the validation of the train options that grids use.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { main, parseSweepArgs, parseTrainArgs } from '../../src/cli.js';
import { expandGrid } from '../../src/sweep/grid.js';
import { GRIDS, paper } from '../../pipelines/grids/paper.js';
import { REGISTRY } from '../../pipelines/index.js';
import { tempDir } from '../helpers/tmp.js';
import { timeLeftMs } from '../helpers/budget.js';

const BIN = 'bin/fgsgd.js';
/** Runs the CLI; its time limit is what is left of the file's (a loaded machine is slow, not hung). */
const fgsgd = (...args: string[]) => {
  const left = timeLeftMs();
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FGSGD_LOG_LEVEL: 'warn' },
    timeout: left === undefined ? undefined : Math.floor(left),
    killSignal: 'SIGKILL',
  });
};

/** A fresh directory holding `files`. */
async function dirWith(t: Parameters<typeof tempDir>[0], files: Record<string, string> = {}): Promise<string> {
  const dir = tempDir(t);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** A grid file as users write one: a default export typed as a Grid (.mts: the temporary folder is no ES-module package). */
const TINY_GRID = `import type { Grid } from '${process.cwd()}/src/sweep/grid.js';
const grid: Grid = {
  name: 'tiny',
  description: 'Two configurations of the tiny test pipeline, two steps each.',
  pipeline: 'test/train/tiny-pipeline.ts',
  base: { 'max-steps': 2, batch: 8, epochs: 1, backend: 'wasm', lr: 0.05, momentum: 0.9 },
  configs: [
    { id: 'euclidean', label: 'Euclidean SGD', args: { optimizer: 'sgd', 'weight-decay': 0.0005 } },
    { id: 'pio-sp', label: 'PIO Sp', args: { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp', bound: 0.25 } },
  ],
};
export default grid;
`;

t.test('a grid file end to end: results, plots, machine and commit; a second run skips every run', async (t) => {
  const dir = await dirWith(t, { 'grid.mts': TINY_GRID });
  const out = join(dir, 'out');
  const r = fgsgd('sweep', join(dir, 'grid.mts'), '--seeds', '2', '--parallel', '2', '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '');
  t.match(r.stdout, /\[4\/4\] /);
  t.match(r.stdout, /sweep 'tiny': 4 of 4 runs finished \(4 now, 0 before\)/);

  const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
  t.match(results, { grid: 'tiny', seeds: 2, firstSeed: 1, failed: [], plots: ['accuracy.png', 'curves.png'] });
  t.equal(results.command, `fgsgd sweep ${join(dir, 'grid.mts')} --seeds 2 --parallel 2 --out ${out}`);
  t.match(results.machine, { cpu: String, cores: Number, node: process.version });
  t.match(results.git.commit, /^[0-9a-f]{40}$/);
  t.same(results.results.map((c: { id: string; runs: number }) => [c.id, c.runs]), [['euclidean', 2], ['pio-sp', 2]]);
  for (const c of results.results) {
    t.ok(c.testAccuracy.mean >= 0 && c.testAccuracy.mean <= 1, `${c.id}: accuracy`);
    t.ok(c.updateShare.mean > 0 && c.updateShare.mean < 1, `${c.id}: update share ${c.updateShare.mean}`);
    t.ok(c.secondsPerEpoch.mean > 0, `${c.id}: wall time`);
  }
  const summary = JSON.parse(await readFile(join(out, 'runs/pio-sp/seed-2/summary.json'), 'utf8'));
  t.match(summary, { steps: 2, seed: 2, optimizer: /^fgsgd PIO Sp lr=0\.05/, wallSeconds: Number, updateShare: Number });

  const md = await readFile(join(out, 'results.md'), 'utf8');
  t.match(md, /\| Euclidean SGD \(`euclidean`\) \| 2 \|/);
  t.match(md, /!\[Test accuracy by configuration\]\(accuracy\.png\)/);
  t.match(md, /!\[Test accuracy during training\]\(curves\.png\)/);
  t.match(md, /\| machine \| .+, \d+ cores/);
  t.match(md, /\| commit \(this table\) \| `[0-9a-f]{12}/);
  t.match(md, /\| commit \(training runs\) \| `[0-9a-f]{12}[^`]*` \(4 runs\) \|/, 'every run recorded the code that trained it');
  t.same(results.trainedAt.commits.map((c: [string, number]) => [c[0].slice(0, 12), c[1]]), [[results.git.commit.slice(0, 12), 4]]);
  t.match(md, /\| command \| `fgsgd sweep /);
  for (const png of ['accuracy.png', 'curves.png']) {
    const meta = await sharp(join(out, png)).metadata();
    t.equal(meta.format, 'png', png);
    t.ok(meta.width! > 300 && meta.height! > 100, `${png} is ${meta.width}×${meta.height}`);
  }

  const stamp = statSync(join(out, 'runs/euclidean/seed-1/summary.json')).mtimeMs;
  const again = fgsgd('sweep', join(dir, 'grid.mts'), '--seeds', '2', '--parallel', '2', '--out', out);
  t.equal(again.status, 0, again.stderr);
  t.match(again.stdout, /sweep 'tiny': 4 of 4 runs finished \(0 now, 4 before\)/);
  t.notMatch(again.stdout, /\[\d+\/\d+\]/, 'no run started');
  t.equal(statSync(join(out, 'runs/euclidean/seed-1/summary.json')).mtimeMs, stamp, 'finished runs are left alone');
});

t.test('a failed run: exit 1, one line naming the run and its stderr.log; results still written', async (t) => {
  const dir = await dirWith(t, {
    'grid.mjs': `export const grid = { name: 'broken', pipeline: 'test/no-such-pipeline.ts', base: { 'max-steps': 1 }, configs: [{ id: 'only', args: {} }] };\n`,
  });
  const out = join(dir, 'out');
  const r = fgsgd('sweep', join(dir, 'grid.mjs'), '--seeds', '1', '--out', out);
  const log = join(out, 'runs/only/seed-1/stderr.log');
  t.equal(r.status, 1);
  t.equal(r.stderr, `fgsgd: 1 of 1 runs failed: only/seed-1 (${log}); run the same command again to retry them\n`);
  t.match(r.stdout, `[1/1] only/seed-1: failed (exit 1; see ${log})`);
  t.match(await readFile(join(out, 'runs/only/seed-1/stderr.log'), 'utf8'), /no-such-pipeline/);
  t.match(await readFile(join(out, 'results.md'), 'utf8'), /Failed runs[^\n]*\n\n- `only\/seed-1`: .*no-such-pipeline.*stderr\.log/, 'the failed run, with its reason and its log');
});

/** `main` in this process, its stderr captured (tap reports on stdout, which is left alone). */
async function mainCapturingStderr(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args, REGISTRY), stderr };
  } finally {
    process.stderr.write = write;
  }
}

t.test('unknown grids, bad grid files and bad sweep options: one line on stderr, no run started', async (t) => {
  const dir = await dirWith(t, {
    'typo.mjs': `export default { name: 'typo', pipeline: 'default', base: { 'weight_decay': 0.1 }, configs: [{ id: 'a', args: {} }] };\n`,
    'empty.mjs': `export const other = 1;\n`,
    'shapeless.mjs': `export const grid = { name: 'x', pipeline: 'default', base: {}, configs: [] };\n`,
  });
  const cases: [string[], number, RegExp][] = [
    [['sweep', 'nope', '--seeds', '1'], 1, /^fgsgd: unknown grid 'nope'; built-in grids: paper, paper-bn, paper-bn-lr, long, long-bn, settings, before, smoke \(or give a grid file\)\n$/],
    [['sweep', join(dir, 'typo.mjs'), '--seeds', '1', '--out', join(dir, 'o')], 1, /^fgsgd: grid 'typo', run a\/seed-1: unknown option '--weight_decay'/],
    [['sweep', join(dir, 'empty.mjs'), '--seeds', '1'], 1, /must export a Grid as its default export or as 'grid'/],
    [['sweep', join(dir, 'shapeless.mjs'), '--seeds', '1'], 1, /its grid has no 'configs'/],
    [['sweep', join(dir, 'missing.ts'), '--seeds', '1'], 1, /cannot load grid file .*missing\.ts/],
    [['sweep', 'smoke', '--seeds', '1', '--data', join(dir, 'none')], 1, /--data .*none does not exist/],
    [['sweep', 'paper'], 2, /^fgsgd: missing --seeds N/],
    [['sweep', 'paper', '--seeds', '0'], 2, /--seeds must be a positive integer/],
    [['sweep', 'paper', '--seeds', '2', '--parallel', 'two'], 2, /--parallel must be a positive integer, got 'two'/],
    [['sweep', 'paper', '--seeds', '2', '--first-seed', '1.5'], 2, /--first-seed must be an integer/],
    [['sweep', 'paper', '--seeds', '2', '--epochs', '3'], 2, /unknown option '--epochs'/],
  ];
  for (const [args, code, reason] of cases) {
    const r = await mainCapturingStderr(args);
    t.equal(r.code, code, args.join(' '));
    t.match(r.stderr, reason, args.join(' '));
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  t.notOk(existsSync(join(dir, 'o')), 'nothing ran for the grid with a typo');
  // The same through the command itself: exit code and stderr.
  const r = fgsgd('sweep', 'nope', '--seeds', '1');
  t.equal(r.status, 1);
  t.equal(r.stderr, "fgsgd: unknown grid 'nope'; built-in grids: paper, paper-bn, paper-bn-lr, long, long-bn, settings, before, smoke (or give a grid file)\n");
  const help = fgsgd('sweep', '--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /usage: fgsgd sweep <grid name or file> --seeds N/);
});

t.test('train options: --model, --schedule, --weight-decay, --bound, --lr, --momentum, FG-SGD settings', async (t) => {
  const { options } = parseTrainArgs(['train', 'default', '--model', 'resnet20', '--schedule', 'step', '--weight-decay', '5e-4', '--bound', '0.25', '--lr', '0.2', '--momentum', '0.8']);
  t.match(options, { pipeline: 'default', model: 'resnet20', schedule: 'step', weightDecay: 5e-4, bound: 0.25, lr: 0.2, momentum: 0.8 });
  t.match(parseTrainArgs(['train', 'default', '--weight-decay', '0']).options, { weightDecay: 0 });
  t.equal(parseTrainArgs(['train', 'default', '--workers', '3']).options.workers, 3);
  t.equal(parseTrainArgs(['train', 'default', '--workers', 'auto']).options.workers, 'auto', "--workers auto: resolved by the session, which records the number");
  t.equal(parseTrainArgs(['train', 'default']).options.workers, undefined, "not given: a fresh run gets 'auto', a resumed one keeps its number");
  t.match(
    parseTrainArgs(['train', 'default', '--radius', 'data:3', '--radius-layer', 'conv1=1.41,conv2=init', '--radius-layer', 'fc=bound:2', '--step-rule', 'adaptive', '--group-size', '4', '--lambda-floor', '1e-3', '--lambda-every', '5']).options,
    { radius: 'data:3', radiusLayers: { conv1: '1.41', conv2: 'init', fc: 'bound:2' }, stepRule: 'adaptive', groupSize: 4, lambdaFloor: 1e-3, lambdaEvery: 5 },
    'FG-SGD settings; --radius-layer repeats or takes a comma-separated list',
  );
  for (const [args, reason] of [
    [['--model', 'vgg16'], /--model must be one of cnn-small, cnn-small-bn, resnet20, resnet44, resnet110, wrn-16-4, got 'vgg16'/],
    [['--schedule', 'linear'], /--schedule must be one of constant, step, cosine, robbins-monro, got 'linear'/],
    [['--weight-decay=-1'], /--weight-decay must be a number ≥ 0, got '-1'/],
    [['--weight-decay', 'lots'], /--weight-decay must be a number ≥ 0/],
    [['--bound', '0'], /--bound must be a positive number, got '0'/],
    [['--bound', ''], /--bound must be a positive number/],
    [['--lr', '0'], /--lr must be a positive number/],
    [['--momentum', '1'], /--momentum must be a number in \[0, 1\)/],
    [['--radius', 'huge'], /--radius: unknown radius policy 'huge'; use 'init', 'data'/],
    [['--radius', 'data:1'], /--radius: unknown radius policy 'data:1'/],
    [['--radius', 'bound:-2'], /--radius: unknown radius policy 'bound:-2'/],
    [['--radius', 'init', '--bound', '0.5'], /--bound B is --radius bound:B; give one of them/],
    [['--radius-layer', 'conv1'], /--radius-layer: expected LAYER=POLICY \(e.g. conv1=1.41 or conv1=data\), got 'conv1'/],
    [['--radius-layer', 'conv1=0'], /--radius-layer conv1: unknown radius policy '0'/],
    [['--step-rule', 'newton'], /--step-rule must be one of adaptive, adaptive-stored, fixed, got 'newton'/],
    [['--group-size', '0'], /--group-size must be a positive integer/],
    [['--workers', 'all'], /--workers must be a positive integer or 'auto', got 'all'/],
    [['--lambda-floor', '0'], /--lambda-floor must be a positive number/],
    [['--lambda-every', '1.5'], /--lambda-every must be a positive integer/],
  ] as const) {
    t.throws(() => parseTrainArgs(['train', 'default', ...args]), reason, args.join(' '));
  }
  const r = await mainCapturingStderr(['train', 'default', '--model', 'vgg16']);
  t.equal(r.code, 2);
  t.match(r.stderr, /^fgsgd: --model must be one of cnn-small, .*got 'vgg16'\n$/);
  const help = fgsgd('--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /--schedule NAME .*constant\|step\|cosine\|robbins-monro[\s\S]*fgsgd sweep <grid name or file> --seeds N/);
});

t.test('sweep arguments', async (t) => {
  t.same(parseSweepArgs(['sweep', 'paper', '--seeds', '3', '--parallel', '2', '--data', 'd', '--out', 'o', '--first-seed', '4']).options, {
    grid: 'paper', seeds: 3, parallel: 2, data: 'd', out: 'o', firstSeed: 4,
  });
  t.throws(() => parseSweepArgs(['sweep', '--seeds', '3']), /missing grid name or file/);
  t.throws(() => parseSweepArgs(['sweep', 'paper', 'extra', '--seeds', '3']), /unexpected argument 'extra'/);
});

t.test('every run of the built-in grids is a valid `fgsgd train` command', async (t) => {
  for (const grid of GRIDS) {
    for (const run of expandGrid(grid, 3)) {
      t.doesNotThrow(() => parseTrainArgs(run.argv), `${grid.name} ${run.id}: ${run.argv.join(' ')}`);
    }
  }
  t.same(paper.configs.map((c) => c.id), ['euclidean', 'pio-sp', 'pio-ob', 'pio-st', 'pi-sp+ob+st', 'po-sp+ob+st', 'pio-sp+ob+st', 'pio-sp+ob+st+euc']);
  t.match(paper.configs[0]!.args, { optimizer: 'sgd' });
  t.equal(paper.configs[0]!.seeds, 5, 'the baseline runs 5 seeds');
  for (const c of paper.configs) {
    for (const k of ['epochs', 'max-steps', 'batch', 'lr', 'schedule', 'momentum']) t.notOk(k in c.args, `${c.id} shares the budget (${k})`);
  }
  // Weight-decay parity: the baseline's weight decay is in the shared budget, so FG-SGD's
  // Euclidean parameters get it too; settings are chosen on a validation split.
  t.match(paper.base, { model: 'cnn-small', batch: 64, lr: 0.1, schedule: 'cosine', momentum: 0.9, 'weight-decay': 5e-4, validation: 5000 });
  t.notOk('bound' in paper.base, 'FG-SGD radius: its default policy (init)');
});
