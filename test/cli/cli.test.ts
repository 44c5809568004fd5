/**
 * The `fgsgd` command as users run it (node bin/fgsgd.js): usage errors, exit codes, and small
 * end-to-end runs that write metrics.jsonl, summary.json and the report.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { autoWorkers } from '../../src/train/session.js';
import { tempDir } from '../helpers/tmp.js';
import { timeLeftMs } from '../helpers/budget.js';
import { revision } from '../../src/provenance.js';

const BIN = 'bin/fgsgd.js';
/** One test image of 2,000: what another backend's rounding may flip. */
const OTHER_BACKEND_ACCURACY_TOL = 1 / 2000;
/** Runs the CLI; its time limit is what is left of the file's (a loaded machine is slow, not hung). */
const fgsgd = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FGSGD_LOG_LEVEL: 'warn' }, timeout: timeLeftMs(), killSignal: 'SIGKILL' });

/** Every field DESIGN.md's CLI contract requires of summary.json. */
const SUMMARY_FIELDS = ['testAccuracy', 'testLoss', 'epochs', 'steps', 'imagesPerSecond', 'backend', 'skippedSamples', 'maxNormByGroupKind', 'weightsDigest'];

t.test('an unknown option: exit 2 and one line on stderr naming it', async (t) => {
  const r = fgsgd('train', 'default', '--bogus', '3');
  t.equal(r.status, 2);
  t.equal(r.stdout, '');
  t.match(r.stderr, /^fgsgd: unknown option '--bogus'[^\n]*\n$/);
});

t.test('bad values and missing arguments: exit 2 with the reason', async (t) => {
  for (const [args, reason] of [
    [['train', 'default', '--backend', 'gpu'], /--backend must be one of auto, tensorflow-gpu, tensorflow, webgpu, onednn, wasm, cpu, got 'gpu'/],
    [['train', 'default', '--epochs', '0'], /--epochs must be a positive integer/],
    [['train', 'default', '--lr', 'fast'], /--lr must be a positive number/],
    [['train', 'default', '--manifolds', 'Sp+Xy'], /--manifolds/],
    [['train'], /missing pipeline/],
    [['fit', 'default'], /unknown command 'fit'/],
    // A negative number after an option is its value (node's parseArgs alone calls it ambiguous).
    [['train', 'default', '--lr', '-1'], /--lr must be a positive number, got '-1'/],
    [['train', 'default', '--momentum', '-0.5'], /--momentum must be a number in \[0, 1\), got '-0.5'/],
    // Options a pipeline needs or cannot honour are usage errors too.
    [['train', 'fashion-mnist', '--max-steps', '1'], /pipeline 'fashion-mnist': --data must name the directory with the four IDX files/],
    [['train', 'cifar10', '--data', '.', '--validation', '10'], /pipeline 'cifar10' does not support --validation/],
    [['make-shards', '--from', 'data/fashion-mnist-subset'], /missing --from DIR or --out DIR/],
    [['make-shards', '--from', 'x', '--out', 'y', '--per-shard', '0'], /--per-shard must be a positive integer/],
    [['evaluate', 'model', '--data', 'd', 'extra'], /unexpected argument 'extra'/],
  ] as const) {
    const r = fgsgd(...args);
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, reason);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});

t.test('an unknown pipeline or missing data: exit 1 with the reason', async (t) => {
  const dir = tempDir(t);
  const r = fgsgd('train', 'nope', '--out', dir);
  t.equal(r.status, 1);
  t.match(r.stderr, /^fgsgd: unknown pipeline 'nope'; built-in pipelines: default, fashion-mnist, idx, image-folder, cifar10/);
  const d = fgsgd('train', 'fashion-mnist', '--data', `${dir}/none`, '--out', dir);
  t.equal(d.status, 1);
  t.match(d.stderr, /train-images-idx3-ubyte/);
  t.equal(d.stderr.trim().split('\n').length, 1);
});

