#!/usr/bin/env node
// Builds build/onednn.node, the oneDNN binding behind `--backend onednn` (native/onednn.cc), with
// the system's C++ compiler against the system's oneDNN (Debian/Ubuntu: libdnnl-dev) and the
// Node-API headers of the running node. Run by `npm ci` (postinstall) and `npm run build:native`.
//
// Where oneDNN or a compiler is missing the build is skipped with one line saying what to install,
// and the install goes on: every other backend works without it. `--strict` makes that an error.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build', 'onednn.node');
const strict = process.argv.includes('--strict');
const cxx = process.env.CXX || 'c++';
const nodeInclude = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node']
  .find((d) => existsSync(join(d, 'node_api.h')));
const dnnlHeader = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp', process.env.DNNLROOT && join(process.env.DNNLROOT, 'include', 'oneapi', 'dnnl', 'dnnl.hpp')]
  .filter(Boolean).find((f) => existsSync(f));

function skip(why) {
  const msg = `onednn binding not built: ${why}. --backend onednn will be unavailable; every other backend works. ` +
    `To build it: apt-get install libdnnl-dev g++ (or set DNNLROOT to a oneDNN install), then npm run build:native.`;
  if (strict) {
    console.error(msg);
    process.exit(1);
  }
  console.log(msg);
  process.exit(0);
}

if (!nodeInclude) skip(`Node-API headers (node_api.h) were not found beside ${process.execPath}`);
if (!dnnlHeader) skip("oneDNN's headers (oneapi/dnnl/dnnl.hpp) were not found");
const dnnlRoot = dirname(dirname(dirname(dirname(dnnlHeader))));
const libDirs = [join(dnnlRoot, 'lib'), join(dnnlRoot, 'lib64'), join(dnnlRoot, 'lib', 'x86_64-linux-gnu')];
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const args = [
  '-O2', '-std=c++17', '-shared', '-fPIC', '-fopenmp', '-DNODE_GYP_MODULE_NAME=onednn',
  '-I', nodeInclude, '-I', join(dnnlRoot, 'include'),
  join(root, 'native', 'onednn.cc'),
  ...libDirs.filter((d) => existsSync(d)).flatMap((d) => ['-L', d, `-Wl,-rpath,${d}`]),
  '-ldnnl', '-o', tmp,
];
if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
try {
  execFileSync(cxx, args, { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (e) {
  skip(`${cxx} failed (${String(e.message).split('\n')[0]})`);
}
renameSync(tmp, out);
console.log(`onednn binding built: ${out}`);
