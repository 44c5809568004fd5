/**
 * The `fgsgd` command line (bin/fgsgd.js).
 *
 *     fgsgd train <pipeline name or file> [--data DIR] [--model NAME] [--epochs N] [--max-steps N]
 *           [--seed S] [--backend auto|tensorflow-gpu|tensorflow|webgpu|onednn|wasm|cpu] [--optimizer sgd|fgsgd]
 *           [--grouping PI|PO|PIO] [--manifolds Sp+Ob+St+Euc] [--lr X]
 *           [--schedule constant|step|cosine|robbins-monro] [--momentum X] [--weight-decay X]
 *           [--radius init|data[:BAND]|bound:B] [--radius-layer LAYER=POLICY[,...]]
 *           [--step-rule adaptive|adaptive-stored|fixed] [--group-size N] [--lambda-floor X]
 *           [--lambda-every N] [--bound B] [--batch N] [--out DIR] [--resume DIR] [--checkpoint-every N|30s|5m] [--strict]
 *           [--no-progress]
 *     fgsgd sweep <grid name or file> --seeds N [--parallel P] [--out DIR] [--data DIR] [--first-seed S]
 *
 * `train` writes DIR/metrics.jsonl (one pino JSON line per event), DIR/checkpoint.ckpt,
 * DIR/summary.json and DIR/report.md, and prints the test accuracy on stdout. `sweep` runs
 * `fgsgd train` for every configuration × seed of a grid (src/sweep/run.ts), resumably, and writes
 * DIR/results.json, DIR/results.md and its plots.
 *
 * Exit codes: 0 when the run completed (or stopped at --max-steps), or every run of a sweep
 * finished; 2 for a usage error (unknown option, bad value, a missing or unsupported option of the
 * pipeline); 130 when interrupted by Ctrl-C or
 * SIGTERM (after a final checkpoint); 1 for any other failure (a non-finite loss, unreadable data,
 * an unknown pipeline or grid, a failed run of a sweep, ...). Every failure prints one line on
 * stderr saying why.
 */
import { existsSync } from 'node:fs';
import { packageVersion } from './package_root.js';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Subject } from 'rxjs';
import { BACKEND_NAMES } from './backend/index.js';
import { SCHEDULES, type ScheduleName } from './fgsgd/schedules.js';
import { STRATEGIES } from './fgsgd/grouping.js';
import { STEP_RULES } from './fgsgd/optimizer.js';
import { parseRadiusLayers } from './fgsgd/radius.js';
import { log } from './log.js';
import { UsageError } from './usage.js';
import { MODELS } from './models/index.js';
import { expandGrid } from './sweep/grid.js';
import { loadGrid } from './sweep/load.js';
import { PARENT_PID_ENV, runSweep } from './sweep/run.js';
import { DEFAULT_LOCK_SECONDS, parseQueue, redactUrl, runWorker, type QueueTarget } from './sweep/queue.js';
import { loadPipeline, type Registry } from './registry.js';
import { makeShards } from './data/make_shards.js';
import { assertNoUnfinishedRun, resolveResume, runPipeline, type RunOptions } from './train/run.js';
import { parseSwap } from './train/optimizer.js';
import { parseCheckpointEvery } from './checkpoint.js';
import { parseOptimizerSetting, type OptimizerSetting } from './train/optimizer_options.js';

const MODEL_NAMES = MODELS.map((m) => m.name);
const SCHEDULE_NAMES = SCHEDULES.map((s) => s.name) as ScheduleName[];

