/**
 * The sweep runner: executes a grid's runs (configurations × seeds) as separate `fgsgd train`
 * processes, `parallel` at a time (one per core by default: wasm trains on one thread), and
 * aggregates their `summary.json` files.
 *
 * Resume: a run is finished when its folder holds a `summary.json` (the trainer writes it
 * atomically at every end) whose `reason` says it completed or stopped at --max-steps. Finished
 * runs are skipped when the sweep is started again; unfinished ones (killed, interrupted,
 * diverged, failed) run again from the start.
 *
 * Outputs, besides the runs' folders: `results.json` and `results.md` (the table, the machine, the
 * git commit, the command line) and the plots `accuracy.png` and `curves.png` (src/sweep/plots.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { checkpointPath } from '../checkpoint.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package_root.js';
import type { TrainEvent } from '../events.js';
import { writeFileAtomic } from '../atomic.js';
import { log } from '../log.js';
import { describeRevision, machine, revision } from '../provenance.js';
import { readMetrics } from '../report.js';
import { aggregate, resultsTable, type ConfigResult, type RunSummary } from './aggregate.js';
import { expandGrid, seedsOf, type Grid, type Run } from './grid.js';
import { meanCurves, writeSweepPlots } from './plots.js';
import { sweepOnQueue, type QueueTarget } from './queue.js';

export interface SweepOptions {
  grid: Grid;
  /** Seeds per configuration, unless a configuration sets its own (`GridConfig.seeds`). */
  seeds: number;
  /** Output folder: `runs/<config>/seed-<s>/`, `results.json`, `results.md`. */
  out: string;
  /** Processes at a time; default: the number of cores. */
  parallel?: number;
  /** The trainer command, `[executable, ...args]`; default: this project's `bin/fgsgd.js` under node. */
  command?: string[];
  /** Extra arguments appended to every run (e.g. `--data DIR`). */
  extraArgs?: string[];
  /** First seed (default 1): seeds are `firstSeed .. firstSeed + seeds − 1`. */
  firstSeed?: number;
  /** The command line that started the sweep, recorded in results.json/results.md. */
  commandLine?: string;
  /**
   * Aborting stops the sweep: running trainers get SIGTERM (they checkpoint and exit 130, so they
   * count as failed and run again next time) and no further run starts.
   */
  signal?: AbortSignal;
  /** Called when a run starts and when it ends (for progress lines). */
  onRun?: (e: RunProgress) => void;
  /** Run on workers through this queue (src/sweep/queue.ts) instead of on this machine. */
  queue?: QueueTarget;
}

export interface RunProgress {
  type: 'start' | 'end';
  id: string;
  /** Runs of this invocation started or ended so far (this one included), and how many it runs. */
  count: number;
  of: number;
  ok?: boolean;
  seconds?: number;
  testAccuracy?: number | null;
  /** A failed run's exit code and stderr file. */
  code?: number | null;
  log?: string;
  /** Why a run failed, when the queue says (its trainer's last lines). */
  reason?: string;
}

export interface FailedRun {
  id: string;
  code: number | null;
  stderrTail: string;
  /** The run's stderr (its last 4000 characters). */
  log: string;
}

export interface SweepResult {
  ran: string[];
  skipped: string[];
  failed: FailedRun[];
  results: ConfigResult[];
}

const DEFAULT_COMMAND = [process.execPath, join(PACKAGE_ROOT, 'bin/fgsgd.js')];

/** The environment variable through which a trainer learns the pid it must not outlive (src/cli.ts). */
export const PARENT_PID_ENV = 'FGSGD_EXIT_WITH_PARENT';

/** The ends of a `fgsgd train` run whose results count (src/train/fit.ts `FitEndReason`). */
const FINISHED_REASONS = new Set(['completed', 'maxSteps']);

/**
 * A run's summary if the run finished: its `summary.json` exists and says it completed or stopped
 * at --max-steps. A summary of an interrupted, diverged or failed run (the trainer writes one for
 * every end) means the run is not finished: null, so that it runs again.
 */
