/**
 * The sweep runner: executes a grid's runs (configurations × seeds) as separate `fgsgd train`
 * processes, `parallel` at a time (one per core by default: wasm trains on one thread), and
 * aggregates their `summary.json` files.
 *
 * Resume: a run is finished when its folder holds `summary.json` (the CLI writes it last,
 * atomically) and the process exited 0. Finished runs are skipped when the sweep is started
 * again; unfinished ones (killed, failed) run again from the start.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from '../log.js';
import { aggregate, resultsTable, type ConfigResult, type RunSummary } from './aggregate.js';
import { expandGrid, type Grid, type Run } from './grid.js';

export interface SweepOptions {
  grid: Grid;
  seeds: number;
  /** Output folder: `runs/<config>/seed-<s>/`, `results.json`, `results.md`. */
  out: string;
  /** Processes at a time; default: the number of cores. */
  parallel?: number;
  /** The trainer command, `[executable, ...args]`; default: this project's `bin/fgsgd.js` under node. */
  command?: string[];
  /** Extra arguments appended to every run (e.g. `--data DIR`). */
  extraArgs?: string[];
}

export interface SweepResult {
  ran: string[];
  skipped: string[];
  failed: { id: string; code: number | null; stderrTail: string }[];
  results: ConfigResult[];
}

const DEFAULT_COMMAND = [process.execPath, fileURLToPath(new URL('../../bin/fgsgd.js', import.meta.url))];

async function readSummary(dir: string): Promise<RunSummary | null> {
  const file = join(dir, 'summary.json');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RunSummary;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); delete it to run this configuration again.`);
  }
}

function runOne(command: string[], argv: string[], dir: string): Promise<{ code: number | null; stderrTail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), ...argv, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', async (code) => {
      await writeFile(join(dir, 'stdout.log'), Buffer.concat(chunks));
      await writeFile(join(dir, 'stderr.log'), stderr);
      resolve({ code, stderrTail: stderr.trim().split('\n').slice(-3).join('\n') });
    });
  });
}

/** Run every unfinished run of the grid, then aggregate all finished ones. */
export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  const runs = expandGrid(opts.grid, opts.seeds);
  const parallel = Math.max(1, opts.parallel ?? cpus().length);
  const command = opts.command ?? DEFAULT_COMMAND;
  const result: SweepResult = { ran: [], skipped: [], failed: [], results: [] };
  const summaries = new Map<string, RunSummary[]>();
  const record = (run: Run, s: RunSummary) => summaries.set(run.config.id, [...(summaries.get(run.config.id) ?? []), s]);

  const pending: Run[] = [];
  for (const run of runs) {
    const done = await readSummary(join(opts.out, 'runs', run.id));
    if (done) {
      result.skipped.push(run.id);
      record(run, done);
    } else pending.push(run);
  }
  log.info({ grid: opts.grid.name, runs: runs.length, finished: result.skipped.length, parallel }, 'sweep: starting');

  let next = 0;
  const worker = async () => {
    while (next < pending.length) {
      const run = pending[next++]!;
      const dir = join(opts.out, 'runs', run.id);
      await mkdir(dir, { recursive: true });
      const started = Date.now();
      const { code, stderrTail } = await runOne(command, [...run.argv, ...(opts.extraArgs ?? [])], dir);
      const summary = code === 0 ? await readSummary(dir) : null;
      if (summary) {
        result.ran.push(run.id);
        record(run, summary);
        log.info({ run: run.id, seconds: (Date.now() - started) / 1000, testAccuracy: summary.testAccuracy }, 'sweep: run finished');
      } else {
        result.failed.push({ id: run.id, code, stderrTail });
        log.error({ run: run.id, code, stderr: stderrTail }, `sweep: run failed; see ${join(dir, 'stderr.log')}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, pending.length) }, worker));

  result.results = aggregate(opts.grid.configs, summaries);
  await writeResults(opts, result);
  return result;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function writeResults(opts: SweepOptions, r: SweepResult): Promise<void> {
  await mkdir(opts.out, { recursive: true });
  await writeAtomic(
    join(opts.out, 'results.json'),
    JSON.stringify({ grid: opts.grid.name, pipeline: opts.grid.pipeline, base: opts.grid.base, seeds: opts.seeds, results: r.results, failed: r.failed }, null, 2) + '\n',
  );
  const md = [
    `# Sweep '${opts.grid.name}'`,
    '',
    opts.grid.description,
    '',
    `Pipeline \`${opts.grid.pipeline}\`, ${opts.seeds} seed(s) per configuration; mean ± sample standard deviation over seeds.`,
    '',
    resultsTable(r.results),
    '',
    r.failed.length ? `Failed runs (rerun the sweep to retry them): ${r.failed.map((f) => `\`${f.id}\``).join(', ')}` : '',
  ].join('\n');
  await writeAtomic(join(opts.out, 'results.md'), md + '\n');
}