const trainUsage = ({ pipelines }: Registry) => `usage: fgsgd train <pipeline name or file> [options]

pipelines: ${pipelines.map((p) => `${p.name} (${p.description})`).join('; ')}

options:
  --data DIR                the dataset directory
  --model NAME              ${MODEL_NAMES.join('|')} (default: the pipeline's)
  --epochs N                epochs to train
  --max-steps N             stop after N optimizer steps in all
  --seed S                  seed of the model, data order and grouping (default 1)
  --backend NAME            ${BACKEND_NAMES.join('|')} (default auto)
  --optimizer NAME          sgd|fgsgd
  --grouping NAME           ${STRATEGIES.join('|')} (FG-SGD)
  --manifolds MIX           e.g. Sp+Ob+St+Euc (FG-SGD)
  --lr X                    learning rate (the peak of a schedule)
  --schedule NAME           ${SCHEDULE_NAMES.join('|')} over the run (step: ×0.1 at 50% and 75%)
  --momentum X              momentum in [0, 1)
  --weight-decay X          weight decay (≥ 0) on Euclidean parameters
  --radius POLICY            FG-SGD's radius of the constrained kernels: init (each keeps its
                            initializer's expected norm; default), data[:BAND] (the paper's γ/λ,
                            clamped to [init/BAND, init·BAND], BAND 2), bound:B (every norm B)
  --radius-layer L=POLICY   the policy of one layer, e.g. conv1=1.41 (a number N is bound:N);
                            repeatable, or comma-separated
  --step-rule NAME          ${STEP_RULES.join('|')} (FG-SGD; default fixed: r = g(t))
  --group-size N            kernels per group (FG-SGD; default 8)
  --lambda-floor X          smallest λ of the data policy (default 1e-6)
  --lambda-every N          data policy: λ statistics every N steps (default 10)
  --bound B                 the same as --radius bound:B
  --swap STEP:K=V[,K=V...]  after STEP steps, change the optimizer (hot-swap), e.g.
                            500:optimizer=fgsgd,manifolds=Sp+Ob+St; keys: optimizer, grouping,
                            manifolds, lr (the schedule's peak; the schedule is kept), momentum,
                            weight-decay, group-size, radius, step-rule; repeatable
  --batch N                 batch size
  --workers N|auto          data-parallel model replicas over worker threads (default auto: one
                            per core, each with at least 8 images of a batch, where the run can
                            have them: a zoo model on wasm or onednn; else 1; 1: no worker
                            threads); each N is deterministic, and the run records the number used
  --out DIR                 output directory (default runs/<pipeline>; with --resume, that DIR)
  --resume DIR              continue the run checkpointed in DIR
  --checkpoint-every N|T    also checkpoint every N steps, or every T (30s, 5m, 1h);
                            default 5m (and always at epoch ends and at the end)
  --validation N            hold the last N training images out as a validation set (fashion-mnist, idx, default)
  --strict                  fail on unreadable samples instead of skipping them
  --overwrite               start afresh in an --out that holds an unfinished run's checkpoint
                            (without it, that is refused: --resume continues the run)
  --no-progress             no progress bar (it is drawn only on a terminal anyway)
  -h, --help                this text (also: fgsgd, fgsgd help)
  -v, --version             the version
`;

const sweepUsage = ({ grids }: Registry) => `usage: fgsgd sweep <grid name or file> --seeds N [options]

Runs \`fgsgd train\` for every configuration of the grid with seeds S..S+N-1, P at a time; runs that
finished before are skipped. Writes DIR/results.json, DIR/results.md, DIR/accuracy.png,
DIR/curves.png and DIR/runs/<configuration>/seed-<s>/.

grids: ${grids.map((g) => g.name).join(', ')}, or a file whose default (or 'grid') export is a Grid

options:
  --seeds N                 seeds per configuration
  --parallel P              trainer processes at a time (default: the number of cores)
  --out DIR                 output directory (default runs/sweep-<grid>)
  --data DIR                passed to every run as --data
  --first-seed S            first seed (default 1)
  --queue URL               run on workers (fgsgd worker) through this Redis queue instead of here:
                            redis://[:PASSWORD@]HOST:PORT[/DB], rediss://... (TLS), or env:NAME;
                            enqueues each unfinished run once and waits for them
  -h, --help                this text
`;

const EVALUATE_USAGE = `usage: fgsgd evaluate <model directory> --data DIR [--backend NAME] [--batch N]

Test loss and accuracy of a trained model (a run's OUT/model: model.json and weights.bin, the
TensorFlow.js LayersModel format) on the test split of the IDX files in DIR.
`;

