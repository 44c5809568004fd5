/**
 * Sweeps across machines on BullMQ (a Redis-backed job queue): `fgsgd sweep --queue URL` enqueues
 * one job per run (configuration × seed) and waits; `fgsgd worker --queue URL` runs jobs on any
 * machine that sees the sweep's output folder at the same path (a shared filesystem), each as a
 * `fgsgd train` process that checkpoints into the run's folder.
 *
 * - Idempotent: a job's id is derived from the output folder and the run id, so enqueueing the same
 *   sweep again adds nothing that is already queued, running or done. A run that failed is retried
 *   when the sweep is started again, as a local sweep does.
 * - A worker killed mid-run: its job's lock expires, BullMQ's stalled-job check (run by the other
 *   workers) puts it back, and the next worker resumes the run from its checkpoint. The trainer of
 *   a killed worker notices that its parent is gone and exits at once, without writing anything.
 * - A worker stopped with SIGTERM or Ctrl-C: its trainers checkpoint and stop, their jobs go back
 *   to the queue without counting as an attempt, and it exits.
 * - A run that fails (a non-finite loss, bad data): its job fails at once with the trainer's
 *   reason, and the sweep lists it in results.md; it is not retried until the sweep is run again.
 * - Redis restarted: the connections reconnect by themselves. Redis must persist its data
 *   (`appendonly yes`), or a restart loses the queue.
 *
 * The Redis URL may carry a password (`redis://:PASSWORD@HOST:PORT`, `rediss://` for TLS), or come
 * from an environment variable (`--queue env:NAME`); it is never logged or written with the
 * password in it (`redactUrl`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
// bullmq is loaded when a queue is used, not by every command line that imports this module.
import type { ConnectionOptions, Job } from 'bullmq';
import { checkpointPath } from '../checkpoint.js';
import { log } from '../log.js';
import { UsageError } from '../usage.js';
import { readSummary, runOne, type FailedRun, type RunProgress } from './run.js';
import type { RunSummary } from './aggregate.js';
import type { Run } from './grid.js';

/** The queue every sweep and worker uses (one Redis database may serve many sweeps: job ids are per output folder). */
export const QUEUE_NAME = 'fgsgd-runs';

/** Default seconds a worker holds a job's lock between renewals; a killed worker's job is taken back after about this long. */
export const DEFAULT_LOCK_SECONDS = 30;

/** A stalled job (its worker died) is put back this many times, then failed. */
export const MAX_STALLED = 3;

/** What a job carries: everything a worker needs to run one `fgsgd train`. */
export interface RunJob {
  runId: string;
  /** The run's folder, absolute (the same path on every machine). */
  dir: string;
  /** The working directory the sweep was started in (relative paths in `argv` resolve there). */
  cwd: string;
  /** `fgsgd train` arguments, without --out and --resume. */
  argv: string[];
}

export interface QueueTarget {
  /** The URL with any password replaced, for logs and files. */
  redacted: string;
  connection: ConnectionOptions;
}

/** `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '<unparseable queue URL>';
  }
}

/**
 * `--queue` to connection options: a `redis://` or `rediss://` (TLS) URL, or `env:NAME` for a URL
 * in the environment variable NAME. @throws UsageError naming what is wrong, never the password.
 */
export function parseQueue(spec: string, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  let url = spec;
  if (spec.startsWith('env:')) {
    const name = spec.slice(4);
    const value = env[name];
    if (!value) throw new UsageError(`--queue ${spec}: the environment variable ${name} is not set; set it to redis://[:PASSWORD@]HOST:PORT`);
    url = value;
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--queue: '${redactUrl(url)}' is not a URL; give redis://[:PASSWORD@]HOST:PORT[/DB], rediss://... for TLS, or env:NAME`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`--queue: the scheme must be redis:// or rediss:// (TLS), got '${u.protocol}//'`);
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new UsageError(`--queue: '${u.pathname.slice(1)}' is not a database number`);
  const connection: ConnectionOptions = {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: { servername: u.hostname } } : {}),
    // Workers block on Redis; BullMQ needs commands to wait for a reconnection, not fail.
    maxRetriesPerRequest: null,
  };
  return { redacted: redactUrl(url), connection };
}

/** The job id of a run: the same sweep (output folder) and run always give the same id. */
export function jobIdOf(dir: string, runId: string): string {
  const folder = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16);
  // BullMQ ids may not contain ':' nor be integers.
  return `run-${folder}-${runId.replace(/[:/]/g, '_')}`;
}

export interface QueueSweepOptions {
  target: QueueTarget;
  /** The sweep's output folder. */
  out: string;
  /** Runs to do (those not finished before), and the arguments every run gets. */
  runs: readonly Run[];
  extraArgs: readonly string[];
  signal?: AbortSignal;
  onRun?: (e: RunProgress) => void;
  /** How often the sweep looks at its jobs (ms). */
  pollMs?: number;
}

/**
 * Enqueue the runs (skipping jobs already queued, running or done; retrying failed ones) and wait
 * until each has completed or failed. Returns, per run, its summary or its failure.
 */