t.test('no silent clobbering: an unfinished run in --out is refused unless --resume or --overwrite', async (t) => {
  const dir = tempDir(t);
  const first = fgsgd('train', 'test/train/tiny-pipeline.ts', '--max-steps', '2', '--out', dir, '--backend', 'wasm');
  t.equal(first.status, 0, first.stderr);
  // A run that stopped at --max-steps left its checkpoint and a summary that does not say
  // 'completed': starting afresh there would lose it.
  const again = fgsgd('train', 'test/train/tiny-pipeline.ts', '--max-steps', '2', '--out', dir, '--backend', 'wasm');
  t.equal(again.status, 2);
  t.match(again.stderr, /holds the checkpoint of an unfinished run .*continue it with --resume .*or start afresh there with --overwrite/);
  const over = fgsgd('train', 'test/train/tiny-pipeline.ts', '--max-steps', '2', '--out', dir, '--backend', 'wasm', '--overwrite');
  t.equal(over.status, 0, over.stderr);
  const none = fgsgd('train', '--resume', `${dir}/nothing`);
  t.equal(none.status, 2);
  t.match(none.stderr, /--resume .*nothing: no checkpoint at .*; to start a fresh run there, leave out --resume and give --out /);
});

t.test('--help, help, no arguments and --version', async (t) => {
  for (const args of [['--help'], ['help'], []]) {
    const r = fgsgd(...args);
    t.equal(r.status, 0, `fgsgd ${args.join(' ')}`);
    t.match(r.stdout, /usage: fgsgd train <pipeline name or file>/);
    t.match(r.stdout, /fgsgd sweep <grid name or file>/);
  }
  const v = fgsgd('--version');
  t.equal(v.status, 0);
  const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
  t.equal(v.stdout, `fgsgd ${pkg.version}\n`);
});