const MAKE_SHARDS_USAGE = `usage: fgsgd make-shards --from DIR --out DIR [--per-shard N]

Writes WebDataset-style tar shards (<key>.png or the image's own format, and <key>.cls with the
class id) of an IDX dataset (the four Fashion-MNIST/MNIST files) or an image folder (train/ and
test/ class folders, or class folders alone), as train-0000.tar, ... test-0000.tar, ..., and
classes.txt. Serve DIR over HTTP and train with
  fgsgd train image-folder --data 'http://HOST/PATH/train-{0000..NNNN}.tar'
`;

function usage(registry: Registry): string {
  const train = trainUsage(registry);
  return `usage: fgsgd train <pipeline name or file> [options]
       fgsgd sweep <grid name or file> --seeds N [--parallel P] [--out DIR] [--data DIR] [--first-seed S] [--queue URL]
       fgsgd worker --queue URL [--concurrency K] [--lock-seconds S]
       fgsgd evaluate <model directory> --data DIR [--backend NAME] [--batch N]
       fgsgd make-shards --from DIR --out DIR [--per-shard N]
${train.slice(train.indexOf('\n') + 1)}
${sweepUsage(registry)}
${WORKER_USAGE}
${EVALUATE_USAGE}
${MAKE_SHARDS_USAGE}`;
}


const OPTIONS = {
  data: { type: 'string' },
  epochs: { type: 'string' },
  'max-steps': { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  optimizer: { type: 'string' },
  grouping: { type: 'string' },
  manifolds: { type: 'string' },
  model: { type: 'string' },
  lr: { type: 'string' },
  schedule: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  bound: { type: 'string' },
  radius: { type: 'string' },
  'radius-layer': { type: 'string', multiple: true },
  'step-rule': { type: 'string' },
  'group-size': { type: 'string' },
  'lambda-floor': { type: 'string' },
  'lambda-every': { type: 'string' },
  swap: { type: 'string', multiple: true },
  batch: { type: 'string' },
  workers: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  validation: { type: 'string' },
  strict: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

/** `--workers N|auto`: 'auto' is resolved by the session, which records the number it used (and --resume keeps it). */
function workerCount(v: string | undefined): number | 'auto' | undefined {
  if (v === undefined || v === 'auto') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--workers must be a positive integer or 'auto', got '${v}'`);
  return n;
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
  return n;
}

function number(name: string, v: string | undefined, ok: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new UsageError(`--${name} must be ${what}, got '${v}'`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, valid: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(valid as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${valid.join(', ')}, got '${v}'`);
  return v as T;
}

/**
 * `--lr -1` as `--lr=-1`: node's parseArgs takes a value that starts with '-' for an option and
 * refuses it as ambiguous; a negative number after an option that takes a value is its value, and
 * the option's own check then says what it accepts.
 */
function joinNegativeValues(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (name && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** parseArgs with the project's one-line usage errors. */
function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const opt = /'([^']+)'/.exec(err.message)?.[1] ?? 'unknown';
      throw new UsageError(`unknown option '${opt}' (see fgsgd --help)`);
    }
    throw new UsageError(err.message.split('\n')[0]!);
  }
}

