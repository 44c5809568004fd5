/**
 * The trainer's optimizer (src/train/optimizer.ts): λ statistics only where a radius policy uses
 * them, counted as forward passes of the first layer per step; weight decay on the Euclidean
 * parameters only, by default as the baseline's.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { TrainOptimizer, type OptimizerConfig } from '../../src/train/optimizer.js';
import { lossAndGrads } from '../../src/train/step.js';
import { buildModel } from '../../src/models/index.js';
import { blobData } from '../fgsgd/helpers.js';

await useBackend('wasm');

const FGSGD: OptimizerConfig = { optimizer: 'fgsgd', lr: 0.05, momentum: 0.9, grouping: 'PIO', manifolds: 'Sp+Ob+St+Euc' };
const STEPS = 6;

/** Forward passes through conv1 in each of STEPS training steps (observe + forward/backward). */
async function passesPerStep(config: OptimizerConfig): Promise<number[]> {
  const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 2 });
  const conv1 = model.getLayer('conv1') as unknown as { call: (...a: unknown[]) => unknown };
  const call = conv1.call.bind(conv1);
  let calls = 0;
  conv1.call = (...a: unknown[]) => {
    calls++;
    return call(...a);
  };
  const optimizer = new TrainOptimizer(model, config, 1);
  const { x, y } = blobData(16, [8, 8, 1], 2);
  const out: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    calls = 0;
    await optimizer.observe(x);
    const { value, grads } = lossAndGrads(model, x, y);
    optimizer.applyGradients(grads);
    tf.dispose([value, ...Object.values(grads)]);
    out.push(calls);
  }
  optimizer.dispose();
  model.dispose();
  tf.dispose([x, y]);
  return out;
}

t.test('λ statistics only when a radius policy uses them: forward passes per step', async (t) => {
  await assertNoLeak(t, 'passes', async () => {
    t.same(await passesPerStep(FGSGD), Array(STEPS).fill(1), 'init (the default): one pass per step, no statistics pass');
    t.same(await passesPerStep({ ...FGSGD, fgsgd: { radius: 'bound:0.25' } }), Array(STEPS).fill(1), 'bound:B: one pass per step');
    t.same(await passesPerStep({ ...FGSGD, optimizer: 'sgd' }), Array(STEPS).fill(1), 'SGD: one pass per step');
    // The control: the data policy does run the statistics pass, on the first step (stage (i))
    // and then every lambdaEvery steps.
    t.same(await passesPerStep({ ...FGSGD, fgsgd: { radius: 'data' }, lambdaEvery: 1 }), Array(STEPS).fill(2), 'data, every step: two passes per step');
    t.same(await passesPerStep({ ...FGSGD, fgsgd: { radius: 'data' }, lambdaEvery: 3 }), [2, 1, 1, 2, 1, 1], 'data, every 3 steps: a pass at steps 0, 3, ...');
    t.same(await passesPerStep({ ...FGSGD, fgsgd: { radius: 'init', radiusLayers: { conv2: 'data' } }, lambdaEvery: 1 }), Array(STEPS).fill(2), 'one layer on data is enough to need it');
  });
});

t.test('a hot-swap to or from the data policy starts or stops the statistics', async (t) => {
  await assertNoLeak(t, 'swap', () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 3 });
    const optimizer = new TrainOptimizer(model, FGSGD, 1);
    t.notOk(optimizer.gathersStatistics, 'init: no statistics');
    optimizer.reconfigure({ ...FGSGD, fgsgd: { radius: 'data' } });
    t.ok(optimizer.gathersStatistics, 'data: statistics');
    optimizer.reconfigure({ ...FGSGD, fgsgd: { radius: 'bound:0.5' } });
    t.notOk(optimizer.gathersStatistics, 'bound: none again');
    optimizer.dispose();
    model.dispose();
  });
});

