/**
 * Dead channels of the first ReLU: which layer is found, the count over a data set (one channel
 * killed by hand, a control without), the `evaluate` operator's `deadChannels`, and no leaks.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { makeSamples, SIDE } from './fixtures.js';
import { samplesToTensors } from '../../operators/toTensors.js';
import { evaluate } from '../../operators/evaluate.js';
import { DeadChannelCounter, deadChannelProbe, firstReluLayer } from '../../src/train/dead_channels.js';
import type { EvalEnd, EpochEnd } from '../../src/events.js';

await useBackend('wasm');

const FILTERS = 4;
const CLASSES = 3;

/**
 * conv1 (3×3, relu) → flatten → dense. Every kernel weight is +0.1 and every bias +0.1, so on
 * images ≥ 0 each channel is > 0 everywhere (the control); `kill` zeroes that channel's kernel and
 * sets its bias to −1, so it is 0 for every image and position.
 */
function convNet(kill?: number): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ name: 'conv1', inputShape: [SIDE, SIDE, 1], filters: FILTERS, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: CLASSES }));
  const conv = model.getLayer('conv1');
  const [k, b] = conv.getWeights();
  const kernel = tf.tidy(() => {
    const mask = tf.oneHot(kill ?? -1, FILTERS).reshape([1, 1, 1, FILTERS]);
    return tf.fill(k!.shape, 0.1).mul(tf.sub(1, mask));
  });
  const bias = tf.tidy(() => tf.tensor1d(Array.from({ length: FILTERS }, (_, c) => (c === kill ? -1 : 0.1))));
  conv.setWeights([kernel, bias]);
  tf.dispose([kernel, bias]);
  return model;
}

/** Test batches of images with pixels in [0, 1]. */
const batches = () => {
  const samples = makeSamples(20, 5);
  return from([samplesToTensors(samples.slice(0, 8)), samplesToTensors(samples.slice(8, 20))]);
};

t.test('the first ReLU: a layer with activation relu, or a ReLU layer; none without', async (t) => {
  const a = convNet();
  t.equal(firstReluLayer(a)?.name, 'conv1');
  a.dispose();
  // cnn-small-bn's shape: conv (no activation) → batch norm → ReLU layer.
  const bn = tf.sequential();
  bn.add(tf.layers.conv2d({ name: 'c', inputShape: [SIDE, SIDE, 1], filters: 2, kernelSize: 3, useBias: false }));
  bn.add(tf.layers.batchNormalization({ name: 'bn' }));
  bn.add(tf.layers.reLU({ name: 'relu1' }));
  bn.add(tf.layers.conv2d({ name: 'later', filters: 2, kernelSize: 3, activation: 'relu' }));
  t.equal(firstReluLayer(bn)?.name, 'relu1');
  t.equal(deadChannelProbe(bn)?.channels, 2);
  bn.dispose();
  const act = tf.sequential();
  act.add(tf.layers.dense({ name: 'd', inputShape: [4], units: 3 }));
  act.add(tf.layers.activation({ name: 'act', activation: 'relu' }));
  t.equal(firstReluLayer(act)?.name, 'act');
  act.dispose();
  const linear = tf.sequential();
  linear.add(tf.layers.dense({ inputShape: [4], units: 2, activation: 'tanh' }));
  t.equal(firstReluLayer(linear), undefined);
  t.equal(deadChannelProbe(linear), null);
  linear.dispose();
});

t.test('DeadChannelCounter: one killed channel is dead, the control has none; no leaks', async (t) => {
  await assertNoLeak(t, 'dead channels', async () => {
    for (const [kill, dead] of [[undefined, 0], [2, 1]] as const) {
      const model = convNet(kill);
      const probe = deadChannelProbe(model)!;
      const counter = new DeadChannelCounter(probe);
      for (const b of await lastValueFrom(batches().pipe(toArray()))) {
        await counter.add(b.x);
        tf.dispose([b.x, b.y]);
      }
      t.same(counter.result(), { layer: 'conv1', dead, channels: FILTERS }, `kill ${kill}`);
      model.dispose();
    }
  });
});

t.test('evaluate: deadChannels on the test split, not on validation; no leaks', async (t) => {
  await assertNoLeak(t, 'evaluate with dead channels', async () => {
    const model = convNet(1);
    const epochEnd: EpochEnd = { type: 'epochEnd', epoch: 0, step: 3, trainLoss: 1, trainAccuracy: 0.5, images: 8, ms: 1, skippedSamples: 0 };
    const out = await lastValueFrom(
      from([epochEnd, { ...epochEnd, epoch: 1, step: 6 }]).pipe(
        evaluate({ model, batches, split: 'validation' }),
        evaluate({ model, batches }),
        toArray(),
      ),
    );
    const evals = out.filter((e): e is EvalEnd => e.type === 'evalEnd');
    t.same(evals.map((e) => e.split), ['test', 'validation', 'test', 'validation']);
    for (const e of evals.filter((e) => e.split === 'test')) t.same(e.deadChannels, { layer: 'conv1', dead: 1, channels: FILTERS });
    for (const e of evals.filter((e) => e.split === 'validation')) t.notOk('deadChannels' in e, 'not counted on validation by default');
    t.ok(evals.every((e) => e.images === 20));
    model.dispose();
  });
});
