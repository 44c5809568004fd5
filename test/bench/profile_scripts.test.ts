/**
 * The developer scripts bench/profile_update.ts and bench/compare_kernels.ts run and print what
 * their headers promise; bad options are refused with the valid names.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';

const run = (script: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', env: { ...process.env, FGSGD_LOG_LEVEL: 'warn' }, timeout: 300_000, killSignal: 'SIGKILL' });

t.test('profile_update: ms, kernel count and the top kernels of one update', async (t) => {
  const r = run('bench/profile_update.ts', '--model', 'cnn-small', '--manifolds', 'Euc', '--top', '3');
  t.equal(r.status, 0, r.stderr);
  const head = /cnn-small, PIO Euc, wasm: ([\d.]+) ms per update \(wall; ([\d.]+) ms CPU\), (\d+) kernels per update/.exec(r.stdout);
  t.ok(head, `summary line: ${r.stdout.split('\n')[0]}`);
  t.ok(Number(head?.[1]) > 0 && Number(head?.[3]) > 0, 'positive time and kernel count');
  t.equal(r.stdout.trim().split('\n').filter((l) => /^\s+\S+\s+\d+ calls\s+[\d.]+ ms$/.test(l)).length, 3, 'three kernel rows (--top 3)');
});

t.test('profile_update: unknown options name the valid ones', async (t) => {
  for (const [flag, value, valid] of [['--model', 'nope', /valid: cnn-small/], ['--backend', 'nope', /valid: auto/], ['--grouping', 'XY', /valid: PI, PO, PIO/]] as const) {
    const r = run('bench/profile_update.ts', flag, value);
    t.equal(r.status, 2, `${flag} ${value}: exit 2`);
    t.match(r.stderr, valid, `${flag} ${value}: lists the valid values`);
  }
});

t.test('compare_kernels: every copy kernel gives the package\'s bytes', async (t) => {
  const r = run('bench/compare_kernels.ts');
  t.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').filter((l) => / ours .* package .*×/.test(l));
  t.equal(rows.length, 5, 'GatherNd, Slice, SplitV, Unpack, Concat');
  t.ok(rows.every((l) => l.endsWith('same bytes')), rows.join('\n'));
});
