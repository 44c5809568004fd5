import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh, empty directory for one test, removed when the test (and its subtests) end.
 *
 * Use it instead of tap's `t.testdir()`: that is a fixed path under `.tap/fixtures`, named after
 * the test file and the test, which it wipes when a test starts. Two runs of the same file at
 * once in one checkout (two `tap` runs side by side, as on a shared dev machine) then delete and
 * overwrite each other's checkpoints and metrics. This directory is unique per call.
 */
export function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'fgsgd-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