export async function readSummary(dir: string): Promise<RunSummary | null> {
  const file = join(dir, 'summary.json');
  if (!existsSync(file)) return null;
  let summary: RunSummary;
  try {
    summary = JSON.parse(await readFile(file, 'utf8')) as RunSummary;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); delete it to run this configuration again.`);
  }
  return FINISHED_REASONS.has(String(summary.reason)) ? summary : null;
}

/**
 * Run one `fgsgd train` into `dir` (stdout.log and stderr.log there). `exitWithParent`: the trainer
 * exits at once if this process dies (a queue worker killed with SIGKILL), so that it cannot race
 * the worker that takes its run over.
 */
export function runOne(
  command: string[] = DEFAULT_COMMAND,
  argv: string[],
  dir: string,
  signal?: AbortSignal,
  opts: { cwd?: string; exitWithParent?: boolean } = {},
): Promise<{ code: number | null; stderrTail: string }> {
  return new Promise((resolve, reject) => {
    const env = opts.exitWithParent ? { ...process.env, [PARENT_PID_ENV]: String(process.pid) } : process.env;
    const child = spawn(command[0]!, [...command.slice(1), ...argv, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGTERM', cwd: opts.cwd, env });
    let stderr = '';
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    // An abort surfaces as an 'error' too; the 'close' that follows reports the exit.
    child.on('error', (e) => {
      if ((e as Error).name !== 'AbortError') reject(e);
    });
    child.on('close', async (code) => {
      await writeFile(join(dir, 'stdout.log'), Buffer.concat(chunks));
      await writeFile(join(dir, 'stderr.log'), stderr);
      resolve({ code, stderrTail: stderr.trim().split('\n').slice(-3).join('\n') });
    });
  });
}

/** Run every unfinished run of the grid, then aggregate all finished ones. */
export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  const started = Date.now();
  const runs = expandGrid(opts.grid, opts.seeds, opts.firstSeed ?? 1);
  const parallel = Math.max(1, opts.parallel ?? cpus().length);
  const command = opts.command ?? DEFAULT_COMMAND;
  const result: SweepResult = { ran: [], skipped: [], failed: [], results: [] };
  // Runs end in any order; the table lists them in the grid's order (configuration, then seed).
  const byRun = new Map<string, RunSummary>();
  const record = (run: Run, s: RunSummary) => byRun.set(run.id, s);

  const pending: Run[] = [];
  for (const run of runs) {
    const done = await readSummary(join(opts.out, 'runs', run.id));
    if (done) {
      result.skipped.push(run.id);
      record(run, done);
    } else pending.push(run);
  }
  log.info({ grid: opts.grid.name, runs: runs.length, finished: result.skipped.length, parallel }, 'sweep: starting');

  if (opts.queue) {
    const { done, failed } = await sweepOnQueue({ target: opts.queue, out: opts.out, runs: pending, extraArgs: opts.extraArgs ?? [], signal: opts.signal, onRun: opts.onRun });
    for (const run of pending) {
      const s = done.get(run.id);
      if (s) (result.ran.push(run.id), record(run, s));
    }
    result.failed.push(...failed);
  }
  let next = opts.queue ? pending.length : 0;
  let ended = 0;
  const worker = async () => {
    while (next < pending.length && !opts.signal?.aborted) {
      const run = pending[next++]!;
      const dir = join(opts.out, 'runs', run.id);
      await mkdir(dir, { recursive: true });
      const t0 = Date.now();
      opts.onRun?.({ type: 'start', id: run.id, count: next, of: pending.length });
      // A run that was interrupted (or killed) and left a checkpoint continues from it, bit for
      // bit as if it had not stopped; a failed run's checkpoint is its last good state.
      const resume = existsSync(checkpointPath(dir)) ? ['--resume', dir] : [];
      const { code, stderrTail } = await runOne(command, [...run.argv, ...(opts.extraArgs ?? []), ...resume], dir, opts.signal);
      const summary = code === 0 ? await readSummary(dir) : null;
      const seconds = (Date.now() - t0) / 1000;
      opts.onRun?.({
        type: 'end', id: run.id, count: ++ended, of: pending.length, ok: summary !== null, seconds,
        testAccuracy: summary?.testAccuracy ?? null, ...(summary ? {} : { code, log: join(dir, 'stderr.log') }),
      });
      if (summary) {
        result.ran.push(run.id);
        record(run, summary);
        log.info({ run: run.id, seconds, testAccuracy: summary.testAccuracy }, 'sweep: run finished');
      } else {
        result.failed.push({ id: run.id, code, stderrTail, log: join(dir, 'stderr.log') });
        // Info, not error: the caller reports failed runs (the CLI in one line at the end).
        log.info({ run: run.id, code, stderr: stderrTail }, `sweep: run failed; see ${join(dir, 'stderr.log')}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, pending.length) }, worker));

  const summaries = new Map<string, RunSummary[]>();
  for (const run of runs) {
    const s = byRun.get(run.id);
    if (s) summaries.set(run.config.id, [...(summaries.get(run.config.id) ?? []), s]);
  }
  result.results = aggregate(opts.grid.configs, summaries, baselineOf(opts.grid));
  await writeResults(opts, runs, result, byRun, (Date.now() - started) / 1000);
  return result;
}

