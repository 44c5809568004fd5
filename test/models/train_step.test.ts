/**
 * Every model of the zoo trains on the wasm backend (the embedded training backend, with the
 * project's backprop kernels): one step at batch 2 for 28×28×1 and 32×32×3 inputs, with 10 and 100
 * classes, a finite loss, weights that move, and no tensor left behind. Batch 2 and one step keep
 * resnet110 affordable.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { MODELS, buildModel } from '../../src/models/index.js';
import { trainStep } from '../../src/train/step.js';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';

await useBackend('wasm');

const BATCH = 2;
const INPUTS = [
  { inputShape: [28, 28, 1], numClasses: 10 },
  { inputShape: [32, 32, 3], numClasses: 100 },
] as const;

for (const entry of MODELS) {
  t.test(`${entry.name}: one training step on wasm, both input kinds`, async (t) => {
    t.equal(tf.getBackend(), 'wasm');
    for (const { inputShape, numClasses } of INPUTS) {
      const what = `${entry.name} on ${inputShape.join('×')}, ${numClasses} classes`;
      await assertNoLeak(t, what, () => {
        const model = buildModel(entry.name, { inputShape: [...inputShape], numClasses, seed: 3 });
        const optimizer = tf.train.sgd(0.01);
        const x = tf.randomUniform([BATCH, ...inputShape], 0, 1, 'float32', 5);
        const labels = tf.tensor1d([1, numClasses - 1], 'int32');
        try {
          // The last kernel sees every gradient path; it must change.
          const last = model.trainableWeights.filter((w) => w.shape.length >= 2).at(-1)!;
          const before = last.read().dataSync().slice();
          const loss = trainStep(model, optimizer, x, labels);
          t.ok(Number.isFinite(loss) && loss > 0, `${what}: finite loss ${loss.toFixed(3)}`);
          const after = last.read().dataSync();
          t.ok(after.some((v, i) => v !== before[i]), `${what}: ${last.originalName} moved`);
        } finally {
          tf.dispose([x, labels]);
          optimizer.dispose();
          model.dispose();
        }
      });
    }
  });
}