export async function sweepOnQueue(o: QueueSweepOptions): Promise<{ done: Map<string, RunSummary>; failed: FailedRun[] }> {
  const { Queue } = await import('bullmq');
  const queue = new Queue<RunJob>(QUEUE_NAME, { connection: o.target.connection });
  queue.on('error', (e: Error) => log.warn({ queue: o.target.redacted, err: e.message }, 'queue: connection error; retrying'));
  try {
    const jobs = new Map<string, string>();
    for (const run of o.runs) {
      const dir = resolve(o.out, 'runs', run.id);
      await mkdir(dir, { recursive: true });
      const jobId = jobIdOf(o.out, run.id);
      jobs.set(run.id, jobId);
      const existing = await queue.getJob(jobId);
      // A failed job is retried by starting the sweep again, as locally.
      if (existing && (await existing.getState()) === 'failed') await existing.retry('failed');
      else if (!existing) {
        const data: RunJob = { runId: run.id, dir, cwd: process.cwd(), argv: [...run.argv, ...o.extraArgs] };
        await queue.add('train', data, { jobId, attempts: 1, removeOnComplete: false, removeOnFail: false });
      }
    }
    log.info({ queue: o.target.redacted, runs: o.runs.length }, 'sweep: runs enqueued; waiting for workers');
    const done = new Map<string, RunSummary>();
    const failed: FailedRun[] = [];
    const open = new Set(o.runs.map((r) => r.id));
    let ended = 0;
    const started = new Set<string>();
    while (open.size > 0 && !o.signal?.aborted) {
      for (const id of [...open]) {
        const job = await queue.getJob(jobs.get(id)!);
        const state = job ? await job.getState() : 'unknown';
        if (state === 'active' && !started.has(id)) {
          started.add(id);
          o.onRun?.({ type: 'start', id, count: started.size, of: o.runs.length });
        }
        if (state !== 'completed' && state !== 'failed') continue;
        open.delete(id);
        const dir = resolve(o.out, 'runs', id);
        const summary = state === 'completed' ? await readSummary(dir) : null;
        const seconds = job?.finishedOn && job.processedOn ? (job.finishedOn - job.processedOn) / 1000 : 0;
        if (summary) done.set(id, summary);
        else failed.push({ id, code: null, stderrTail: job?.failedReason ?? 'no summary', log: join(dir, 'stderr.log') });
        o.onRun?.({
          type: 'end', id, count: ++ended, of: o.runs.length, ok: summary !== null, seconds,
          testAccuracy: summary?.testAccuracy ?? null, ...(summary ? {} : { code: null, log: join(dir, 'stderr.log'), reason: job?.failedReason }),
        });
      }
      if (open.size > 0) await sleep(o.pollMs ?? 1000, o.signal);
    }
    return { done, failed };
  } finally {
    await queue.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      r();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface WorkerOptions {
  target: QueueTarget;
  /** Runs at a time on this machine (default 1). */
  concurrency?: number;
  /** The trainer command (default: this project's bin/fgsgd.js under node). */
  command?: string[];
  /** Seconds a job's lock lasts between renewals (default {@link DEFAULT_LOCK_SECONDS}). */
  lockSeconds?: number;
  /** Aborting stops the worker: its trainers checkpoint and stop, their jobs go back to the queue. */
  signal?: AbortSignal;
  onJob?: (e: { type: 'start' | 'end'; runId: string; ok?: boolean; seconds?: number; reason?: string }) => void;
}

/** Take jobs until `signal` aborts; resolves once the worker has closed. */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const { DelayedError, UnrecoverableError, Worker } = await import('bullmq');
  const lockMs = (o.lockSeconds ?? DEFAULT_LOCK_SECONDS) * 1000;
  const stopping = new AbortController();
  const processor = async (job: Job<RunJob>, token?: string) => {
    const { runId, dir, cwd, argv } = job.data;
    const t0 = Date.now();
    o.onJob?.({ type: 'start', runId });
    await mkdir(dir, { recursive: true });
    const resume = existsSync(checkpointPath(dir)) ? ['--resume', dir] : [];
    const { code, stderrTail } = await runOne(o.command, [...argv, ...resume], dir, stopping.signal, { cwd, exitWithParent: true });
    const seconds = (Date.now() - t0) / 1000;
    if (stopping.signal.aborted) {
      // Stopped by SIGTERM: the trainer checkpointed; back to the queue, not an attempt.
      await job.moveToDelayed(Date.now(), token);
      o.onJob?.({ type: 'end', runId, ok: false, seconds, reason: 'stopped; back in the queue' });
      throw new DelayedError();
    }
    const summary = code === 0 ? await readSummary(dir) : null;
    if (!summary) {
      const reason = `run ${runId} failed (exit ${code ?? 'by signal'}): ${stderrTail || 'no output'}; see ${join(dir, 'stderr.log')}`;
      o.onJob?.({ type: 'end', runId, ok: false, seconds, reason });
      throw new UnrecoverableError(reason);
    }
    o.onJob?.({ type: 'end', runId, ok: true, seconds });
    return { testAccuracy: summary.testAccuracy, seconds };
  };
  const worker = new Worker<RunJob>(QUEUE_NAME, processor, {
    connection: o.target.connection,
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: MAX_STALLED,
  });
  worker.on('error', (e: Error) => log.warn({ queue: o.target.redacted, err: e.message }, 'worker: connection error; retrying'));
  await new Promise<void>((resolveStop) => {
    const stop = () => {
      stopping.abort();
      // close() waits for the running jobs, which end once their trainers have checkpointed.
      void worker.close().then(resolveStop, resolveStop);
    };
    if (o.signal?.aborted) stop();
    else o.signal?.addEventListener('abort', stop, { once: true });
  });
}