t.test('FG-SGD decays the Euclidean parameters, and only them', async (t) => {
  await assertNoLeak(t, 'weight decay', () => {
    // Zero gradients: any change is weight decay. PIO Sp+Euc: conv kernels split between the
    // sphere and Euclidean groups; biases are Euclidean.
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 4 });
    const conv1 = model.getLayer('conv1');
    const [k, b] = conv1.getWeights();
    const ones = tf.onesLike(b!);
    conv1.setWeights([k!, ones]);
    ones.dispose();
    const wd = 0.1;
    const lr = 0.5;
    const optimizer = new TrainOptimizer(model, { ...FGSGD, lr, momentum: 0, manifolds: 'Sp+Euc', weightDecay: wd, fgsgd: { step: 'fixed' } }, 1);
    optimizer.applyGradients({}); // stage (i) happens at the first step; no gradient: nothing moves
    const before = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
    const grads: tf.NamedTensorMap = {};
    for (const w of model.trainableWeights) {
      const v = (w as unknown as { val: tf.Variable }).val;
      grads[v.name] = tf.zerosLike(v);
    }
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
    const after = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
    const names = model.weights.map((w) => w.originalName);
    const bias = names.indexOf('conv1/bias');
    t.ok(after[bias]!.every((v, i) => Math.abs(v - (1 - lr * wd) * before[bias]![i]!) < 1e-6), 'biases shrink by 1 − lr·wd');
    const kernel = names.indexOf('conv1/kernel');
    let shrunk = 0;
    let kept = 0;
    before[kernel]!.forEach((v, i) => {
      const a = after[kernel]![i]!;
      if (Math.abs(a - (1 - lr * wd) * v) < 1e-6 && Math.abs(v) > 1e-3) shrunk++;
      else if (Math.abs(a - v) < 1e-6) kept++;
    });
    t.ok(shrunk > 0 && kept > 0, `conv1 kernel: Euclidean entries shrink (${shrunk}), sphere entries keep their norm (${kept})`);
    t.equal(shrunk + kept, before[kernel]!.length, 'every kernel entry is one or the other');
    optimizer.dispose();
    model.dispose();
  });
});

t.test('the λ statistics in the state are keyed by layer name, and positional keys of older checkpoints still load', async (t) => {
  await assertNoLeak(t, 'state', async () => {
    const config: OptimizerConfig = { ...FGSGD, fgsgd: { radius: 'data' }, lambdaEvery: 1 };
    const build = () => buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 5 });
    const { x, y } = blobData(16, [8, 8, 1], 2);
    const model = build();
    const optimizer = new TrainOptimizer(model, config, 1);
    for (let i = 0; i < 2; i++) {
      await optimizer.observe(x);
      const { value, grads } = lossAndGrads(model, x, y);
      optimizer.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const state = await optimizer.getState();
    const keys = Object.keys(state.tensors).filter((k) => k.startsWith('renormalizer/'));
    t.same(keys, ['renormalizer/conv1', 'renormalizer/conv2', 'renormalizer/fc'], 'one per kernel layer input, by layer name');

    const roundTrip = async (tensors: typeof state.tensors) => {
      const m = build();
      const o = new TrainOptimizer(m, config, 1);
      o.setState({ ...state, tensors });
      const got = (await o.getState()).tensors;
      o.dispose();
      m.dispose();
      return got;
    };
    t.same(await roundTrip(state.tensors), state.tensors, 'a state keyed by name restores as it was');
    // Checkpoints written before names: renormalizer/0, /1, /2 in capture order.
    const position: Record<string, string> = { 'renormalizer/conv1': 'renormalizer/0', 'renormalizer/conv2': 'renormalizer/1', 'renormalizer/fc': 'renormalizer/2' };
    const positional = Object.fromEntries(Object.entries(state.tensors).map(([k, v]) => [position[k] ?? k, v]));
    t.ok('renormalizer/1' in positional, 'the control: positional keys were made');
    t.same(await roundTrip(positional), state.tensors, 'positional keys restore to the same statistics');
    const m = build();
    const o = new TrainOptimizer(m, config, 1);
    t.throws(() => o.setState({ ...state, tensors: { ...state.tensors, 'renormalizer/conv9': state.tensors['renormalizer/conv1']! } }), /statistics of 'conv9'/, 'an unknown layer is refused, by name');
    o.dispose();
    m.dispose();
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });
});
