import * as tf from '@tensorflow/tfjs';
import { initBackend } from '/work/main/src/backend/index.js';
import { buildGrouping } from '/work/main/src/fgsgd/grouping.js';
import { FGSGD } from '/work/main/src/fgsgd/optimizer.js';
import { buildModel } from '/work/main/src/models/index.js';
import { lossAndGrads } from '/work/main/src/train/step.js';
process.env.FGSGD_LOG_LEVEL ??= 'warn';
await initBackend('wasm' as any);
const model = buildModel('cnn-small', { seed: 0 });
const x = tf.randomNormal([64, 28, 28, 1], 0, 1, 'float32', 1);
const labels = tf.randomUniform([64], 0, 10, 'int32', 2);
const { value, grads } = lossAndGrads(model, x, labels);
const grouping = buildGrouping(model, { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 0 });
const opt = new FGSGD(grouping, { lr: 0.01, momentum: 0.9, stabilizeEvery: 0 });
for (let i = 0; i < 20; i++) opt.applyGradients(grads);
let best = Infinity;
for (let r = 0; r < 7; r++) { const t0 = performance.now(); for (let i = 0; i < 100; i++) opt.applyGradients(grads); model.trainableWeights[0]!.read().dataSync(); best = Math.min(best, (performance.now() - t0) / 100); }
console.log('best ms/update', best.toFixed(3), Buffer.from(model.trainableWeights[2]!.read().dataSync().buffer).toString('base64').slice(0, 24));
