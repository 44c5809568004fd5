/**
 * Sweeps on a Redis queue (src/sweep/queue.ts) against a real `redis-server` (Debian's package;
 * `.ci/run` installs it), started by this file on 127.0.0.1 at a free port, with a password:
 * - two workers and one sweep give the local sweep's results, digest for digest, and the password
 *   appears in no output;
 * - an enqueue repeated adds nothing;
 * - a worker SIGKILLed mid-run: another worker resumes the run from its checkpoint, onto the
 *   uninterrupted run's weights, and the dead worker's trainer is gone;
 * - a worker stopped with SIGTERM mid-run: the run goes back to the queue and is finished by
 *   another, onto the same weights;
 * - a run that fails is failed once, with its reason in results.md;
 * - Redis restarted during a sweep: it finishes, every run once.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseQueue, redactUrl, jobIdOf } from '../../src/sweep/queue.js';
import { readCheckpoint } from '../../src/checkpoint.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = 'bin/fgsgd.js';
const PASSWORD = 's3cret-Pa55';

t.test('--queue: URLs, environment variables, TLS and redaction', async (t) => {
  const q = parseQueue(`redis://:${PASSWORD}@10.0.0.5:6380/2`);
  t.match(q.connection, { host: '10.0.0.5', port: 6380, db: 2, password: PASSWORD, maxRetriesPerRequest: null });
  t.equal(q.redacted, 'redis://:***@10.0.0.5:6380/2');
  t.notOk(q.redacted.includes(PASSWORD));
  t.match(parseQueue('rediss://user:pw@cache.example:6390').connection, { username: 'user', password: 'pw', tls: { servername: 'cache.example' } }, 'rediss:// is TLS');
  t.match(parseQueue('env:FGSGD_TEST_QUEUE', { FGSGD_TEST_QUEUE: 'redis://h:1' }).connection, { host: 'h', port: 1 }, 'env:NAME reads the URL from NAME');
  t.throws(() => parseQueue('env:NOPE', {}), { name: 'UsageError', message: /the environment variable NOPE is not set/ });
  t.throws(() => parseQueue(`http://:${PASSWORD}@h:1`), { name: 'UsageError', message: /must be redis:\/\/ or rediss:\/\// });
  t.throws(() => parseQueue('nonsense'), { name: 'UsageError', message: /is not a URL/ });
  t.equal(redactUrl('redis://h:6379'), 'redis://h:6379', 'nothing to hide: unchanged');
  t.equal(jobIdOf('/a/out', 'pio-sp/seed-1'), jobIdOf('/a/out/', 'pio-sp/seed-1'), 'one id per folder and run');
  t.not(jobIdOf('/a/out', 'pio-sp/seed-1'), jobIdOf('/b/out', 'pio-sp/seed-1'));
  t.notMatch(jobIdOf('/a/out', 'x:y/seed-1'), /:/, 'no ":" in job ids');
});

const redisMissing = spawnSync('redis-server', ['--version']).status === 0 ? false : "redis-server is not installed (apt-get install redis-server; .ci/run installs it)";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A redis-server with a password and an append-only file in `dir`; `stop()` shuts it down (saving). */
async function startRedis(dir: string, port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', PASSWORD, '--save', '', '--appendonly', 'yes', '--dir', dir], { stdio: 'ignore' });
  const url = `redis://:${PASSWORD}@127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), '-a', PASSWORD, '--no-auth-warning', 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const tinyGrid = (steps: number, configs: string) => `import type { Grid } from '${process.cwd()}/src/sweep/grid.js';
const grid: Grid = {
  name: 'tiny',
  description: 'The tiny test pipeline.',
  pipeline: 'test/train/tiny-pipeline.ts',
  base: { 'max-steps': ${steps}, batch: 8, epochs: 3, backend: 'wasm', lr: 0.05, momentum: 0.9, 'checkpoint-every': 2 },
  configs: ${configs},
};
export default grid;
`;
const TWO = `[
    { id: 'euclidean', label: 'Euclidean SGD', args: { optimizer: 'sgd', 'weight-decay': 0.0005 } },
    { id: 'pio-sp', label: 'PIO Sp', args: { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp' } },
  ]`;

interface Proc {
  child: ChildProcess;
  out: () => string;
  done: Promise<number | null>;
}

function fgsgd(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, FGSGD_LOG_LEVEL: 'warn', ...env } });
  let text = '';
  child.stdout!.on('data', (b: Buffer) => (text += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (text += b.toString()));
  const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => text, done };
}

const digest = async (dir: string) => JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')).weightsDigest as string;
const RUNS = ['euclidean/seed-1', 'euclidean/seed-2', 'pio-sp/seed-1', 'pio-sp/seed-2'];

async function waitFor(what: string, test: () => boolean | Promise<boolean>, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test('on a real Redis', { skip: redisMissing }, async (t) => {
  const dir = tempDir(t);
  const redis = await startRedis(dir, await freePort());
  t.teardown(() => redis.stop());
  const workers: Proc[] = [];
  const worker = (...extra: string[]) => {
    const w = fgsgd(['worker', '--queue', 'env:FGSGD_TEST_QUEUE', '--lock-seconds', '2', ...extra], { FGSGD_TEST_QUEUE: redis.url });
    workers.push(w);
    return w;
  };
  t.teardown(() => workers.forEach((w) => w.child.exitCode === null && w.child.kill('SIGKILL')));
  await writeFile(join(dir, 'grid.mts'), tinyGrid(6, TWO));

  t.test('two workers and a sweep: the local sweep’s results, digest for digest; the enqueue repeated adds nothing; no password anywhere', async (t) => {
    const local = fgsgd(['sweep', join(dir, 'grid.mts'), '--seeds', '2', '--parallel', '2', '--out', join(dir, 'local')]);
    t.equal(await local.done, 0, local.out());
    // Two sweeps of the same grid and folder before any worker: the jobs are enqueued once.
    const a = fgsgd(['sweep', join(dir, 'grid.mts'), '--seeds', '2', '--queue', redis.url, '--out', join(dir, 'queued')]);
    const b = fgsgd(['sweep', join(dir, 'grid.mts'), '--seeds', '2', '--queue', redis.url, '--out', join(dir, 'queued')]);
    const keys = () => spawnSync('redis-cli', ['-p', new URL(redis.url).port, '-a', PASSWORD, '--no-auth-warning', '--scan', '--pattern', 'bull:fgsgd-runs:run-*'], { encoding: 'utf8' }).stdout.split('\n').filter((k) => /^bull:fgsgd-runs:run-[^:]+$/.test(k));
    await waitFor('4 jobs', () => keys().length >= 4, 30_000);
    await new Promise((r) => setTimeout(r, 1500)); // both sweeps have enqueued by now
    t.equal(keys().length, 4, 'two sweeps, four jobs');
    const [w1, w2] = [worker(), worker()];
    t.equal(await a.done, 0, a.out());
    t.equal(await b.done, 0, b.out());
    t.match(a.out(), /sweep 'tiny': 4 of 4 runs finished \(4 now, 0 before\)/);
    for (const run of RUNS) t.equal(await digest(join(dir, 'queued', 'runs', run)), await digest(join(dir, 'local', 'runs', run)), `${run}: the same weights as the local sweep`);
    const started = (w1.out() + w2.out()).match(/: started/g) ?? [];
    t.equal(started.length, 4, 'each run ran once');
    const results = await readFile(join(dir, 'queued', 'results.md'), 'utf8');
    t.match(results, /redis:\/\/:\*\*\*@127\.0\.0\.1/, 'the command line is recorded, redacted');
    for (const [what, text] of [['results.md', results], ['results.json', await readFile(join(dir, 'queued', 'results.json'), 'utf8')], ['sweep output', a.out()], ['worker output', w1.out() + w2.out()],
      ['a run summary', await readFile(join(dir, 'queued', 'runs', RUNS[0]!, 'summary.json'), 'utf8')]]) {
      t.notOk(text.includes(PASSWORD), `the password is not in the ${what}`);
    }
    for (const w of [w1, w2]) w.child.kill('SIGTERM');
    t.same(await Promise.all([w1.done, w2.done]), [0, 0], 'SIGTERM stops idle workers cleanly');
  });

  t.test('a worker SIGKILLed mid-run: another resumes the run from its checkpoint, onto the uninterrupted weights', async (t) => {
    await writeFile(join(dir, 'long.mts'), tinyGrid(30, `[{ id: 'pio-sp', label: 'PIO Sp', args: { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp' } }]`));
    const local = fgsgd(['sweep', join(dir, 'long.mts'), '--seeds', '1', '--out', join(dir, 'long-local')]);
    t.equal(await local.done, 0, local.out());
    const runDir = join(dir, 'long-queued', 'runs', 'pio-sp', 'seed-1');
    const sweep = fgsgd(['sweep', join(dir, 'long.mts'), '--seeds', '1', '--queue', redis.url, '--out', join(dir, 'long-queued')]);
    const doomed = worker();
    await waitFor('a checkpoint past step 4', async () => existsSync(join(runDir, 'checkpoint.ckpt')) && (await readCheckpoint(runDir).then((c) => c.position.step, () => 0)) >= 4);
    doomed.child.kill('SIGKILL');
    await doomed.done;
    const trainerOf = () => spawnSync('pgrep', ['-f', `--out ${runDir}`], { encoding: 'utf8' }).stdout.trim();
    await waitFor('the dead worker’s trainer to exit', () => trainerOf() === '', 5000);
    t.pass('the dead worker’s trainer exited by itself');
    const heir = worker();
    t.equal(await sweep.done, 0, sweep.out());
    t.match(heir.out(), /pio-sp\/seed-1: started[\s\S]*pio-sp\/seed-1: finished/, 'the other worker took the run over');
    t.equal(await digest(runDir), await digest(join(dir, 'long-local', 'runs', 'pio-sp', 'seed-1')), 'resumed from the checkpoint: the uninterrupted run’s weights');
    heir.child.kill('SIGTERM');
    t.equal(await heir.done, 0, 'SIGTERM stops an idle worker cleanly');
  });

  t.test('a worker stopped with SIGTERM mid-run: its trainer checkpoints, the run goes back to the queue, and another worker finishes it', async (t) => {
    const runDir = join(dir, 'term-queued', 'runs', 'pio-sp', 'seed-1');
    const sweep = fgsgd(['sweep', join(dir, 'long.mts'), '--seeds', '1', '--queue', redis.url, '--out', join(dir, 'term-queued')]);
    const first = worker();
    await waitFor('a checkpoint past step 4', async () => existsSync(join(runDir, 'checkpoint.ckpt')) && (await readCheckpoint(runDir).then((c) => c.position.step, () => 0)) >= 4);
    first.child.kill('SIGTERM');
    t.equal(await first.done, 0, 'the worker exits 0');
    t.match(first.out(), /pio-sp\/seed-1: stopped; back in the queue/);
    const stoppedAt = (await readCheckpoint(runDir)).position.step;
    t.ok(stoppedAt >= 4 && stoppedAt < 30, `its trainer checkpointed at step ${stoppedAt}`);
    const second = worker();
    t.equal(await sweep.done, 0, sweep.out());
    t.equal(await digest(runDir), await digest(join(dir, 'long-local', 'runs', 'pio-sp', 'seed-1')), 'resumed: the uninterrupted run’s weights');
    second.child.kill('SIGTERM');
    await second.done;
  });

  t.test('a run that fails is failed once, with its reason in results.md', async (t) => {
    await writeFile(join(dir, 'bad.mts'), tinyGrid(6, `[{ id: 'diverges', label: 'lr 1e30', args: { optimizer: 'sgd', lr: 1e30 } }]`));
    const w = worker();
    const sweep = fgsgd(['sweep', join(dir, 'bad.mts'), '--seeds', '1', '--queue', redis.url, '--out', join(dir, 'bad')]);
    t.equal(await sweep.done, 1, 'the sweep exits 1, as a local sweep with a failed run');
    t.match(sweep.out(), /diverges\/seed-1: failed: run diverges\/seed-1 failed \(exit 1\)/);
    t.match(await readFile(join(dir, 'bad', 'results.md'), 'utf8'), /Failed runs[\s\S]*`diverges\/seed-1`: .*(not finite|non-finite|NaN)/i, 'results.md gives the reason');
    t.equal((w.out().match(/diverges\/seed-1: started/g) ?? []).length, 1, 'not retried');
    w.child.kill('SIGTERM');
    await w.done;
  });

  t.test('Redis restarted during a sweep: it finishes, every run once', async (t) => {
    const w = worker();
    const sweep = fgsgd(['sweep', join(dir, 'grid.mts'), '--seeds', '2', '--queue', redis.url, '--out', join(dir, 'restart')]);
    await waitFor('the first run to finish', () => existsSync(join(dir, 'restart', 'runs', 'euclidean', 'seed-1', 'summary.json')));
    const port = Number(new URL(redis.url).port);
    await redis.stop();
    const again = await startRedis(dir, port);
    t.teardown(() => again.stop());
    t.equal(await sweep.done, 0, sweep.out());
    for (const run of RUNS) t.equal(await digest(join(dir, 'restart', 'runs', run)), await digest(join(dir, 'local', 'runs', run)), `${run}: the local sweep's weights`);
    const finished = w.out().match(/: finished/g) ?? [];
    t.equal(finished.length, 4, 'each run finished once');
    t.ok(readdirSync(dir).some((f) => f.startsWith('appendonly')), 'Redis kept its queue in the append-only file');
    w.child.kill('SIGTERM');
    await w.done;
  });
});