t.test('a tiny run of a pipeline file writes metrics, summary and report', async (t) => {
  const dir = tempDir(t);
  const r = fgsgd('train', 'test/train/tiny-pipeline.ts', '--max-steps', '5', '--out', dir, '--backend', 'wasm', '--optimizer', 'fgsgd');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^test accuracy: \d\.\d{4} /);
  t.match(r.stdout, /summary\.json, .*report\.md\n$/, 'the final line names summary.json and report.md');
  const summary = JSON.parse(await readFile(`${dir}/summary.json`, 'utf8'));
  for (const f of SUMMARY_FIELDS) t.ok(f in summary, `summary.json has ${f}`);
  t.match(summary, { steps: 5, epochs: 0, backend: 'wasm', skippedSamples: 0, reason: 'maxSteps', testAccuracy: Number, testLoss: Number });
  t.ok(summary.imagesPerSecond > 0);
  t.match(summary.weightsDigest, /^[0-9a-f]{64}$/);
  t.same(Object.keys(summary.maxNormByGroupKind).sort(), ['Euc', 'Ob', 'Sp', 'St']);
  t.same(summary.git, revision(), 'summary.json records the code that ran');
  t.same((await readdir(dir)).filter((f) => f.includes('.tmp')), [], 'written through a temporary file and renamed: none left behind');
  const lines = (await readFile(`${dir}/metrics.jsonl`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.same(lines.filter((l) => l.type === 'batchEnd').map((l) => l.step), [1, 2, 3, 4, 5]);
  t.equal(lines[0].type, 'fitStart');
  t.ok(lines.some((l) => l.type === 'fitEnd'));
  const report = await readFile(`${dir}/report.md`, 'utf8');
  t.match(report, /!\[Loss\]\(loss\.png\)/);
  for (const png of ['loss.png', 'accuracy.png', 'lr.png']) t.ok(existsSync(`${dir}/${png}`), png);
});

t.test('the default pipeline on the embedded data, a few steps', async (t) => {
  const dir = tempDir(t);
  const r = fgsgd('train', 'default', '--max-steps', '3', '--batch', '16', '--out', dir, '--backend', 'wasm');
  t.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(await readFile(`${dir}/summary.json`, 'utf8'));
  for (const f of SUMMARY_FIELDS) t.ok(f in summary, `summary.json has ${f}`);
  t.match(summary, { steps: 3, backend: 'wasm', model: 'cnn-small', optimizer: /^fgsgd PIO Sp\+Ob\+St\+Euc/, testAccuracy: Number });
  t.equal(summary.workers, autoWorkers(16), 'without --workers: one replica per core (up to 2 for a batch of 16)');

  // The trained model leaves the run in TensorFlow.js's format.
  t.equal(summary.modelPath, join(dir, 'model'), 'summary.json names the saved model');
  const model = JSON.parse(await readFile(`${dir}/model/model.json`, 'utf8'));
  t.match(model, { format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'] }] });
  // Loaded by plain @tensorflow/tfjs in a fresh process (pure-JS cpu backend, no code of this
  // project), it gives the accuracy the run reported, up to float rounding on another backend.
  const plain = spawnSync(process.execPath, ['test/cli/plain_tfjs_eval.mjs', `${dir}/model`, 'data/fashion-mnist-subset'], { encoding: 'utf8', timeout: timeLeftMs() });
  t.equal(plain.status, 0, plain.stderr);
  const got = JSON.parse(plain.stdout) as { accuracy: number; loss: number; images: number };
  t.equal(got.images, 2000);
  t.ok(Math.abs(got.accuracy - summary.testAccuracy) <= OTHER_BACKEND_ACCURACY_TOL, `plain tfjs: accuracy ${got.accuracy} vs the run's ${summary.testAccuracy}`);
  t.ok(Math.abs(got.loss - summary.testLoss) <= 1e-3, `plain tfjs: loss ${got.loss} vs the run's ${summary.testLoss}`);
  // `fgsgd evaluate` on the same backend gives exactly the run's figures.
  const ev = fgsgd('evaluate', `${dir}/model`, '--data', 'data/fashion-mnist-subset', '--backend', 'wasm');
  t.equal(ev.status, 0, ev.stderr);
  t.match(ev.stdout, new RegExp(`^test accuracy: ${summary.testAccuracy.toFixed(4)} \\(test loss ${summary.testLoss.toFixed(4)}; 2000 images on wasm\\)`));
  const bad = fgsgd('evaluate', `${dir}/nothing`, '--data', 'data/fashion-mnist-subset');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /nothing\/model\.json: cannot read a TensorFlow\.js model/);
  t.equal(fgsgd('evaluate', `${dir}/model`).status, 2, 'evaluate without --data is a usage error');
});

t.test('--validation: a positive integer, and fewer than the training images, or exit 2 naming both', async (t) => {
  for (const v of ['0', '-5', 'many']) {
    const r = fgsgd('train', 'default', `--validation=${v}`);
    t.equal(r.status, 2, `--validation ${v}`);
    t.match(r.stderr, /^fgsgd: --validation must be a positive integer[^\n]*\n$/);
  }
  const dir = tempDir(t);
  const r = fgsgd('train', 'default', '--validation', '9000', '--max-steps', '1', '--out', dir, '--backend', 'wasm');
  t.equal(r.status, 2, 'a usage error, found when the data is read');
  t.match(r.stderr, /^fgsgd: --validation 9000: must be less than the 9000 training images in [^\n]*\n$/);
  t.match(fgsgd('train', '--help').stdout, /--validation N/);
});

t.test('--workers 2: the replicas log no info lines to the terminal', async (t) => {
  const dir = tempDir(t);
  // As a user runs it: no FGSGD_LOG_LEVEL. A replica's logger used to start at info, and each
  // replica printed its backend choice as a JSON line on stderr.
  const env = { ...process.env };
  delete env.FGSGD_LOG_LEVEL;
  delete env.TAP;
  const r = spawnSync(process.execPath, [BIN, 'train', 'default', '--max-steps', '2', '--workers', '2', '--backend', 'wasm', '--out', join(dir, 'run')], { encoding: 'utf8', env, timeout: timeLeftMs(), killSignal: 'SIGKILL' });
  t.equal(r.status, 0, r.stderr);
  t.notMatch(r.stderr, /"level":30/, 'no info line on stderr');
  t.ok(existsSync(join(dir, 'run', 'summary.json')), 'the run finished');
});
