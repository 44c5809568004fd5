/**
 * Profile of one training step on the wasm backend: images/s, then time per kernel.
 *
 *   npx tsx bench/profile_step.ts --model resnet20 --batch 128 [--steps 3] [--warmup 2]
 *   npx tsx bench/profile_step.ts --model cnn-small --batch 64 --compare
 *
 * A step is `trainStep` (forward, softmax cross-entropy, backward, SGD lr 0.01) on random data, as
 * in bench/reference/torch_step.py. Times are this process's CPU time (user + system, from
 * `process.cpuUsage`): the wasm backend runs on one thread, so on an idle machine CPU time equals
 * wall time, and on a shared one (other jobs on the same cores) it still measures the work done
 * rather than the time spent waiting for a core. Wall-clock figures are printed alongside.
 * Images/s is measured first, without instrumentation; then
 * every kernel registered for 'wasm' is wrapped with a timer for `--profile-steps` more steps. The
 * table gives each kernel's *self* time (time inside nested kernels is charged to them; the
 * project's kernels in src/backend/kernels call other kernels, listed as "Outer>Inner") and its
 * total time including those.
 * "outside kernels" is the rest of the step: tfjs's engine, tape and JS glue.
 *
 * `--compare` first times the package's own kernels and tfjs-core's gradients in place of every one
 * the project replaces (the package has no `Conv2DBackpropFilter`, so the project's stays in),
 * then the project's, in the same process.
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/index.js';
import { WASM_TRAINING_GRADIENTS, WASM_TRAINING_KERNELS } from '../src/backend/wasm_kernels.js';
import { buildModel, MODELS } from '../src/models/index.js';
import { trainStep } from '../src/train/step.js';

process.env.FGSGD_LOG_LEVEL ??= 'warn';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet20' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    'profile-steps': { type: 'string', default: '2' },
    top: { type: 'string', default: '25' },
    compare: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: npx tsx bench/profile_step.ts [--model cnn-small|resnet20] [--batch N] [--steps N] [--warmup N] [--profile-steps N] [--top N] [--compare]');
  process.exit(0);
}
const batch = Number(args.batch);
const steps = Number(args.steps);
const warmup = Number(args.warmup);
const profileSteps = Number(args['profile-steps']);
const entry = MODELS.find((m) => m.name === args.model);
if (!entry) {
  console.error(`unknown model '${args.model}'; valid: ${MODELS.map((m) => m.name).join(', ')}`);
  process.exit(2);
}

// The package's own kernels and tfjs-core's gradients, captured before the project's replace them
// (for --compare).
await import('@tensorflow/tfjs-backend-wasm');
const packageKernels = WASM_TRAINING_KERNELS.map((k) => tf.getKernel(k.kernelName, 'wasm')).filter((k): k is tf.KernelConfig => !!k);
const coreGradients = WASM_TRAINING_GRADIENTS.map((g) => tf.getGradient(g.kernelName)).filter((g): g is tf.GradConfig => !!g);
await initBackend('wasm');
const backend = tf.backend();

function use(configs: readonly tf.KernelConfig[], gradients: readonly tf.GradConfig[]): void {
  for (const k of configs) {
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
    k.setupFunc?.(backend);
  }
  for (const g of gradients) tf.registerGradient(g);
}

const model = buildModel(entry.name, { seed: 1 });
const optimizer = tf.train.sgd(0.01);
const x = tf.randomNormal([batch, ...entry.defaultInput], 0, 1, 'float32', 2);
const labels = tf.randomUniform([batch], 0, 10, 'int32', 3);
const step = () => trainStep(model, optimizer, x, labels);

/** This process's CPU time in ms (user + system). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function timeSteps(label: string): number {
  for (let i = 0; i < warmup; i++) step();
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const wall = (performance.now() - t0) / steps;
  const ms = (cpuMs() - c0) / steps;
  const ips = (batch * 1000) / ms;
  console.log(`${label}: ${entry!.name} batch ${batch}: ${ips.toFixed(1)} images/s (${ms.toFixed(1)} ms CPU/step; wall ${wall.toFixed(1)} ms/step, ${((batch * 1000) / wall).toFixed(1)} images/s; ${steps} steps after ${warmup} warm-up)`);
  return ips;
}

if (args.compare) {
  const ours = packageKernels.map((k) => tf.getKernel(k.kernelName, 'wasm')!);
  const ourGradients = coreGradients.map((g) => tf.getGradient(g.kernelName)!);
  use(packageKernels, coreGradients);
  timeSteps('package kernels');
  use(ours, ourGradients);
}
timeSteps('project kernels');

// Per-kernel profile: wrap every wasm kernel with a timer that separates self and nested time.
interface Stat { calls: number; self: number; total: number }
const stats = new Map<string, Stat>();
const childTime: number[] = [];
const callers: string[] = [];
for (const k of tf.getKernelsForBackend('wasm')) {
  const inner = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel({
    ...k,
    kernelFunc: (a) => {
      // A kernel called from inside another is listed as "Outer>Inner".
      const key = callers.length ? `${callers[callers.length - 1]}>${k.kernelName}` : k.kernelName;
      let stat = stats.get(key);
      if (!stat) stats.set(key, (stat = { calls: 0, self: 0, total: 0 }));
      const t0 = cpuMs();
      childTime.push(0);
      callers.push(k.kernelName);
      try {
        return inner(a);
      } finally {
        const dt = cpuMs() - t0;
        const nested = childTime.pop()!;
        callers.pop();
        stat.calls++;
        stat.total += dt;
        stat.self += dt - nested;
        if (childTime.length) childTime[childTime.length - 1]! += dt;
      }
    },
  });
}
const c0 = cpuMs();
for (let i = 0; i < profileSteps; i++) step();
const stepMs = (cpuMs() - c0) / profileSteps;
const rows = [...stats].filter(([, s]) => s.calls > 0).sort((a, b) => b[1].self - a[1].self);
const inKernels = rows.reduce((acc, [, s]) => acc + s.self, 0) / profileSteps;
console.log(`\nprofile (${profileSteps} steps, ${stepMs.toFixed(1)} ms CPU/step instrumented); CPU ms per step:`);
console.log(`${'kernel'.padEnd(38)}${'self'.padStart(9)}${'%'.padStart(7)}${'total'.padStart(9)}${'calls'.padStart(7)}`);
for (const [name, s] of rows.slice(0, Number(args.top))) {
  const self = s.self / profileSteps;
  console.log(`${name.padEnd(38)}${self.toFixed(1).padStart(9)}${((100 * self) / stepMs).toFixed(1).padStart(7)}${(s.total / profileSteps).toFixed(1).padStart(9)}${String(s.calls / profileSteps).padStart(7)}`);
}
const outside = stepMs - inKernels;
console.log(`${'(outside kernels)'.padEnd(38)}${outside.toFixed(1).padStart(9)}${((100 * outside) / stepMs).toFixed(1).padStart(7)}`);

tf.dispose([x, labels]);
optimizer.dispose();
model.dispose();
