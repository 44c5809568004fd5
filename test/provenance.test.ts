import t from 'tap';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRevision, machine, revision } from '../src/provenance.js';
import { tempDir } from './helpers/tmp.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
let hasGit = true;
try {
  git('.', '--version');
} catch {
  hasGit = false;
}

t.test('machine(): cores, memory and Node as this process sees them', async (t) => {
  const m = machine();
  t.equal(m.cores, cpus().length, 'the cores Node reports');
  t.ok(Math.abs(m.memoryGiB - totalmem() / 2 ** 30) < 0.1, `the memory Node reports (${m.memoryGiB} GiB)`);
  t.equal(m.node, process.version);
});

t.test('revision(): the commit of a work tree, dirty when tracked files changed, null elsewhere', { skip: hasGit ? false : 'git is not installed' }, async (t) => {
  const dir = tempDir(t);
  const repo = join(dir, 'repo');
  mkdirSync(repo);
  git(repo, 'init', '-q');
  writeFileSync(join(repo, 'a.txt'), 'one');
  git(repo, 'add', 'a.txt');
  git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'one');
  const head = git(repo, 'rev-parse', 'HEAD');
  writeFileSync(join(repo, 'untracked.txt'), 'x');
  t.same(revision(repo), { commit: head, dirty: false }, 'untracked files do not count');
  writeFileSync(join(repo, 'a.txt'), 'two');
  t.same(revision(repo), { commit: head, dirty: true }, 'a changed tracked file does');
  git(repo, 'checkout', '-q', 'a.txt');
  t.equal(describeRevision(revision(repo)), head.slice(0, 12));
  // A package installed inside another repository must not report that repository's commit.
  const nested = join(repo, 'node_modules', 'fgsgd');
  mkdirSync(nested, { recursive: true });
  t.same(revision(nested), { commit: null, dirty: null });
  t.same(revision(join(dir)), { commit: null, dirty: null }, 'outside any work tree');
  t.equal(describeRevision({ commit: null, dirty: null }), 'unknown');
  t.equal(describeRevision({ commit: head, dirty: true }), `${head.slice(0, 12)} (with uncommitted changes)`);
});
