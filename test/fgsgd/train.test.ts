/**
 * End to end: a small conv net (cnn-small on 8×8×1 inputs) trains with FG-SGD (PIO,
 * Sp+Ob+St+Euc, renormalization refreshed each epoch) on the wasm backend: the loss falls, the
 * constrained norms stay bounded, and no tensor leaks.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak, assertStepsDoNotLeak } from '../helpers/leak.js';
import { initNorm } from '../../src/fgsgd/radius.js';
import { fgsgdParts } from './helpers.js';
import { normsReport } from '../../src/fgsgd/renormalize.js';
import { buildModel } from '../../src/models/index.js';
import { trainStep } from '../../src/train/step.js';
import { blobData } from './helpers.js';

await useBackend('wasm');

const EPOCHS = 4;
const BATCHES = 4;
const BATCH = 16;

t.test('cnn-small trains with FG-SGD (PIO, Sp+Ob+St+Euc): loss falls, norms bounded, no leak', async (t) => {
  await assertNoLeak(t, 'training', async () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 3 });
    const data = Array.from({ length: BATCHES }, (_, i) => blobData(BATCH, [8, 8, 1], 100 + i));
    const { grouping, optimizer, renormalizer } = await fgsgdParts(model, {
      grouping: { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 3 },
      optimizer: { lr: { name: 'cosine', lr: 0.2, totalSteps: EPOCHS * BATCHES }, momentum: 0.9 },
      firstBatch: data[0]!.x,
    });
    const evalLoss = () => tf.tidy(() => {
      const losses = data.map(({ x, y }) => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 4), model.predict(x) as tf.Tensor));
      return (tf.addN(losses).dataSync()[0]! / losses.length);
    });
    const initial = evalLoss();
    for (let epoch = 1; epoch <= EPOCHS; epoch++) {
      if (epoch === 2) {
        await assertStepsDoNotLeak(t, 'a training epoch', BATCHES - 1, (i) => {
          const { x, y } = data[i]!;
          trainStep(model, optimizer, x, y);
          renormalizer.observe(x);
        });
      } else {
        for (const { x, y } of data) {
          trainStep(model, optimizer, x, y);
          renormalizer.observe(x);
        }
      }
      t.ok(await renormalizer.onEpochEnd(epoch), `epoch ${epoch}: ℜ refreshed`);
    }
    const final = evalLoss();
    t.ok(final < 0.5 * initial, `loss falls: ${initial.toFixed(4)} → ${final.toFixed(4)}`);
    const report = await normsReport(grouping);
    // The init policy: every constrained kernel keeps its initializer's expected norm, so the
    // largest norm is the largest of those.
    const bound = Math.max(...grouping.kernels.map(initNorm));
    for (const tag of ['Sp', 'Ob', 'St']) {
      const m = report.maxNormByGroupKind[tag]!;
      t.ok(m.frobenius <= bound + 1e-5 && m.spectral <= bound + 1e-5, `${tag}: max norms ${m.frobenius.toFixed(4)} / ${m.spectral.toFixed(4)} ≤ ${bound.toFixed(4)}`);
    }
    t.equal(await optimizer.skippedGroupUpdates(), 0, 'no update skipped');
    const residuals = optimizer.residuals();
    t.ok(Object.entries(residuals).every(([, r]) => r.point < 1e-4), 'points stay on their manifolds');
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
    for (const d of data) tf.dispose([d.x, d.y]);
  });
});
