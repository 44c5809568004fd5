#!/usr/bin/env node
// Rebuilds native/fgsgd_step.wasm, FG-SGD's fused update kernels (native/fgsgd_step.c, used by
// src/backend/fgsgd_step_module.ts on the wasm and onednn backends), with clang's wasm32 target
// and lld. The .wasm is committed, so installing the package needs no compiler; run this
// (`npm run build:fused`) after changing the C file. Debian/Ubuntu: apt-get install clang lld.
//
// `--check` builds to a temporary file and fails unless it equals the committed one byte for byte.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native', 'fgsgd_step.c');
const out = join(root, 'native', 'fgsgd_step.wasm');
const check = process.argv.includes('--check');

function findClang() {
  for (const cc of [process.env.CC_WASM, 'clang', 'clang-19', 'clang-18', 'clang-17', 'clang-16', 'clang-15', 'clang-14'].filter(Boolean)) {
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      // try the next name
    }
  }
  console.error('build:fused: no clang found (tried clang, clang-19 … clang-14, $CC_WASM). Install one with lld: apt-get install clang lld.');
  process.exit(1);
}

const cc = findClang();
const tmp = `${out}.${process.pid}.tmp`;
// -msimd128 for the four-lane slice step; -mbulk-memory lets clang zero a buffer with memory.fill instead of calling a memset there is
// none of; -ffp-contract=off keeps every product rounded before it is added, as the tensor ops do.
const args = [
  '--target=wasm32', '-O2', '-nostdlib', '-mbulk-memory', '-msimd128', '-ffp-contract=off', '-Wall', '-Wextra', '-Werror',
  '-fuse-ld=lld', '-Wl,--no-entry', '-Wl,--import-memory', '-Wl,--export=riemann_step', '-Wl,--export=plain_step',
  '-Wl,--strip-all', src, '-o', tmp,
];
try {
  execFileSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (e) {
  rmSync(tmp, { force: true });
  console.error(`build:fused: ${cc} failed (${String(e.message).split('\n')[0]}). It needs lld as well: apt-get install lld.`);
  process.exit(1);
}
// The module shares the backend's memory, so it must not keep a stack (or any global) there:
// reject code that reads or writes a global, such as the stack pointer a local array would use.
const objdump = ['llvm-objdump', ...[19, 18, 17, 16, 15, 14].map((v) => `llvm-objdump-${v}`)].find((t) => {
  try {
    execFileSync(t, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (objdump) {
  const globals = execFileSync(objdump, ['-d', tmp], { encoding: 'utf8' }).split('\n').filter((l) => /global\.(get|set)/.test(l));
  if (globals.length) {
    rmSync(tmp, { force: true });
    console.error(`build:fused: the code uses a global (a stack in the shared memory), e.g. '${globals[0].trim()}'; keep temporaries in scratch.`);
    process.exit(1);
  }
} else {
  console.log('build:fused: llvm-objdump not found, so the no-globals check was skipped (apt-get install llvm); test/fgsgd/fused_step.test.ts still checks what a call writes.');
}
if (check) {
  const same = readFileSync(tmp).equals(readFileSync(out));
  rmSync(tmp);
  if (!same) {
    console.error(`build:fused --check: ${out} differs from a fresh build of ${src} with ${cc}; run npm run build:fused and commit it.`);
    process.exit(1);
  }
  console.log(`build:fused --check: ${out} is up to date (${cc})`);
} else {
  renameSync(tmp, out);
  console.log(`fused kernels built: ${out} (${cc})`);
}
