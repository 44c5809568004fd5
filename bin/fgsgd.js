#!/usr/bin/env node
// The `fgsgd` command: registers tsx so that the TypeScript sources run as they are, then hands
// the arguments to src/cli.ts. Exits with the code the CLI returns.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exit(await main(process.argv.slice(2)));
