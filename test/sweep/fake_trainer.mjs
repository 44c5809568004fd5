// A stand-in for `fgsgd train` used by the sweep tests: it parses --seed/--out/--lr, records that
// it ran, and writes summary.json. With FAKE_FAIL_ID=<config> it exits 1 for that configuration
// (a killed or failed run) without writing a summary; with FAKE_INTERRUPT_ID=<config> it writes the
// summary of an interrupted run (reason 'interrupted', as `fgsgd train` does on SIGTERM) and exits 130.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const argv = process.argv.slice(2);
const get = (k) => argv[argv.indexOf(`--${k}`) + 1];
const out = get('out');
appendFileSync(process.env.FAKE_LOG, `${argv.join(' ')}\n`);
if (process.env.FAKE_FAIL_ID && argv.includes(process.env.FAKE_FAIL_ID)) process.exit(1);
const seed = Number(get('seed'));
const lr = Number(get('lr'));
// FAKE_REVERSE_OF=<n>: runs finish in reverse seed order, whatever the machine's load: seed s < n
// waits (by what it can observe, not by a guessed delay) until the process of seed s + 1 has
// exited; each run leaves its pid in pid.txt for that.
writeFileSync(join(out, 'pid.txt'), String(process.pid));
if (process.env.FAKE_REVERSE_OF && seed < Number(process.env.FAKE_REVERSE_OF)) {
  const pidFile = join(out, '..', `seed-${seed + 1}`, 'pid.txt');
  const alive = () => {
    if (!existsSync(pidFile) || !existsSync(join(out, '..', `seed-${seed + 1}`, 'summary.json'))) return true;
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 60_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
const interrupted = Boolean(process.env.FAKE_INTERRUPT_ID && argv.includes(process.env.FAKE_INTERRUPT_ID));
const summary = {
  testAccuracy: lr * 10 + seed / 100, testLoss: 1 / seed, epochs: 2, steps: 10, wallSeconds: 4 * seed, updateShare: 0.05, seed,
  reason: interrupted ? 'interrupted' : 'completed',
  git: { commit: process.env.FAKE_COMMIT ?? null, dirty: false },
};
writeFileSync(join(out, 'summary.json'), JSON.stringify(summary));
if (interrupted) process.exit(130);
