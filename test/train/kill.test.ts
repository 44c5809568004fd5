/**
 * A real run in a child process, killed mid-epoch (SIGKILL: no chance to save; SIGTERM: a final
 * checkpoint), then resumed with `--resume DIR`, ends with the same weights digest as an
 * uninterrupted run with the same seed.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { readCheckpoint } from '../../src/checkpoint.js';
import { tempDir } from '../helpers/tmp.js';
import { timeLeftMs } from '../helpers/budget.js';

const BIN = 'bin/fgsgd.js';
const PIPELINE = 'test/train/tiny-pipeline.ts';
/** Long enough (in steps) that a kill lands mid-run. */
const ARGS = ['--backend', 'wasm', '--optimizer', 'fgsgd', '--seed', '11', '--epochs', '12', '--checkpoint-every', '3', '--no-progress'];
const env = { ...process.env, FGSGD_LOG_LEVEL: 'warn' };

/** A whole run in a child; its time limit is what is left of the file's (a loaded machine is slow, not hung). */
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: timeLeftMs(), killSignal: 'SIGKILL' });

function metrics(dir: string): { type: string; step?: number; position?: { step: number } }[] {
  if (!existsSync(`${dir}/metrics.jsonl`)) return [];
  return readFileSync(`${dir}/metrics.jsonl`, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a line cut by the kill
      }
    });
}

/** Start a run and send `signal` once `ready(metrics)` holds; resolves with the exit code and stderr. */
function killWhen(dir: string, signal: NodeJS.Signals, ready: (m: ReturnType<typeof metrics>) => boolean) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; killedAt: number }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'train', PIPELINE, ...ARGS, '--out', dir], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killedAt = -1;
    child.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      const m = metrics(dir);
      if (killedAt < 0 && ready(m)) {
        killedAt = Math.max(0, ...m.filter((e) => e.type === 'batchEnd').map((e) => e.step ?? 0));
        child.kill(signal);
      }
    }, 5);
    child.on('error', reject);
    child.on('exit', (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, stderr, killedAt });
    });
  });
}

const digestOf = async (dir: string) => JSON.parse(await readFile(`${dir}/summary.json`, 'utf8')).weightsDigest as string;

t.test('killed mid-run and resumed = uninterrupted', async (t) => {
  const dir = tempDir(t);
  const whole = run('train', PIPELINE, ...ARGS, '--out', `${dir}/whole`);
  t.equal(whole.status, 0, whole.stderr);
  const reference = await digestOf(`${dir}/whole`);

  t.test('SIGKILL: the last checkpoint on disk is whole and the run resumes from it', async (t) => {
    const out = `${dir}/killed`;
    const r = await killWhen(out, 'SIGKILL', (m) => m.some((e) => e.type === 'checkpointSaved' && e.position!.step >= 6 && e.position!.step % 12 !== 0));
    t.equal(r.signal, 'SIGKILL');
    const ckpt = await readCheckpoint(out);
    t.ok(ckpt.position.step >= 6 && ckpt.position.step < 144, `checkpoint at step ${ckpt.position.step}, killed near step ${r.killedAt}`);
    const resumed = run('train', '--resume', out);
    t.equal(resumed.status, 0, resumed.stderr);
    t.equal(await digestOf(out), reference, 'same weights digest as the uninterrupted run');
    const starts = metrics(out).filter((e) => e.type === 'fitStart');
    t.equal(starts.length, 2, 'the resumed run appends to metrics.jsonl');
  });

  t.test('SIGTERM: a final checkpoint at the step boundary, exit 130, then resume', async (t) => {
    const out = `${dir}/term`;
    const r = await killWhen(out, 'SIGTERM', (m) => m.some((e) => e.type === 'batchEnd' && e.step! >= 8));
    t.equal(r.code, 130, r.stderr);
    t.match(r.stderr, /SIGTERM: stopping at the next step boundary/);
    t.match(r.stderr, /interrupted at epoch \d+, sample \d+, step \d+/);
    const last = Math.max(...metrics(out).filter((e) => e.type === 'batchEnd').map((e) => e.step!));
    t.equal((await readCheckpoint(out)).position.step, last, 'the final checkpoint holds the last step trained');
    const resumed = run('train', 'test/train/tiny-pipeline.ts', '--resume', out);
    t.equal(resumed.status, 0, resumed.stderr);
    t.equal(await digestOf(out), reference, 'same weights digest as the uninterrupted run');
  });
});

