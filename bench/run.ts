/**
 * `npm run bench [-- options]`: the project's benchmark. Runs the sections of
 * `bench/sections/index.ts`, prints a table per section on stdout (progress goes to stderr) and
 * writes every figure with the machine's description to a JSON file.
 *
 * Figures are printed as ratios to PyTorch measured in the same run on the same machine
 * (`bench/reference/torch_step.py`), because absolute times drift from machine to machine and
 * from load to load. Without torch, the project's own figures are printed alone.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ConcreteBackend } from '../src/backend/index.js';
import { SECTIONS, sectionNames, type SectionResult } from './sections/index.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Backends the benchmark tries by default: `initBackend('auto')`'s order, with onednn (never chosen by 'auto') before wasm. */
export const DEFAULT_BACKENDS: readonly ConcreteBackend[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'onednn', 'wasm', 'cpu'];

export interface BenchOptions {
  /** Sections to run, in registry order. */
  sections: string[];
  /** Models to run; `null` means each section's default set. */
  models: string[] | null;
  backends: ConcreteBackend[];
  /** Timed steps per (model, backend), fewer when the time budget is short (at least 1). */
  steps: number;
  /** Warm-up steps before timing (the slow backends may skip them to stay in the budget). */
  warmup: number;
  /** Time budget per (model, backend), in seconds. */
  budgetSeconds: number;
  /** Data-parallel replicas measured by `train-step` on wasm (1: none). */
  workers: number;
  /** Steps of the `soak` section. */
  soakSteps: number;
  /** Results JSON path (absolute). */
  out: string;
  /** Path of torch_step.py, when given with --reference. */
  reference?: string;
  skipTorch: boolean;
  help: boolean;
}

export class BenchArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchArgsError';
  }
}

export const USAGE = `usage: npm run bench -- [options]
  --sections a,b     sections to run: ${sectionNames().join(', ')} (default: all but ${SECTIONS.filter((s) => s.optIn).map((s) => s.name).join(', ')})
  --models a,b       models (default: cnn-small,resnet20)
  --backends a,b     backends to try (default: ${DEFAULT_BACKENDS.join(',')}); one that cannot load is listed as skipped
  --steps N          timed steps per model and backend (default 10; fewer if the budget is short, at least 1)
  --warmup N         warm-up steps (default 2)
  --budget S         seconds per model and backend (default 60)
  --workers N        data-parallel wasm replicas train-step also measures (default: every core, ${os.availableParallelism()}; 1: none)
  --soak-steps N     steps of the soak section (default 10000)
  --out FILE         results JSON (default bench/out/results.json, which git ignores)
  --reference PATH   PyTorch reference script (default: env FGSGD_TORCH_REFERENCE, else bench/reference/torch_step.py)
  --skip-torch       do not run the PyTorch reference
  -h, --help         this text`;

function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new BenchArgsError(`empty list '${v}'`);
  return [...new Set(items)];
}

function int(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min) throw new BenchArgsError(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return Number(v);
}

/** Parse the benchmark's command line (without `node` and the script). @throws BenchArgsError */
export function parseBenchArgs(argv: readonly string[], cwd = process.cwd()): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        sections: { type: 'string' },
        models: { type: 'string' },
        backends: { type: 'string' },
        steps: { type: 'string' },
        warmup: { type: 'string' },
        budget: { type: 'string' },
        'soak-steps': { type: 'string' },
        workers: { type: 'string' },
        out: { type: 'string' },
        reference: { type: 'string' },
        'skip-torch': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    throw new BenchArgsError((e as Error).message.split('\n')[0]!);
  }
  const sections = list(values.sections) ?? SECTIONS.filter((s) => !s.optIn).map((s) => s.name);
  for (const s of sections) {
    if (!sectionNames().includes(s)) throw new BenchArgsError(`unknown section '${s}'; valid sections: ${sectionNames().join(', ')}`);
  }
  const backends = (list(values.backends) ?? [...DEFAULT_BACKENDS]) as ConcreteBackend[];
  for (const b of backends) {
    if (!DEFAULT_BACKENDS.includes(b)) throw new BenchArgsError(`unknown backend '${b}'; valid backends: ${DEFAULT_BACKENDS.join(', ')}`);
  }
  const budget = values.budget === undefined ? 60 : Number(values.budget);
  if (!Number.isFinite(budget) || budget <= 0) throw new BenchArgsError(`--budget must be a positive number of seconds, got '${values.budget}'`);
  return {
    // Registry order, whatever order they were named in.
    sections: sectionNames().filter((s) => sections.includes(s)),
    models: list(values.models) ?? null,
    backends,
    steps: int('steps', values.steps, 10, 1),
    warmup: int('warmup', values.warmup, 2, 0),
    budgetSeconds: budget,
    soakSteps: int('soak-steps', values['soak-steps'], 10_000, 1),
    workers: int('workers', values.workers, os.availableParallelism(), 1),
    out: resolve(cwd, values.out ?? resolve(REPO_ROOT, 'bench', 'out', 'results.json')),
    reference: values.reference === undefined ? undefined : resolve(cwd, values.reference),
    skipTorch: values['skip-torch'],
    help: values.help,
  };
}

