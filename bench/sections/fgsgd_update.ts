/**
 * Section `fgsgd-update`: the cost of one FG-SGD update of all of resnet20's parameters (PIO,
 * Sp+Ob+St+Euc, adaptive step, momentum 0.9), against a plain SGD update (tf.train.sgd and
 * tf.train.momentum) and against a whole training step (batch 128, 32×32×3, plain SGD), on wasm.
 * The target: the FG-SGD update adds ≤ 10% to a training step, i.e.
 * (FG-SGD update − SGD update) / training step ≤ 0.10.
 *
 * The gradients are computed once and reused, so that update timings measure the optimizer only.
 * Every timed block ends with a read-back, so that no work is left queued.
 *
 * Run alone: `npx tsx bench/sections/fgsgd_update.ts [updates] [trainSteps]`.
 */
import * as tf from '@tensorflow/tfjs';
import { pathToFileURL } from 'node:url';
import { initBackend } from '../../src/backend/index.js';
import { buildGrouping } from '../../src/fgsgd/grouping.js';
import { FGSGD } from '../../src/fgsgd/optimizer.js';
import { buildModel } from '../../src/models/index.js';
import { trainStep } from '../../src/train/step.js';
import type { BenchContext, SectionResult } from './index.js';

const BATCH = 128;
const INPUT: [number, number, number] = [32, 32, 3];
const TARGET_OVERHEAD = 0.1;

export interface FgsgdUpdateData {
  backend: string;
  model: 'resnet20';
  batch: number;
  parameters: number;
  groups: number;
  updates: number;
  trainSteps: number;
  /** Milliseconds per update / step (mean over the timed repetitions). */
  fgsgdUpdateMs: number;
  fgsgdEuclideanUpdateMs: number;
  sgdUpdateMs: number;
  momentumUpdateMs: number;
  trainStepMs: number;
  /** fgsgdUpdateMs / sgdUpdateMs. */
  fgsgdOverSgd: number;
  /** fgsgdUpdateMs / trainStepMs. */
  fgsgdOverTrainStep: number;
  /** (fgsgdUpdateMs − sgdUpdateMs) / trainStepMs: what FG-SGD adds to a training step. */
  addedToTrainStep: number;
  target: number;
  meetsTarget: boolean;
  tensorsLeakedPerUpdate: number;
}

const now = () => performance.now();

function timeIt(n: number, fn: () => void, sync: () => void): number {
  fn(); // warm-up: builds kernels, optimizer slots
  sync();
  const t0 = now();
  for (let i = 0; i < n; i++) fn();
  sync();
  return (now() - t0) / n;
}

