import t from 'tap';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { BenchArgsError, DEFAULT_BACKENDS, parseBenchArgs, REPO_ROOT } from '../../bench/run.js';

t.test('defaults', (t) => {
  const o = parseBenchArgs([], '/tmp');
  t.same(o.sections, ['train-step', 'fgsgd-update', 'pipeline'], 'every section but the opt-in soak');
  t.equal(o.soakSteps, 10_000);
  t.equal(o.workers, os.availableParallelism(), 'train-step also measures one wasm replica per core');
  t.equal(o.models, null, 'each section picks its own models');
  t.same(o.backends, [...DEFAULT_BACKENDS]);
  t.same(o.backends, ['tensorflow-gpu', 'webgpu', 'tensorflow', 'onednn', 'wasm', 'cpu']);
  t.equal(o.steps, 10);
  t.equal(o.warmup, 2);
  t.equal(o.budgetSeconds, 60);
  t.equal(o.out, resolve(REPO_ROOT, 'bench', 'out', 'results.json'), 'default --out is bench/out/results.json, which git ignores');
  t.equal(o.reference, undefined);
  t.equal(o.skipTorch, false);
  t.equal(o.help, false);
  t.end();
});

t.test('options', (t) => {
  const o = parseBenchArgs(['--models', 'cnn-small,resnet20,cnn-small', '--backends=cpu', '--steps', '1', '--warmup', '0',
    '--budget', '2.5', '--out', 'x/r.json', '--reference', 'ref.py', '--sections', 'train-step', '--skip-torch'], '/tmp');
  t.same(o.models, ['cnn-small', 'resnet20'], 'lists are split and deduplicated');
  t.same(o.backends, ['cpu']);
  t.equal(o.steps, 1);
  t.equal(o.warmup, 0);
  t.equal(o.budgetSeconds, 2.5);
  t.equal(o.out, '/tmp/x/r.json', 'paths resolve against the working directory');
  t.equal(o.reference, '/tmp/ref.py');
  t.equal(o.skipTorch, true);
  t.equal(parseBenchArgs(['-h']).help, true);
  const soak = parseBenchArgs(['--sections', 'soak,pipeline', '--soak-steps', '300']);
  t.same(soak.sections, ['pipeline', 'soak'], 'an opt-in section runs when named, in registry order');
  t.equal(soak.soakSteps, 300);
  t.equal(parseBenchArgs(['--workers', '1']).workers, 1, '--workers 1: no replica rows');
  t.end();
});

t.test('errors', (t) => {
  const bad: [string[], RegExp][] = [
    [['--bogus'], /unknown option '--bogus'/i],
    [['stray'], /positional/i],
    [['--steps'], /argument missing/i],
    [['--steps', '0'], /--steps must be an integer ≥ 1/],
    [['--steps', '1.5'], /--steps/],
    [['--warmup', '-1'], /--warmup/],
    [['--budget', '0'], /--budget/],
    [['--backends', 'webgl'], /unknown backend 'webgl'/],
    [['--sections', 'nope'], /unknown section 'nope'; valid sections: train-step, fgsgd-update, pipeline, soak/],
    [['--soak-steps', '0'], /--soak-steps must be an integer ≥ 1/],
    [['--models', ','], /empty list/],
  ];
  for (const [argv, re] of bad) t.throws(() => parseBenchArgs(argv), { name: 'BenchArgsError', message: re }, argv.join(' '));
  const e = new BenchArgsError('x');
  t.match(e, { name: 'BenchArgsError', message: 'x' }, 'an Error with its own name, so the CLI can tell usage errors apart');
  t.end();
});

t.test('the PyTorch reference ships in the repository, with every model the bench compares', async (t) => {
  const script = readFileSync(resolve(REPO_ROOT, 'bench', 'reference', 'torch_step.py'), 'utf8');
  for (const model of ['cnn-small', 'cnn-small-bn', 'resnet20']) t.match(script, new RegExp(`'${model}'`), `it defines ${model}`);
});
