/**
 * Finding a grid for `fgsgd sweep`: one of the registry's by name (the built-in ones are in
 * pipelines/index.ts), or a grid file whose default export, or named export `grid`, is a `Grid`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isFile } from '../registry.js';
import type { Grid } from './grid.js';

/** Shape checks of a grid from a file (TypeScript does not check what a file exports). */
function checkGrid(g: unknown, file: string): Grid {
  const o = g as Partial<Grid>;
  const problem =
    !o || typeof o !== 'object'
      ? 'is not an object'
      : typeof o.name !== 'string'
        ? "has no 'name'"
        : typeof o.pipeline !== 'string'
          ? "has no 'pipeline'"
          : !o.base || typeof o.base !== 'object'
            ? "has no 'base' options"
            : !Array.isArray(o.configs) || o.configs.length === 0
              ? "has no 'configs'"
              : o.configs.find((c) => !c || typeof c.id !== 'string' || !c.args || typeof c.args !== 'object')
                ? "has a configuration without 'id' or 'args'"
                : undefined;
  if (problem) throw new Error(`grid file ${file}: its grid ${problem}`);
  return { description: '', ...o, configs: o.configs!.map((c) => ({ ...c, label: c.label ?? c.id })) } as Grid;
}

/** A grid of `grids` by name, or the grid of a file. */
export async function loadGrid(nameOrFile: string, grids: readonly Grid[]): Promise<Grid> {
  const builtIn = grids.find((g) => g.name === nameOrFile);
  if (builtIn) return builtIn;
  if (!isFile(nameOrFile)) {
    throw new Error(`unknown grid '${nameOrFile}'; built-in grids: ${grids.map((g) => g.name).join(', ')} (or give a grid file)`);
  }
  let mod: { default?: unknown; grid?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(nameOrFile)).href)) as typeof mod;
  } catch (e) {
    const message = (e as Error).message.split('\n')[0]!;
    // A .ts file outside a package with "type": "module" is compiled as CommonJS by tsx.
    const hint = /require\(\)|import statement outside a module|ERR_REQUIRE/.test(message) ? ' (outside an ES-module package, name the grid file .mts or .mjs)' : '';
    throw new Error(`cannot load grid file ${nameOrFile}: ${message}${hint}`);
  }
  const g = mod.default ?? mod.grid;
  if (g === undefined) throw new Error(`grid file ${nameOrFile} must export a Grid as its default export or as 'grid'`);
  return checkGrid(g, nameOrFile);
}