/** The events of every finished run with a metrics.jsonl, by configuration. */
async function finishedRunEvents(opts: SweepOptions, runs: readonly Run[], r: SweepResult): Promise<Map<string, TrainEvent[][]>> {
  const finished = new Set([...r.ran, ...r.skipped]);
  const out = new Map<string, TrainEvent[][]>();
  for (const run of runs) {
    const file = join(opts.out, 'runs', run.id, 'metrics.jsonl');
    if (!finished.has(run.id) || !existsSync(file)) continue;
    out.set(run.config.id, [...(out.get(run.config.id) ?? []), await readMetrics(file)]);
  }
  return out;
}

const baselineOf = (g: Grid) => g.baseline ?? g.configs[0]?.id;

/** The commits that trained the finished runs, most runs first; runs that did not record one are counted apart. */
function trainingCommits(runs: readonly Run[], byRun: ReadonlyMap<string, RunSummary>): { commits: [string, number][]; unrecorded: number } {
  const counts = new Map<string, number>();
  let unrecorded = 0;
  for (const run of runs) {
    const s = byRun.get(run.id);
    if (!s) continue;
    const key = s.git ? describeRevision(s.git) : 'unknown';
    if (key === 'unknown') unrecorded++;
    else counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return { commits: [...counts].sort((a, b) => b[1] - a[1]), unrecorded };
}

async function writeResults(opts: SweepOptions, runs: readonly Run[], r: SweepResult, byRun: ReadonlyMap<string, RunSummary>, seconds: number): Promise<void> {
  await mkdir(opts.out, { recursive: true });
  const host = machine();
  const rev = revision();
  const firstSeed = opts.firstSeed ?? 1;
  let plots: { file: string; title: string }[] = [];
  try {
    const curves = meanCurves(opts.grid.configs, await finishedRunEvents(opts, runs, r));
    plots = await writeSweepPlots(opts.out, r.results, curves);
  } catch (e) {
    // The plots are a convenience; the numbers are in results.json and results.md.
    log.error({ err: e }, `sweep: plots failed: ${(e as Error).message}`);
  }
  const trained = trainingCommits(runs, byRun);
  const trainedText = [
    ...trained.commits.map(([c, n]) => `\`${c}\` (${n} run${n === 1 ? '' : 's'})`),
    ...(trained.unrecorded ? [`not recorded in ${trained.unrecorded} run summar${trained.unrecorded === 1 ? 'y' : 'ies'}`] : []),
  ].join('; ') || 'n/a';
  const baseline = baselineOf(opts.grid);
  await writeFileAtomic(
    join(opts.out, 'results.json'),
    JSON.stringify(
      {
        grid: opts.grid.name,
        pipeline: opts.grid.pipeline,
        base: opts.grid.base,
        seeds: opts.seeds,
        // Per configuration: a configuration's own `seeds` overrides the sweep's.
        seedsByConfig: Object.fromEntries(opts.grid.configs.map((c) => [c.id, seedsOf(c, opts.seeds)])),
        firstSeed,
        command: opts.commandLine ?? null,
        extraArgs: opts.extraArgs ?? [],
        machine: host,
        git: rev,
        trainedAt: trained,
        baseline: baseline ?? null,
        finishedAt: new Date().toISOString(),
        seconds,
        results: r.results,
        failed: r.failed,
        plots: plots.map((p) => p.file),
        runs: runs.map((run) => ({ id: run.id, config: run.config.id, seed: run.seed, argv: [...run.argv, ...(opts.extraArgs ?? [])] })),
      },
      null,
      2,
    ) + '\n',
  );
  const md = [
    `# Sweep '${opts.grid.name}'`,
    '',
    opts.grid.description,
    '',
    `Pipeline \`${opts.grid.pipeline}\`, ${opts.seeds} seed(s) per configuration (${firstSeed}..${firstSeed + opts.seeds - 1})${seedOverrides(opts)}; mean ± sample standard deviation over seeds. ` +
      `"vs. baseline" is each configuration's mean test accuracy minus that of \`${baseline}\`, in percentage points, with the 95% confidence interval and the two-sided p-value of Welch's t-test over the seeds (not corrected for the number of configurations compared). ` +
      `"validation accuracy" is on the training images held out by --validation (n/a without); "dead first-layer channels" counts the output channels of the model's first ReLU that are zero on every test image at the last test evaluation, of that layer's channels; "epoch time vs. baseline" is the mean s / epoch over that of \`${baseline}\`.`,
    '',
    resultsTable(r.results, baseline),
    '',
    ...plots.flatMap((p) => [`![${p.title}](${p.file})`, '']),
    '| | |',
    '|---|---|',
    `| machine | ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB; ${host.platform}; Node ${host.node} |`,
    `| commit (this table) | \`${describeRevision(rev)}\` |`,
    `| commit (training runs) | ${trainedText} |`,
    `| command | ${opts.commandLine ? `\`${opts.commandLine}\`` : 'n/a'} |`,
    `| shared options | \`${toArgvText(opts.grid.base)}\` |`,
    '',
    r.failed.length
      ? `Failed runs (rerun the sweep to retry them):\n\n${r.failed.map((f) => `- \`${f.id}\`: ${oneLine(f.stderrTail) || `exit ${f.code ?? 'by signal'}`} (${f.log})`).join('\n')}`
      : '',
  ].join('\n');
  await writeFileAtomic(join(opts.out, 'results.md'), md + '\n');
}

/** `` except `a`: 5 seed(s) (1..5)`` for configurations whose own `seeds` differ from the sweep's. */
function seedOverrides(opts: SweepOptions): string {
  const first = opts.firstSeed ?? 1;
  const own = opts.grid.configs.filter((c) => seedsOf(c, opts.seeds) !== opts.seeds);
  if (own.length === 0) return '';
  const n = (c: Grid['configs'][number]) => seedsOf(c, opts.seeds);
  return ` except ${own.map((c) => `\`${c.id}\`: ${n(c)} seed(s) (${first}..${first + n(c) - 1})`).join(', ')}`;
}

function oneLine(text: string): string {
  const line = text.trim().split('\n').filter(Boolean).pop() ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function toArgvText(args: Grid['base']): string {
  return Object.entries(args)
    .filter(([, v]) => v !== false)
    .map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`))
    .join(' ');
}
