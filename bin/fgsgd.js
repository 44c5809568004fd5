#!/usr/bin/env node
// The `fgsgd` command. In the repository it runs the TypeScript sources (through tsx); installed
// from the package, which ships the compiled library only, it runs dist/. Pipeline files written
// in TypeScript load through tsx either way. Exits with the code the CLI returns.
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const source = new URL('../src/cli.ts', import.meta.url);
const { main } = await import(existsSync(source) ? source.href : new URL('../dist/src/cli.js', import.meta.url).href);
process.exit(await main(process.argv.slice(2)));
