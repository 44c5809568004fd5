/**
 * Shared fixtures for the trainer tests: a tiny learnable image set (8×8×1, 3 classes) as a
 * pull-through sample stream, and a session/pipeline builder on the cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { Observable } from 'rxjs';
import type { ModelOptions } from '../../src/models/index.js';
import { pullable, type PullObservable } from '../../src/pull.js';
import type { Sample } from '../../src/data/types.js';
import { Rng } from '../../src/random.js';
import { shuffle } from '../../operators/shuffle.js';
import { batch } from '../../operators/batch.js';
import { toTensors } from '../../operators/toTensors.js';
import type { TensorBatch } from '../../src/data/types.js';
import type { EpochPlan } from '../../src/train/fit.js';
import type { SessionOptions } from '../../src/train/session.js';

export const SIDE = 8;
export const CLASSES = 3;

/** `n` samples: class c lights up band c of the image, plus seeded noise. */
export function makeSamples(n: number, seed = 7): Sample[] {
  const rng = Rng.create(seed, 'fixture');
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % CLASSES;
    const image = new Uint8Array(SIDE * SIDE);
    for (let p = 0; p < image.length; p++) {
      const row = Math.floor(p / SIDE);
      const band = Math.floor((row * CLASSES) / SIDE);
      image[p] = Math.min(255, (band === label ? 160 : 20) + rng.int(0, 60));
    }
    out.push({ key: `s${i}`, image, shape: [SIDE, SIDE, 1], label });
  }
  return out;
}

/** The samples as a pull-through source (a fresh iteration per subscription). */
export function samples$(samples: readonly Sample[]) {
  return pullable<Sample>(async function* (signal) {
    for (const s of samples) {
      if (signal.aborted) return;
      yield s;
    }
  });
}

/** One epoch of shuffled training batches, drawn from the run's 'shuffle' stream. */
export function trainBatches(samples: readonly Sample[], batchSize: number) {
  return (plan: EpochPlan): PullObservable<TensorBatch> =>
    samples$(samples).pipe(shuffle({ bufferSize: samples.length, rng: plan.rng('shuffle') }), batch({ size: batchSize }), toTensors());
}

export function testBatches(samples: readonly Sample[], batchSize = 32) {
  return (): PullObservable<TensorBatch> => samples$(samples).pipe(batch({ size: batchSize }), toTensors());
}

export function sessionOptions(over: Partial<SessionOptions> = {}): SessionOptions {
  return {
    model: tinyNet,
    inputShape: [SIDE, SIDE, 1],
    numClasses: CLASSES,
    seed: 3,
    backend: null,
    optimizer: { optimizer: 'sgd', lr: 0.05, momentum: 0.9 },
    batchSize: 8,
    epochs: 2,
    ...over,
  };
}

/**
 * A tiny conv net for fast tests on the cpu backend: conv3×3(4)+ReLU, maxpool2, flatten,
 * dense(classes). Its kernels still have 3×3 components and a dense block grouping, so FG-SGD
 * puts them on every manifold type.
 */
export function tinyNet({ inputShape = [SIDE, SIDE, 1], numClasses = CLASSES, seed }: ModelOptions): tf.LayersModel {
  const init = (k: number) => tf.initializers.heUniform({ seed: seed === undefined ? undefined : seed + k });
  const model = tf.sequential({ name: 'tiny' });
  model.add(tf.layers.conv2d({ name: 'conv1', inputShape, filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'fc', units: numClasses, kernelInitializer: init(2) }));
  return model;
}