/** Parse `train ...` arguments into run options (only what was given). */
export function parseTrainArgs(argv: string[]): { help: boolean; options: Partial<RunOptions> } {
  const { values: v, positionals } = parse(argv, OPTIONS);
  if (v.help) return { help: true, options: {} };
  const [command, pipeline, ...extra] = positionals;
  if (command !== 'train') {
    throw new UsageError(command ? `unknown command '${command}'; the commands are 'train', 'sweep', 'evaluate' and 'make-shards'` : `missing command; usage: fgsgd train <pipeline> [options]`);
  }
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (!pipeline && !v.resume) throw new UsageError('missing pipeline name or file; usage: fgsgd train <pipeline> [options]');
  const usage = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  // The optimizer's settings are parsed as --swap parses them (src/train/optimizer_options.ts).
  const setting = <K extends OptimizerSetting>(name: K, text: string | undefined) => {
    try {
      return parseOptimizerSetting(name, text);
    } catch (e) {
      throw new UsageError(`--${(e as Error).message}`);
    }
  };
  if (v.radius !== undefined && v.bound !== undefined) throw new UsageError(`--bound B is --radius bound:B; give one of them`);
  const radiusLayers = v['radius-layer'] ? usage(() => parseRadiusLayers(v['radius-layer']!.flatMap((x) => x.split(',')))) : undefined;
  const options: Partial<RunOptions> = {
    pipeline,
    data: v.data,
    epochs: positiveInt('epochs', v.epochs),
    maxSteps: positiveInt('max-steps', v['max-steps']),
    seed: int('seed', v.seed),
    backend: oneOf('backend', v.backend, BACKEND_NAMES),
    optimizer: setting('optimizer', v.optimizer),
    grouping: setting('grouping', v.grouping),
    manifolds: setting('manifolds', v.manifolds),
    model: oneOf('model', v.model, MODEL_NAMES),
    lr: setting('lr', v.lr),
    schedule: oneOf('schedule', v.schedule, SCHEDULE_NAMES),
    momentum: setting('momentum', v.momentum),
    weightDecay: setting('weight-decay', v['weight-decay']),
    bound: number('bound', v.bound, (n) => n > 0, 'a positive number'),
    radius: setting('radius', v.radius),
    radiusLayers,
    stepRule: setting('step-rule', v['step-rule']),
    groupSize: setting('group-size', v['group-size']),
    lambdaFloor: number('lambda-floor', v['lambda-floor'], (n) => n > 0, 'a positive number'),
    lambdaEvery: positiveInt('lambda-every', v['lambda-every']),
    swaps: v.swap ? usage(() => v.swap!.map(parseSwap).sort((a, b) => a.step - b.step)) : undefined,
    batch: positiveInt('batch', v.batch),
    workers: workerCount(v.workers),
    out: v.out,
    resume: v.resume,
    checkpointEvery: v['checkpoint-every'] === undefined ? undefined : usage(() => (parseCheckpointEvery(v['checkpoint-every']!), v['checkpoint-every']!)),
    validation: positiveInt('validation', v.validation),
    strict: v.strict,
    overwrite: v.overwrite,
    progress: v['no-progress'] ? false : undefined,
  };
  return { help: false, options };
}

