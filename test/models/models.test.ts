import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { MODELS, buildModel } from '../../src/models/index.js';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { buildGrouping } from '../../src/fgsgd/grouping.js';
import { trainStep } from '../../src/train/step.js';

await useBackend('cpu');

/** Trainable parameter counts of the PyTorch definitions in bench/reference/torch_step.py
 * (BatchNorm running statistics are buffers there, non-trainable weights here). */
const TORCH_PARAMS: Record<string, number> = { 'cnn-small': 50186, 'cnn-small-bn': 50282, resnet20: 272474 };

const size = (ws: tf.LayerVariable[]) => ws.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0);
const trainable = (m: tf.LayersModel) => size(m.trainableWeights);

t.test('model names are unique and every model builds for both input kinds and any class count', async (t) => {
  t.equal(new Set(MODELS.map((m) => m.name)).size, MODELS.length);
  for (const entry of MODELS) {
    for (const [inputShape, numClasses] of [[[28, 28, 1], 10], [[32, 32, 3], 100]] as const) {
      await assertNoLeak(t, `${entry.name} ${inputShape}`, () => {
        const m = buildModel(entry.name, { inputShape: [...inputShape], numClasses, seed: 1 });
        tf.tidy(() => {
          const y = m.predict(tf.zeros([2, ...inputShape])) as tf.Tensor;
          t.same(y.shape, [2, numClasses], `${entry.name} on ${inputShape.join('x')} → [2, ${numClasses}]`);
        });
        m.dispose();
      });
    }
  }
});

t.test('parameter counts match the PyTorch reference definitions', async (t) => {
  for (const [name, count] of Object.entries(TORCH_PARAMS)) {
    const m = buildModel(name, { seed: 1 });
    t.equal(trainable(m), count, `${name} has ${count} trainable parameters`);
    m.dispose();
  }
});

t.test('an unknown model is an error listing the valid ones', async (t) => {
  t.throws(() => buildModel('vgg16'), /unknown model 'vgg16'; valid models: cnn-small, cnn-small-bn, resnet20/);
});

t.test('cnn-small-bn: BatchNorm after each bias-free conv, as torch_step.py cnn_small_bn', async (t) => {
  await assertNoLeak(t, 'cnn-small-bn', () => {
    const m = buildModel('cnn-small-bn', { seed: 1 });
    const optimizer = tf.train.sgd(0.01);
    try {
      t.equal(m.name, 'cnn-small-bn');
      t.same(m.layers.map((l) => l.name), ['conv1', 'bn1', 'relu1', 'pool1', 'conv2', 'bn2', 'relu2', 'pool2', 'flatten', 'fc']);
      // conv1 kernel, bn1 gamma+beta, conv2 kernel, bn2 gamma+beta, fc kernel+bias (no conv bias).
      const hand = 3 * 3 * 1 * 32 + 2 * 32 + 3 * 3 * 32 * 64 + 2 * 64 + (7 * 7 * 64 * 10 + 10);
      t.equal(hand, 50282, 'the hand count is the README figure');
      t.equal(trainable(m), hand, 'trainable parameters');
      // Moving mean and variance of bn1 and bn2: buffers in PyTorch, non-trainable here.
      t.equal(size(m.nonTrainableWeights), 2 * 32 + 2 * 64, 'non-trainable parameters (BN moving mean/variance)');
      t.same(m.trainableWeights.map((w) => w.originalName), [
        'conv1/kernel', 'bn1/gamma', 'bn1/beta', 'conv2/kernel', 'bn2/gamma', 'bn2/beta', 'fc/kernel', 'fc/bias',
      ]);

      tf.tidy(() => {
        const y = m.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor;
        t.same(y.shape, [2, 10], 'output [2, 10] for a [2, 28, 28, 1] input');
      });

      const g = buildGrouping(m, { seed: 1 });
      t.same(g.kernels.map((k) => k.weightName), ['conv1/kernel', 'conv2/kernel', 'fc/kernel'], 'conv and dense kernels are grouped');
      t.same(g.others.map((o) => o.weightName).sort(), ['bn1/beta', 'bn1/gamma', 'bn2/beta', 'bn2/gamma', 'fc/bias'], 'BN gamma/beta and the fc bias stay Euclidean');

      // One training step: finite loss, and BN's moving statistics move (training mode).
      const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 5);
      const labels = tf.tensor1d([1, 9], 'int32');
      try {
        const mean = m.getLayer('bn1').getWeights()[2]!;
        const before = mean.dataSync().slice();
        const loss = trainStep(m, optimizer, x, labels);
        t.ok(Number.isFinite(loss) && loss > 0, `finite loss ${loss.toFixed(3)}`);
        const after = m.getLayer('bn1').getWeights()[2]!.dataSync();
        t.ok(after.some((v, i) => v !== before[i]), 'bn1 moving mean updated by the training step');
      } finally {
        tf.dispose([x, labels]);
      }
    } finally {
      optimizer.dispose();
      m.dispose();
    }
  });
});
