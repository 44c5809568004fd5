/**
 * The package's root folder (where its package.json is), found from this file whether it runs as
 * TypeScript from the repository (src/) or compiled (dist/src/): data, the bin and package.json
 * are resolved from here, never from a fixed number of '..'.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'fgsgd') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`fgsgd: cannot find the package's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();

/** The package's version. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
