/**
 * Where and from what code a result was produced: the machine and the git revision. Recorded in
 * every run's `summary.json` and in a sweep's `results.json`/`results.md`, so that two results can
 * be told comparable or not.
 */
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { PACKAGE_ROOT } from './package_root.js';

/** Where a process ran. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
}

export interface Revision {
  commit: string | null;
  /** Uncommitted changes to tracked files at the time (null when unknown). */
  dirty: boolean | null;
}

const PROJECT_ROOT = PACKAGE_ROOT;

export function machine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() || 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${platform()} ${release()}`,
    node: process.version,
  };
}

/**
 * The project's git commit (read-only git calls). Null outside the project's own work tree (an
 * npm install of the package inside another repository) or without git.
 */
export function revision(root = PROJECT_ROOT): Revision {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let commit: string | null = null;
  try {
    // Installed inside someone else's repository (node_modules), git would answer for that one.
    if (realpathSync(git('rev-parse', '--show-toplevel')) !== realpathSync(root)) return { commit: null, dirty: null };
    commit = git('rev-parse', 'HEAD');
  } catch {
    return { commit: null, dirty: null };
  }
  let dirty: boolean | null = null;
  try {
    dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  } catch {
    // commit known, state unknown
  }
  return { commit, dirty };
}

/** `abcdef123456` or `abcdef123456 (with uncommitted changes)`, or 'unknown'. */
export function describeRevision(r: Revision): string {
  return r.commit ? `${r.commit.slice(0, 12)}${r.dirty ? ' (with uncommitted changes)' : ''}` : 'unknown';
}
