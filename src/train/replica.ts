/**
 * The worker side of data-parallel training (src/train/replicas.ts): one model replica on its own
 * tfjs engine (wasm, or onednn as the main thread's). Per step it loads the weights the main
 * thread published, takes the loss and gradients of its shard of the batch, writes the gradients
 * into its region of shared memory and replies with the shard's loss and correct count. It keeps
 * no state between steps but its replica, whose weights are overwritten every step.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/index.js';
import { buildModel, type ModelOptions } from '../models/index.js';
import { lossAndGrads, trainableVariables } from './step.js';
import type { ReplicaInit, ReplicaReply, ReplicaStep } from './replicas.js';

const init = workerData as ReplicaInit;
await initBackend(init.backend);
const model = buildModel(init.model, init.modelOptions as ModelOptions);
const variables = trainableVariables(model);
const weights = new Float32Array(init.weights);
const grads = new Float32Array(init.grads);

function loadWeights(): void {
  let offset = 0;
  for (const w of model.weights) {
    const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const t = tf.tensor(weights.subarray(offset, offset + size), w.shape as number[]);
    w.write(t);
    t.dispose();
    offset += size;
  }
}

parentPort!.on('message', (m: ReplicaStep) => {
  let reply: ReplicaReply;
  try {
    loadWeights();
    const x = tf.tensor(m.x, m.xShape);
    const y = tf.tensor1d(m.y, 'int32');
    let correct: tf.Scalar | undefined;
    const { value, grads: g } = lossAndGrads(model, x, y, variables, (logits) => {
      correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), y), 'float32')) as tf.Scalar);
    });
    let offset = 0;
    for (const v of variables) {
      const data = g[v.name]!.dataSync() as Float32Array;
      grads.set(data, offset);
      offset += data.length;
    }
    reply = { id: m.id, loss: value.dataSync()[0]!, correct: correct!.dataSync()[0]! };
    tf.dispose([x, y, value, correct!, ...Object.values(g)]);
  } catch (e) {
    reply = { id: m.id, error: (e as Error).stack ?? String(e) };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ id: -1, ready: true, weights: model.weights.map((w) => w.shape) } satisfies ReplicaReply);
