// A stand-in for `fgsgd train` used by the sweep tests: it parses --seed/--out/--lr, records that
// it ran, and writes summary.json. With FAKE_FAIL_ID=<config> it exits 1 for that configuration
// (a killed or failed run) without writing a summary; with FAKE_INTERRUPT_ID=<config> it writes the
// summary of an interrupted run (reason 'interrupted', as `fgsgd train` does on SIGTERM) and exits 130.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const argv = process.argv.slice(2);
const get = (k) => argv[argv.indexOf(`--${k}`) + 1];
const out = get('out');
appendFileSync(process.env.FAKE_LOG, `${argv.join(' ')}\n`);
if (process.env.FAKE_FAIL_ID && argv.includes(process.env.FAKE_FAIL_ID)) process.exit(1);
const seed = Number(get('seed'));
const lr = Number(get('lr'));
// FAKE_DELAY_MS=<ms>: lower seeds take longer, so that runs finish out of seed order.
if (process.env.FAKE_DELAY_MS) await new Promise((r) => setTimeout(r, Number(process.env.FAKE_DELAY_MS) / seed));
const interrupted = Boolean(process.env.FAKE_INTERRUPT_ID && argv.includes(process.env.FAKE_INTERRUPT_ID));
const summary = {
  testAccuracy: lr * 10 + seed / 100, testLoss: 1 / seed, epochs: 2, steps: 10, wallSeconds: 4 * seed, updateShare: 0.05, seed,
  reason: interrupted ? 'interrupted' : 'completed',
  git: { commit: process.env.FAKE_COMMIT ?? null, dirty: false },
};
writeFileSync(join(out, 'summary.json'), JSON.stringify(summary));
if (interrupted) process.exit(130);
