/**
 * The logger's two formats: readable lines for people (a terminal, or FGSGD_LOG_FORMAT=pretty),
 * JSON lines for tools (files and pipes, the default when stderr is not a terminal).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';

const logOnce = (format?: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/log.ts').then(({ log }) => log.warn({ file: 'a.png' }, 'skipped a corrupt image'))"], {
    encoding: 'utf8',
    env: { ...process.env, TAP: '', FGSGD_LOG_LEVEL: 'info', ...(format ? { FGSGD_LOG_FORMAT: format } : {}) },
  });

t.test('a pipe gets JSON lines by default', async (t) => {
  const r = logOnce();
  t.equal(r.status, 0, r.stderr);
  const line = JSON.parse(r.stderr.trim());
  t.match(line, { level: 40, msg: 'skipped a corrupt image', file: 'a.png' });
});

t.test('pretty: a readable line with the level, the message and the fields', async (t) => {
  const r = logOnce('pretty');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /^\[\d\d:\d\d:\d\d\] WARN: skipped a corrupt image\n\s+file: "a\.png"/);
  t.throws(() => JSON.parse(r.stderr.trim()), 'not JSON');
});