const SWEEP_OPTIONS = {
  seeds: { type: 'string' },
  parallel: { type: 'string' },
  out: { type: 'string' },
  data: { type: 'string' },
  'first-seed': { type: 'string' },
  queue: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface SweepArgs {
  grid: string;
  seeds: number;
  parallel?: number;
  out?: string;
  data?: string;
  firstSeed?: number;
  /** `--queue`: run on workers through this Redis queue (src/sweep/queue.ts). */
  queue?: QueueTarget;
}

/** Parse `sweep ...` arguments. */
export function parseSweepArgs(argv: string[]): { help: boolean; options?: SweepArgs } {
  const { values: v, positionals } = parse(argv, SWEEP_OPTIONS);
  if (v.help) return { help: true };
  const [command, grid, ...extra] = positionals;
  if (command !== 'sweep') throw new UsageError(`expected the command 'sweep', got '${command ?? ''}'`);
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (!grid) throw new UsageError('missing grid name or file; usage: fgsgd sweep <grid> --seeds N [options]');
  const seeds = positiveInt('seeds', v.seeds);
  if (seeds === undefined) throw new UsageError('missing --seeds N (seeds per configuration)');
  return {
    help: false,
    options: {
      grid, seeds, parallel: positiveInt('parallel', v.parallel), out: v.out, data: v.data, firstSeed: int('first-seed', v['first-seed']),
      ...(v.queue !== undefined ? { queue: parseQueue(v.queue) } : {}),
    },
  };
}

/** The arguments with the value of --queue (a URL that may hold a password) redacted. */
function redactQueueArgs(argv: readonly string[]): string[] {
  return argv.map((a, i) => (argv[i - 1] === '--queue' ? redactUrl(a) : a.startsWith('--queue=') ? `--queue=${redactUrl(a.slice(8))}` : a));
}

/**
 * Under a queue worker (src/sweep/run.ts `runOne`), exit at once if the worker dies: its job goes
 * to another worker, which resumes the run from its last checkpoint, and this process must not
 * write into the same folder meanwhile.
 */
function watchParent(): void {
  const parent = process.env[PARENT_PID_ENV];
  if (!parent) return;
  setInterval(() => {
    if (String(process.ppid) !== parent) process.kill(process.pid, 'SIGKILL');
  }, 250).unref();
}

const WORKER_OPTIONS = {
  queue: { type: 'string' },
  concurrency: { type: 'string' },
  'lock-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const WORKER_USAGE = `usage: fgsgd worker --queue URL [--concurrency K] [--lock-seconds S]

Runs the sweep jobs of a Redis queue (fgsgd sweep ... --queue URL), K at a time, each as an
\`fgsgd train\` process in the run's folder, which must be at the same path on this machine as
where the sweep was started (a shared filesystem). On SIGTERM or Ctrl-C its trainers checkpoint
and stop, their jobs go back to the queue, and it exits. A worker that dies loses its jobs to the
others after about S seconds; they resume from the runs' checkpoints.

options:
  --queue URL               redis://[:PASSWORD@]HOST:PORT[/DB], rediss://... (TLS), or env:NAME
                            (the URL in the environment variable NAME)
  --concurrency K           runs at a time (default 1)
  --lock-seconds S          how long a job stays locked without renewal (default ${DEFAULT_LOCK_SECONDS})
  -h, --help                this text
`;

/** \`fgsgd worker --queue URL\`: take sweep jobs until SIGTERM or Ctrl-C. */
async function workerCommand(argv: string[]): Promise<number> {
  return command(
    () => {
      const { values: v, positionals } = parse(argv, WORKER_OPTIONS);
      if (v.help) return (process.stdout.write(WORKER_USAGE), null);
      if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
      if (v.queue === undefined) throw new UsageError('missing --queue URL (redis://HOST:PORT, or env:NAME)');
      return {
        target: parseQueue(v.queue),
        concurrency: positiveInt('concurrency', v.concurrency) ?? 1,
        lockSeconds: positiveInt('lock-seconds', v['lock-seconds']) ?? DEFAULT_LOCK_SECONDS,
      };
    },
    async (o) => {
      const controller = new AbortController();
      process.stdout.write(`fgsgd worker: taking runs from ${o.target.redacted}, ${o.concurrency} at a time (Ctrl-C or SIGTERM to stop)\n`);
      await withSignals(
        (signal) => {
          process.stderr.write(`fgsgd worker: ${signal}: its trainers checkpoint and stop, their runs go back to the queue (again to abort)\n`);
          controller.abort();
        },
        () =>
          runWorker({
            ...o,
            signal: controller.signal,
            onJob: (e) =>
              process.stdout.write(
                e.type === 'start' ? `${e.runId}: started\n` : `${e.runId}: ${e.ok ? 'finished' : e.reason} (${e.seconds!.toFixed(0)} s)\n`,
              ),
          }),
      );
    },
  );
}

/** A shell-safe rendering of one argument, for the recorded command line. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Catch Ctrl-C and SIGTERM while `fn` runs: the first calls `onFirst`, the second exits at once. */
async function withSignals<T>(onFirst: (signal: NodeJS.Signals) => void, fn: () => Promise<T>): Promise<T> {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`fgsgd: ${signal} again: exiting now\n`);
      process.exit(130);
    }
    onFirst(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function sweep(argv: string[], registry: Registry): Promise<number> {
  let args: SweepArgs;
  try {
    const parsed = parseSweepArgs(argv);
    if (parsed.help) {
      process.stdout.write(sweepUsage(registry));
      return 0;
    }
    args = parsed.options!;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`fgsgd: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const fail = (message: string) => {
    process.stderr.write(`fgsgd: ${message.split('\n')[0]}\n`);
    return 1;
  };
  try {
    const grid = await loadGrid(args.grid, registry.grids);
    // Every run's options must be ones `fgsgd train` takes: a grid with a typo fails here, not in
    // every one of its runs.
    const runs = expandGrid(grid, args.seeds, args.firstSeed ?? 1);
    for (const run of runs) {
      try {
        parseTrainArgs(run.argv);
      } catch (e) {
        if (e instanceof UsageError) return fail(`grid '${grid.name}', run ${run.id}: ${e.message}`);
        throw e;
      }
    }
    if (args.data !== undefined && !existsSync(args.data)) return fail(`--data ${args.data} does not exist`);
    const out = args.out ?? `runs/sweep-${grid.name}`;
    const controller = new AbortController();
    const result = await withSignals(
      (signal) => {
        process.stderr.write(`fgsgd: ${signal}: stopping the sweep; running trainers checkpoint and stop (again to abort)\n`);
        controller.abort();
      },
      () =>
        runSweep({
          grid,
          seeds: args.seeds,
          firstSeed: args.firstSeed,
          parallel: args.parallel,
          out,
          extraArgs: args.data !== undefined ? ['--data', args.data] : [],
          commandLine: ['fgsgd', ...redactQueueArgs(argv)].map(shellQuote).join(' '),
          queue: args.queue,
          signal: controller.signal,
          onRun: (e) => {
            if (e.type === 'end') {
              const what = e.ok ? `test accuracy ${e.testAccuracy?.toFixed(4) ?? 'n/a'}` : e.reason ? `failed: ${e.reason}` : `failed (exit ${e.code ?? 'by signal'}; see ${e.log})`;
              process.stdout.write(`[${e.count}/${e.of}] ${e.id}: ${what} (${e.seconds!.toFixed(0)} s)\n`);
            }
          },
        }),
    );
    const total = runs.length;
    process.stdout.write(
      `sweep '${grid.name}': ${result.ran.length + result.skipped.length} of ${total} runs finished ` +
        `(${result.ran.length} now, ${result.skipped.length} before) — ${out}/results.md\n`,
    );
    if (controller.signal.aborted) return (fail(`sweep interrupted; run the same command again to continue`), 130);
    if (result.failed.length) {
      return fail(
        `${result.failed.length} of ${total} runs failed: ${result.failed.map((f) => `${f.id} (${f.log})`).join(', ')}; run the same command again to retry them`,
      );
    }
    return 0;
  } catch (e) {
    log.debug({ err: e }, 'sweep failed');
    return fail(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Run the CLI with `argv` (without node and the script) over `registry`'s pipelines and grids
 * (bin/fgsgd.js gives it the built-in ones, pipelines/index.ts). Returns the exit code; writes the
 * one-line reason of a failure to stderr.
 */
export async function main(argv: string[], registry: Registry): Promise<number> {
  // The terminal gets results and one-line reasons; the backend choice and other details are
  // logged (as JSON on stderr) only when FGSGD_LOG_LEVEL asks for them.
  if (process.env.FGSGD_LOG_LEVEL === undefined) log.level = 'warn';
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    process.stdout.write(`fgsgd ${packageVersion()}\n`);
    return 0;
  }
  // The command is the first argument that is not an option.
  const command = argv.find((a) => !a.startsWith('-'));
  if (argv.length === 0 || (argv.length === 1 && command === 'help')) {
    process.stdout.write(usage(registry));
    return 0;
  }
  watchParent();
  if (command === 'sweep') return sweep(argv, registry);
  if (command === 'worker') return workerCommand(argv);
  if (command === 'evaluate') return evaluateCommand(argv, registry);
  if (command === 'make-shards') return makeShardsCommand(argv);
  let given: Partial<RunOptions>;
  try {
    const parsed = parseTrainArgs(argv);
    if (parsed.help) {
      process.stdout.write(usage(registry));
      return 0;
    }
    given = parsed.options;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`fgsgd: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  const interrupt = new Subject<string>();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`fgsgd: ${signal} again: exiting without a final checkpoint\n`);
      process.exit(130);
    }
    process.stderr.write(`fgsgd: ${signal}: stopping at the next step boundary and writing a final checkpoint (again to abort)\n`);
    interrupt.next(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const options: RunOptions = given.resume
      ? await resolveResume({ ...given, resume: given.resume })
      : // A fresh run uses every core unless told otherwise (--workers); a resumed one keeps its number.
        ({ ...given, workers: given.workers ?? 'auto', out: given.out ?? `runs/${pipelineLabel(given.pipeline!)}` } as RunOptions);
    if (!given.resume && !given.overwrite) assertNoUnfinishedRun(options.out);
    const pipeline = await loadPipeline(options.pipeline!, registry.pipelines);
    const { summary, exitCode } = await runPipeline(pipeline, { ...options, interrupt });
    const acc = summary.testAccuracy === null ? 'n/a' : summary.testAccuracy.toFixed(4);
    const loss = summary.testLoss === null ? 'n/a' : summary.testLoss.toFixed(4);
    process.stdout.write(
      `test accuracy: ${acc} (test loss ${loss}; ${summary.epochs} epochs, ${summary.steps} steps, ` +
        `${summary.imagesPerSecond.toFixed(0)} images/s on ${summary.backend}) — ${join(options.out, 'summary.json')}, ${join(options.out, 'report.md')}\n`,
    );
    if (exitCode !== 0) {
      const kept = summary.checkpoint ? ` (checkpoint: ${summary.checkpoint.path}, step ${summary.checkpoint.step})` : '';
      process.stderr.write(`fgsgd: ${summary.message}${kept}\n`);
    }
    return exitCode;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log.debug({ err: e }, 'run failed');
    process.stderr.write(`fgsgd: ${message.split('\n')[0]}\n`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const EVALUATE_OPTIONS = {
  data: { type: 'string' },
  backend: { type: 'string' },
  batch: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `fgsgd evaluate <model dir> --data DIR`: prints the test accuracy and loss. */
/**
 * A small command: `parse` turns argv into options (null after printing its help; a UsageError
 * exits 2), `run` does the work (any error exits 1); each failure prints one line on stderr.
 */
async function command<O>(parse: () => O | null, run: (o: O) => Promise<void>): Promise<number> {
  let o: O | null;
  try {
    o = parse();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`fgsgd: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (o === null) return 0;
  try {
    await run(o);
    return 0;
  } catch (e) {
    process.stderr.write(`fgsgd: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
    return 1;
  }
}

async function evaluateCommand(argv: string[], registry: Registry): Promise<number> {
  return command(
    () => {
      const { values: v, positionals } = parse(argv, EVALUATE_OPTIONS);
      if (v.help) return (process.stdout.write(EVALUATE_USAGE), null);
      const [, model, ...extra] = positionals;
      if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
      if (!model) throw new UsageError('missing model directory; usage: fgsgd evaluate <model directory> --data DIR');
      if (!v.data) throw new UsageError('missing --data DIR (the directory with the IDX test files)');
      return { model, data: v.data, backend: oneOf('backend', v.backend, BACKEND_NAMES), batch: positiveInt('batch', v.batch) };
    },
    async (o) => {
      const r = await registry.evaluate(o);
      process.stdout.write(`test accuracy: ${r.testAccuracy.toFixed(4)} (test loss ${r.testLoss.toFixed(4)}; ${r.images} images on ${r.backend}) — ${o.model}\n`);
    },
  );
}

const MAKE_SHARDS_OPTIONS = {
  from: { type: 'string' },
  out: { type: 'string' },
  'per-shard': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `fgsgd make-shards --from DIR --out DIR`: prints what it wrote and the --data patterns. */
async function makeShardsCommand(argv: string[]): Promise<number> {
  return command(
    () => {
      const { values: v, positionals } = parse(argv, MAKE_SHARDS_OPTIONS);
      if (v.help) return (process.stdout.write(MAKE_SHARDS_USAGE), null);
      if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
      if (!v.from || !v.out) throw new UsageError('missing --from DIR or --out DIR; usage: fgsgd make-shards --from DIR --out DIR [--per-shard N]');
      return { from: v.from, out: v.out, perShard: positiveInt('per-shard', v['per-shard']) };
    },
    async (o) => {
      const r = await makeShards(o.from, o.out, o.perShard);
      process.stdout.write(
        `${r.train.samples} training samples in ${r.train.shards.length} shards, ${r.test.samples} test samples in ${r.test.shards.length}, ` +
          `${r.classes.length} classes — ${o.out}\ntrain with: --data '${r.patterns.train}'\n`,
      );
    },
  );
}

function pipelineLabel(p: string): string {
  return p.replace(/^.*[/\\]/, '').replace(/\.[cm]?[jt]s$/, '');
}