function tryExec(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString().trim();
  } catch {
    return undefined;
  }
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  availableParallelism: number;
  memoryGiB: number;
  platform: string;
  nodeVersion: string;
  tfjsVersion: string | undefined;
  torchVersion: string | undefined;
  date: string;
  gitCommit: string | undefined;
  gitDirty: boolean | undefined;
}

function machineInfo(torchVersion: string | undefined): MachineInfo {
  const require = createRequire(import.meta.url);
  let tfjsVersion: string | undefined;
  try {
    tfjsVersion = (require('@tensorflow/tfjs/package.json') as { version: string }).version;
  } catch {
    tfjsVersion = undefined;
  }
  const status = tryExec('git', ['status', '--porcelain', '--untracked-files=no']);
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    nodeVersion: process.version,
    tfjsVersion,
    torchVersion,
    date: new Date().toISOString(),
    gitCommit: tryExec('git', ['rev-parse', 'HEAD']),
    gitDirty: status === undefined ? undefined : status.length > 0,
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The backend loader logs at info on stderr; keep the benchmark's stderr to its own progress.
  process.env.FGSGD_LOG_LEVEL ??= 'warn';
  const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

  const { TorchReference } = await import('./torch.js');
  const torch = await TorchReference.locate({ reference: options.reference, repoRoot: REPO_ROOT, disabled: options.skipTorch });
  progress(torch.available ? `PyTorch ${torch.version} (${torch.python} ${torch.script})` : `no PyTorch reference: ${torch.reason}; printing this project's figures alone`);

  const machine = machineInfo(torch.version);
  process.stdout.write(`FG-SGD benchmark, ${machine.date}\n` +
    `  ${machine.cpuModel}, ${machine.cores} cores; node ${machine.nodeVersion}; tfjs ${machine.tfjsVersion ?? '?'}; ` +
    `torch ${machine.torchVersion ?? 'absent'}; commit ${machine.gitCommit?.slice(0, 12) ?? '?'}${machine.gitDirty ? ' (dirty)' : ''}\n\n`);

  const results: Record<string, SectionResult['data']> = {};
  let code = 0;
  for (const section of SECTIONS.filter((s) => options.sections.includes(s.name))) {
    progress(`section ${section.name}`);
    let r: SectionResult;
    try {
      r = await section.run({ options, repoRoot: REPO_ROOT, torch, progress });
    } catch (e) {
      const message = (e as Error).message;
      process.stderr.write(`bench: section ${section.name} failed: ${message}\n`);
      results[section.name] = { error: message };
      code = 1;
      continue;
    }
    process.stdout.write(`== ${section.name} ==\n${r.text}\n\n`);
    results[section.name] = r.data;
  }

  const doc = {
    machine,
    torch: { available: torch.available, reason: torch.reason, script: torch.script, python: torch.python, version: torch.version },
    options: { ...options, help: undefined },
    sections: results,
  };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`results written to ${options.out}\n`);
  return code;
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`bench: ${(e as Error)?.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
