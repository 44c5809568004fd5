/**
 * The `fgsgd` command line (bin/fgsgd.js).
 *
 *     fgsgd train <pipeline name or file> [--data DIR] [--epochs N] [--max-steps N] [--seed S]
 *           [--backend auto|tensorflow-gpu|tensorflow|wasm|cpu] [--optimizer sgd|fgsgd]
 *           [--grouping PI|PO|PIO] [--manifolds Sp+Ob+St+Euc] [--lr X] [--momentum X] [--batch N]
 *           [--out DIR] [--resume DIR] [--checkpoint-every N] [--strict] [--no-progress]
 *
 * It writes DIR/metrics.jsonl (one pino JSON line per event), DIR/checkpoint.ckpt,
 * DIR/summary.json and DIR/report.md, and prints the test accuracy on stdout.
 *
 * Exit codes: 0 when the run completed (or stopped at --max-steps); 2 for a usage error (unknown
 * option, bad value); 130 when interrupted by Ctrl-C or SIGTERM (after a final checkpoint); 1 for
 * any other failure (a non-finite loss, unreadable data, ...). Every failure prints one line on
 * stderr saying why.
 */
import { parseArgs } from 'node:util';
import { Subject } from 'rxjs';
import { BACKEND_NAMES } from './backend/index.js';
import { STRATEGIES } from './fgsgd/grouping.js';
import { parseManifoldMix } from './fgsgd/grouping.js';
import { log } from './log.js';
import { loadPipeline, PIPELINES } from './train/pipelines.js';
import { resolveResume, runPipeline, type RunOptions } from './train/run.js';

const USAGE = `usage: fgsgd train <pipeline name or file> [options]

pipelines: ${PIPELINES.map((p) => `${p.name} (${p.description})`).join('; ')}

options:
  --data DIR                the dataset directory
  --epochs N                epochs to train
  --max-steps N             stop after N optimizer steps in all
  --seed S                  seed of the model, data order and grouping (default 1)
  --backend NAME            ${BACKEND_NAMES.join('|')} (default auto)
  --optimizer NAME          sgd|fgsgd
  --grouping NAME           ${STRATEGIES.join('|')} (FG-SGD)
  --manifolds MIX           e.g. Sp+Ob+St+Euc (FG-SGD)
  --lr X                    learning rate
  --momentum X              momentum in [0, 1)
  --batch N                 batch size
  --out DIR                 output directory (default runs/<pipeline>; with --resume, that DIR)
  --resume DIR              continue the run checkpointed in DIR
  --checkpoint-every N      also checkpoint every N steps
  --strict                  fail on unreadable samples instead of skipping them
  --no-progress             no progress bar (it is drawn only on a terminal anyway)
  -h, --help                this text
`;

class UsageError extends Error {}

const OPTIONS = {
  data: { type: 'string' },
  epochs: { type: 'string' },
  'max-steps': { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  optimizer: { type: 'string' },
  grouping: { type: 'string' },
  manifolds: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  batch: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  strict: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
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

/** Parse `train ...` arguments into run options (only what was given). */
export function parseTrainArgs(argv: string[]): { help: boolean; options: Partial<RunOptions> } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const opt = /'([^']+)'/.exec(err.message)?.[1] ?? 'unknown';
      throw new UsageError(`unknown option '${opt}' (see fgsgd --help)`);
    }
    throw new UsageError(err.message.split('\n')[0]!);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { help: true, options: {} };
  const [command, pipeline, ...extra] = positionals;
  if (command !== 'train') throw new UsageError(command ? `unknown command '${command}'; the command is 'train'` : `missing command; usage: fgsgd train <pipeline> [options]`);
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (!pipeline && !v.resume) throw new UsageError('missing pipeline name or file; usage: fgsgd train <pipeline> [options]');
  if (v.manifolds !== undefined) {
    try {
      parseManifoldMix(v.manifolds, '--manifolds');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const options: Partial<RunOptions> = {
    pipeline,
    data: v.data,
    epochs: positiveInt('epochs', v.epochs),
    maxSteps: positiveInt('max-steps', v['max-steps']),
    seed: int('seed', v.seed),
    backend: oneOf('backend', v.backend, BACKEND_NAMES),
    optimizer: oneOf('optimizer', v.optimizer, ['sgd', 'fgsgd'] as const),
    grouping: oneOf('grouping', v.grouping, STRATEGIES),
    manifolds: v.manifolds,
    lr: number('lr', v.lr, (n) => n > 0, 'a positive number'),
    momentum: number('momentum', v.momentum, (n) => n >= 0 && n < 1, 'a number in [0, 1)'),
    batch: positiveInt('batch', v.batch),
    out: v.out,
    resume: v.resume,
    checkpointEvery: positiveInt('checkpoint-every', v['checkpoint-every']),
    strict: v.strict,
    progress: v['no-progress'] ? false : undefined,
  };
  return { help: false, options };
}

/**
 * Run the CLI with `argv` (without node and the script). Returns the exit code; writes the
 * one-line reason of a failure to stderr.
 */
export async function main(argv: string[]): Promise<number> {
  // The terminal gets results and one-line reasons; the backend choice and other details are
  // logged (as JSON on stderr) only when FGSGD_LOG_LEVEL asks for them.
  if (process.env.FGSGD_LOG_LEVEL === undefined) log.level = 'warn';
  let given: Partial<RunOptions>;
  try {
    const parsed = parseTrainArgs(argv);
    if (parsed.help) {
      process.stdout.write(USAGE);
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
      : ({ ...given, out: given.out ?? `runs/${pipelineLabel(given.pipeline!)}` } as RunOptions);
    const pipeline = await loadPipeline(options.pipeline!);
    const { summary, exitCode } = await runPipeline(pipeline, { ...options, interrupt });
    const acc = summary.testAccuracy === null ? 'n/a' : summary.testAccuracy.toFixed(4);
    const loss = summary.testLoss === null ? 'n/a' : summary.testLoss.toFixed(4);
    process.stdout.write(
      `test accuracy: ${acc} (test loss ${loss}; ${summary.epochs} epochs, ${summary.steps} steps, ` +
        `${summary.imagesPerSecond.toFixed(0)} images/s on ${summary.backend}) — ${options.out}/summary.json\n`,
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
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function pipelineLabel(p: string): string {
  return p.replace(/^.*[/\\]/, '').replace(/\.[cm]?[jt]s$/, '');
}
