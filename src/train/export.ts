/**
 * The trained model in TensorFlow.js's own format, so that it leaves the run usable without this
 * project: `DIR/model.json` (topology and weights manifest, format 'layers-model') and
 * `DIR/weights.bin`, exactly what `tf.loadLayersModel` reads from a URL in a browser, from
 * `file://` with tfjs-node, or from memory (`tf.io.fromMemory`) anywhere.
 *
 * FG-SGD stores the renormalized weights in the model's own variables (implementation (b) of
 * docs/fgsgd.md), so the saved model is an ordinary LayersModel: no custom layer, no ℜ to apply.
 *
 * Tensor ownership: saving reads the weights and creates no tensors the caller must free; the
 * loaded model belongs to the caller (`model.dispose()`).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** Save `model` as `dir/model.json` + `dir/weights.bin` (each written atomically); returns `dir`. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts!;
  const data = a.weightData === undefined ? new Uint8Array(0) : new Uint8Array(tf.io.concatenateArrayBuffers(Array.isArray(a.weightData) ? a.weightData : [a.weightData]));
  await writeFileAtomic(join(dir, WEIGHTS_BIN), data);
  const json = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: a.weightSpecs ?? [] }],
  };
  // The manifest is written last: a model.json on disk always has its weights beside it.
  await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(json));
  return dir;
}

/**
 * Load a model saved by `saveLayersModel` (or any single-shard tfjs LayersModel directory) from
 * disk with plain @tensorflow/tfjs. Errors name the file and what is wrong.
 */
export async function loadLayersModelFromDir(dir: string): Promise<tf.LayersModel> {
  const path = join(dir, MODEL_JSON);
  let json: { modelTopology?: object; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read a TensorFlow.js model (${(e as Error).message}); give the directory a run wrote as OUT/model`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error(`${path}: not a TensorFlow.js LayersModel (no modelTopology or weightsManifest)`);
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const shards = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(join(dir, p))));
  const weightData = tf.io.concatenateArrayBuffers(shards.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
  const expected = weightSpecs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'float32' || s.dtype === 'int32' ? 4 : 1), 0);
  if (weightData.byteLength !== expected) throw new Error(`${dir}: the weight files hold ${weightData.byteLength} bytes; model.json describes ${expected}`);
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}
