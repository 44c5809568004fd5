import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from './types.js';

/**
 * `cnn-small`, layer for layer as `torch_step.py`: conv3x3(32)+bias, ReLU, maxpool2,
 * conv3x3(64)+bias, ReLU, maxpool2, flatten, dense(classes)+bias; 'same' padding.
 * The caller owns the returned model and disposes it with `model.dispose()`.
 */
export function cnnSmall({ inputShape = [28, 28, 1], numClasses = 10, seed }: ModelOptions = {}): tf.LayersModel {
  const init = (k: number) => tf.initializers.heUniform({ seed: seed === undefined ? undefined : seed + k });
  const model = tf.sequential({ name: 'cnn-small' });
  model.add(tf.layers.conv2d({ name: 'conv1', inputShape, filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }));
  model.add(tf.layers.conv2d({ name: 'conv2', filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }));
  model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'fc', units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: seed === undefined ? undefined : seed + 3 }) }));
  return model;
}
