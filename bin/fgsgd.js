#!/usr/bin/env node
// The `fgsgd` command. In the repository it runs the TypeScript sources (through tsx); installed
// from the package, which ships the compiled library only, it runs dist/. Pipeline files written
// in TypeScript load through tsx either way. Exits with the code the CLI returns.
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
// The CLI is given the built-in pipelines and grids (pipelines/index.ts).
const inRepo = existsSync(new URL('../src/cli.ts', import.meta.url));
const load = (path) => import(new URL(inRepo ? `../${path}.ts` : `../dist/${path}.js`, import.meta.url).href);
const [{ main }, { REGISTRY }] = await Promise.all([load('src/cli'), load('pipelines/index')]);
process.exit(await main(process.argv.slice(2), REGISTRY));
