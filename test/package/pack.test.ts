/**
 * The package as users get it: `npm pack`, installed into a fresh project, where plain Node ESM
 * imports it as 'fgsgd' (compiled JavaScript, one tfjs through the peer dependency), the bin runs,
 * and every program of examples/ runs to the end. This keeps the README's "Use it as a library"
 * from rotting.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { timeLeftMs } from '../helpers/budget.js';

const ROOT = resolve('.');
const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.mjs'));

t.test('the packed tarball installs, imports, runs its bin and every example', async (t) => {
  const dir = tempDir(t);
  const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeLeftMs() });
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], ROOT)) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  t.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'the compiled package entry and its types');
  t.notOk(files.some((f) => /^(test|bench|docs\/results)\//.test(f) || f.endsWith('.test.ts')), 'no tests, benchmarks or results');
  const project = join(dir, 'project');
  cpSync(join(ROOT, 'examples'), join(project, 'examples'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-fgsgd', private: true, type: 'module' }));
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed[0]!.filename)], project);
  const tfjs = readdirSync(join(project, 'node_modules', '@tensorflow')).filter((d) => d === 'tfjs');
  t.same(tfjs, ['tfjs'], '@tensorflow/tfjs installed once, at the top, as the peer dependency');
  t.notOk(readdirSync(join(project, 'node_modules', 'fgsgd')).includes('node_modules'), 'no nested copies inside the package');
  const env = { ...process.env, FGSGD_LOG_LEVEL: 'warn', MAX_STEPS: '6', SWAP_AT: '3' };
  const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', env, timeout: timeLeftMs() });

  const imported = run(['--input-type=module', '-e', "const m = await import('fgsgd'); console.log(typeof m.fit, typeof m.sphere, typeof m.readIdx, typeof m.FGSGD)"]);
  t.equal(imported.stdout.trim(), 'function function function function', `plain ESM imports 'fgsgd' (${imported.stderr.trim().split('\n')[0] ?? ''})`);
  const bin = spawnSync(join(project, 'node_modules', '.bin', 'fgsgd'), ['--version'], { cwd: project, encoding: 'utf8', env });
  t.match(bin.stdout, /^fgsgd \d+\.\d+\.\d+\n$/, 'the bin runs from the installed package');
  const help = spawnSync(join(project, 'node_modules', '.bin', 'fgsgd'), ['train', '--help'], { cwd: project, encoding: 'utf8', env });
  t.match(help.stdout, /pipelines: default \(/, 'the installed bin is given the built-in registry (compiled pipelines/index.js)');
  t.match(help.stdout, /paper-bn/, 'and the built-in grids');
  for (const example of EXAMPLES) {
    const r = run([join('examples', example), join(project, 'runs', example)]);
    t.equal(r.status, 0, `${example} exits 0 (${r.stderr.trim().split('\n').slice(-1)[0] ?? ''})`);
    t.match(r.stdout, /test accuracy 0\.\d+/, `${example} trains and evaluates`);
  }
});