t.test('kill anywhere: SIGKILLed at 10 random moments, one of them inside a checkpoint write, resumed each time = uninterrupted', async (t) => {
  const dir = tempDir(t);
  const whole = run('train', PIPELINE, ...ARGS, '--out', `${dir}/whole`);
  t.equal(whole.status, 0, whole.stderr);
  const reference = await digestOf(`${dir}/whole`);
  const out = `${dir}/run`;
  // A checkpoint at every step, so that most moments are close to (or inside) a write.
  const args = [...ARGS.filter((a, i) => a !== '--checkpoint-every' && ARGS[i - 1] !== '--checkpoint-every'), '--checkpoint-every', '1'];
  let seed = 2026;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  /** Start (fresh, or resuming when a checkpoint exists) and SIGKILL when `when` says so. */
  const attempt = (when: (child: ReturnType<typeof spawn>) => void) =>
    new Promise<NodeJS.Signals | null>((resolve, reject) => {
      const resume = existsSync(`${out}/checkpoint.ckpt`) || existsSync(`${out}/checkpoint.prev.ckpt`);
      const argv = resume ? ['train', PIPELINE, '--resume', out] : ['train', PIPELINE, ...args, '--out', out, '--overwrite'];
      const child = spawn(process.execPath, [BIN, ...argv], { env, stdio: ['ignore', 'ignore', 'ignore'] });
      when(child);
      child.on('error', reject);
      child.on('exit', (_code, sig) => resolve(sig));
    });
  const stepsLogged = () => Math.max(0, ...metrics(out).filter((e) => e.type === 'batchEnd').map((e) => e.step ?? 0));
  let killed = 0;
  // Nine kills at random steps ahead of where the run stands (and a random few ms after).
  for (let i = 0; i < 9; i++) {
    const from = stepsLogged();
    const target = from + 1 + Math.floor(random() * 10);
    const delay = Math.floor(random() * 15);
    const sig = await attempt((child) => {
      const poll = setInterval(() => {
        if (stepsLogged() >= target) {
          clearInterval(poll);
          setTimeout(() => child.kill('SIGKILL'), delay);
        }
      }, 2);
      child.on('exit', () => clearInterval(poll));
    });
    if (sig === 'SIGKILL') killed++;
  }
  mkdirSync(out, { recursive: true });
  // Then kill as soon as a checkpoint's temporary file appears: inside a write (tried until it lands).
  let midWrite = false;
  for (let i = 0; i < 8 && !midWrite; i++) {
    const sig = await attempt((child) => {
      const watcher = watch(out, (_event, name) => {
        if (name?.startsWith('checkpoint.ckpt.tmp-') && child.exitCode === null) {
          child.kill('SIGKILL');
          watcher.close();
        }
      });
      child.on('exit', () => watcher.close());
    });
    if (sig === 'SIGKILL') {
      killed++;
      midWrite = readdirSync(out).some((f) => f.startsWith('checkpoint.ckpt.tmp-'));
    }
  }
  t.ok(killed >= 10, `${killed} SIGKILLs`);
  t.ok(midWrite, 'one of them left a half-written checkpoint behind');
  // Resume to the end.
  const last = run('train', PIPELINE, '--resume', out);
  t.equal(last.status, 0, last.stderr);
  t.equal(await digestOf(out), reference, 'same weights digest as the uninterrupted run');
  t.notOk(readdirSync(out).some((f) => f.includes('.tmp-')), 'the half-written files were cleared by later writes');
});

t.test('the binary: SIGINT writes a final checkpoint and exits 130; a non-finite loss exits 1 with its reason and a whole report', async (t) => {
  const dir = tempDir(t);
  const r = await killWhen(`${dir}/int`, 'SIGINT', (m) => m.some((e) => e.type === 'batchEnd' && e.step! >= 5));
  t.equal(r.code, 130, r.stderr);
  t.match(r.stderr, /SIGINT: stopping at the next step boundary/);
  const last = Math.max(...metrics(`${dir}/int`).filter((e) => e.type === 'batchEnd').map((e) => e.step!));
  t.equal((await readCheckpoint(`${dir}/int`)).position.step, last, 'the final checkpoint holds the last step trained');

  // lr 1e30: the first update sends the weights to ±∞, the second loss is not finite.
  const nan = run('train', PIPELINE, '--backend', 'wasm', '--optimizer', 'sgd', '--lr', '1e30', '--epochs', '1', '--no-progress', '--out', `${dir}/nan`);
  t.equal(nan.status, 1, 'exit 1');
  t.match(nan.stderr, /fgsgd: loss became non-finite after epoch 0, sample \d+, step \d+; that step was not applied and the last good checkpoint is kept/);
  t.notMatch(nan.stderr, /report:/, 'the report is written (no error while writing it)');
  t.match(await readFile(`${dir}/nan/report.md`, 'utf8'), /not finite/, 'and says the norms are not finite');
  t.equal(JSON.parse(await readFile(`${dir}/nan/summary.json`, 'utf8')).reason, 'nonFiniteLoss');
});
