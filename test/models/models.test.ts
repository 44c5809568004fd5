import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { MODELS, buildModel } from '../../src/models/index.js';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';

await useBackend('cpu');

/** Trainable parameter counts of the PyTorch definitions in shared/reference/torch_step.py
 * (BatchNorm running statistics are buffers there, non-trainable weights here). */
const TORCH_PARAMS: Record<string, number> = { 'cnn-small': 50186, resnet20: 272474 };

const trainable = (m: tf.LayersModel) => m.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0);

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
  t.throws(() => buildModel('vgg16'), /unknown model 'vgg16'; valid models: cnn-small, resnet20/);
});
