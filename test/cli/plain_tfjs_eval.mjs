// Loads a run's OUT/model with plain @tensorflow/tfjs (no code of this project) and prints its
// test accuracy and loss on the IDX test split of a directory, as one JSON line.
// Usage: node plain_tfjs_eval.mjs MODEL_DIR IDX_DIR
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';

const [modelDir, dataDir] = process.argv.slice(2);
const idx = (name) => {
  const raw = readFileSync(join(dataDir, name));
  const buf = raw[0] === 0x1f ? gunzipSync(raw) : raw;
  const dims = buf[3];
  const shape = Array.from({ length: dims }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * dims, shape.reduce((a, b) => a * b, 1)) };
};
const images = idx('t10k-images-idx3-ubyte.gz');
const labels = idx('t10k-labels-idx1-ubyte.gz');
const json = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
const weights = readFileSync(join(modelDir, json.weightsManifest[0].paths[0]));
const model = await tf.loadLayersModel(
  tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }),
);
const [n, h, w] = images.shape;
const x = tf.div(tf.tensor4d(Float32Array.from(images.data), [n, h, w, 1]), 255);
const y = tf.tensor1d(Int32Array.from(labels.data), 'int32');
const logits = model.predict(x);
const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), y), 'float32')).dataSync()[0];
const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(y, logits.shape[1]), logits).dataSync()[0];
process.stdout.write(JSON.stringify({ accuracy, loss, images: n }) + '\n');