export async function benchFgsgdUpdate(ctx?: BenchContext, { updates = 10, trainSteps = 2 }: { updates?: number; trainSteps?: number } = {}): Promise<SectionResult & { data: FgsgdUpdateData }> {
  const progress = (s: string) => (ctx ? ctx.progress(s) : process.stderr.write(`${s}\n`));
  if (tf.getBackend() !== 'wasm') await initBackend('wasm');
  const model = buildModel('resnet20', { inputShape: INPUT, seed: 0 });
  const x = tf.randomNormal([BATCH, ...INPUT], 0, 1, 'float32', 1);
  const labels = tf.randomUniform([BATCH], 0, 10, 'int32', 2);
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor;
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 10), logits) as tf.Scalar;
  }, vars);
  value.dispose();
  const first = vars[0]!;
  const sync = () => void first.dataSync();

  progress('fgsgd-update: FG-SGD (PIO, Sp+Ob+St+Euc)');
  const grouping = buildGrouping(model, { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 0 });
  const fg = new FGSGD(grouping, { lr: 0.01, momentum: 0.9, stabilizeEvery: 0 });
  fg.applyGradients(grads);
  const before = tf.memory().numTensors;
  const fgsgdUpdateMs = timeIt(updates, () => fg.applyGradients(grads), sync);
  const tensorsLeakedPerUpdate = (tf.memory().numTensors - before) / (updates + 1);
  fg.dispose();

  progress('fgsgd-update: FG-SGD, every group Euclidean');
  const euc = new FGSGD(buildGrouping(model, { manifolds: 'Euc', seed: 0 }), { lr: 0.01, momentum: 0.9, stabilizeEvery: 0 });
  const fgsgdEuclideanUpdateMs = timeIt(updates, () => euc.applyGradients(grads), sync);
  euc.dispose();

  progress('fgsgd-update: tf.train.sgd / tf.train.momentum');
  const sgd = tf.train.sgd(0.01);
  const sgdUpdateMs = timeIt(updates, () => sgd.applyGradients(grads as unknown as Parameters<typeof sgd.applyGradients>[0]), sync);
  sgd.dispose();
  const mom = tf.train.momentum(0.01, 0.9);
  const momentumUpdateMs = timeIt(updates, () => mom.applyGradients(grads as unknown as Parameters<typeof mom.applyGradients>[0]), sync);
  mom.dispose();
  tf.dispose(grads);

  progress(`fgsgd-update: whole training step, batch ${BATCH}`);
  const stepOpt = tf.train.sgd(0.01);
  trainStep(model, stepOpt, x, labels);
  const t0 = now();
  for (let i = 0; i < trainSteps; i++) trainStep(model, stepOpt, x, labels);
  const trainStepMs = (now() - t0) / trainSteps;
  stepOpt.dispose();
  const parameters = vars.reduce((n, v) => n + v.size, 0);
  model.dispose();
  tf.dispose([x, labels]);

  const addedToTrainStep = (fgsgdUpdateMs - sgdUpdateMs) / trainStepMs;
  const data: FgsgdUpdateData = {
    backend: tf.getBackend(),
    model: 'resnet20',
    batch: BATCH,
    parameters,
    groups: grouping.kernels.reduce((n, k) => n + k.groups.length, 0),
    updates,
    trainSteps,
    fgsgdUpdateMs,
    fgsgdEuclideanUpdateMs,
    sgdUpdateMs,
    momentumUpdateMs,
    trainStepMs,
    fgsgdOverSgd: fgsgdUpdateMs / sgdUpdateMs,
    fgsgdOverTrainStep: fgsgdUpdateMs / trainStepMs,
    addedToTrainStep,
    target: TARGET_OVERHEAD,
    meetsTarget: addedToTrainStep <= TARGET_OVERHEAD,
    tensorsLeakedPerUpdate,
  };
  const f = (v: number) => v.toFixed(1);
  const text = [
    `fgsgd-update (resnet20, ${parameters} parameters, ${data.groups} groups, backend ${data.backend})`,
    `  FG-SGD update (PIO, Sp+Ob+St+Euc, momentum) ${f(fgsgdUpdateMs)} ms`,
    `  FG-SGD update, all groups Euclidean         ${f(fgsgdEuclideanUpdateMs)} ms`,
    `  tf.train.sgd update                         ${f(sgdUpdateMs)} ms`,
    `  tf.train.momentum update                    ${f(momentumUpdateMs)} ms`,
    `  training step (batch ${BATCH}, plain SGD)        ${f(trainStepMs)} ms`,
    `  FG-SGD / SGD update ${data.fgsgdOverSgd.toFixed(2)}×; FG-SGD update / training step ${(100 * data.fgsgdOverTrainStep).toFixed(1)}%;`,
    `  added to a training step ${(100 * addedToTrainStep).toFixed(1)}% (target ≤ ${100 * TARGET_OVERHEAD}%: ${data.meetsTarget ? 'met' : 'NOT met'})`,
  ].join('\n');
  return { name: 'fgsgd-update', text, data, ok: tensorsLeakedPerUpdate === 0 };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.env.FGSGD_LOG_LEVEL ??= 'silent';
  const [updates, trainSteps] = process.argv.slice(2).map(Number);
  const r = await benchFgsgdUpdate(undefined, { updates: updates || undefined, trainSteps: trainSteps || undefined });
  console.log(r.text);
  console.log(JSON.stringify(r.data));
}
