/**
 * The cost of one optimizer update on a zoo model, with random gradients: milliseconds per update
 * (best of 5 rounds of 20, wall and CPU), the number of kernels one update runs, and the kernels
 * that take the most time.
 *
 *   npx tsx bench/profile_update.ts [--model cnn-small] [--backend wasm] [--manifolds Sp+Ob+St+Euc] [--grouping PIO] [--top 12]
 *
 * `--manifolds Euc` is the SGD baseline (every group Euclidean). The optimizer is FG-SGD with
 * momentum 0.9 and the fixed step, as in the paper grid. The kernel times come from `tf.profile`
 * on one more update; they include each kernel's own overhead, not the engine's.
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, initBackend, type BackendName } from '../src/backend/index.js';
import { buildGrouping, STRATEGIES, type Strategy } from '../src/fgsgd/grouping.js';
import { FGSGD } from '../src/fgsgd/optimizer.js';
import { buildModel, MODELS } from '../src/models/index.js';
import { lossAndGrads } from '../src/train/step.js';

process.env.FGSGD_LOG_LEVEL ??= 'warn';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'cnn-small' },
    backend: { type: 'string', default: 'wasm' },
    manifolds: { type: 'string', default: 'Sp+Ob+St+Euc' },
    grouping: { type: 'string', default: 'PIO' },
    batch: { type: 'string', default: '64' },
    top: { type: 'string', default: '12' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: npx tsx bench/profile_update.ts [--model NAME] [--backend NAME] [--manifolds MIX] [--grouping PI|PO|PIO] [--batch N] [--top N]');
  process.exit(0);
}
const entry = MODELS.find((m) => m.name === args.model);
if (!entry) {
  console.error(`unknown model '${args.model}'; valid: ${MODELS.map((m) => m.name).join(', ')}`);
  process.exit(2);
}
if (!(BACKEND_NAMES as readonly string[]).includes(args.backend)) {
  console.error(`unknown backend '${args.backend}'; valid: ${BACKEND_NAMES.join(', ')}`);
  process.exit(2);
}
if (!(STRATEGIES as readonly string[]).includes(args.grouping)) {
  console.error(`unknown grouping '${args.grouping}'; valid: ${STRATEGIES.join(', ')}`);
  process.exit(2);
}
await initBackend(args.backend as BackendName);
const batch = Number(args.batch);
const model = buildModel(entry.name, { seed: 0 });
const x = tf.randomNormal([batch, ...entry.defaultInput], 0, 1, 'float32', 1);
const labels = tf.randomUniform([batch], 0, 10, 'int32', 2);
const { value, grads } = lossAndGrads(model, x, labels);
value.dispose();
const grouping = buildGrouping(model, { strategy: args.grouping as Strategy, manifolds: args.manifolds, seed: 0 });
const optimizer = new FGSGD(grouping, { lr: 0.01, momentum: 0.9, stabilizeEvery: 0 });
const first = model.trainableWeights[0]!.read();
const sync = () => void first.dataSync();
for (let i = 0; i < 3; i++) optimizer.applyGradients(grads);
sync();
let wall = Infinity;
let cpu = Infinity;
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < 20; i++) optimizer.applyGradients(grads);
  sync();
  const c = process.cpuUsage(c0);
  wall = Math.min(wall, (performance.now() - t0) / 20);
  cpu = Math.min(cpu, (c.user + c.system) / 1000 / 20);
}
const info = await tf.profile(() => void optimizer.applyGradients(grads));
const byKernel = new Map<string, { calls: number; ms: number }>();
for (const k of info.kernels) {
  const e = byKernel.get(k.name) ?? { calls: 0, ms: 0 };
  e.calls++;
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  byKernel.set(k.name, e);
}
console.log(`${entry.name}, ${args.grouping} ${args.manifolds}, ${args.backend}: ${wall.toFixed(2)} ms per update (wall; ${cpu.toFixed(2)} ms CPU), ${info.kernels.length} kernels per update`);
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top))) {
  console.log(`  ${name.padEnd(20)} ${String(e.calls).padStart(4)} calls ${e.ms.toFixed(2).padStart(7)} ms`);
}
tf.dispose([x, labels, ...Object.values(grads)]);
optimizer.dispose();
model.dispose();
