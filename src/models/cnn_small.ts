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

/**
 * `cnn-small-bn`, layer for layer as `torch_step.py`'s `cnn_small_bn`: cnn-small with BatchNorm
 * after each conv and the conv biases dropped (BN's shift replaces them): conv3x3(32), BN, ReLU,
 * maxpool2, conv3x3(64), BN, ReLU, maxpool2, flatten, dense(classes)+bias; 'same' padding.
 * BN uses PyTorch's defaults (momentum 0.1 there is 0.9 here; epsilon 1e-5); its moving mean and
 * variance are non-trainable weights (buffers in PyTorch).
 * The caller owns the returned model and disposes it with `model.dispose()`.
 */
export function cnnSmallBn({ inputShape = [28, 28, 1], numClasses = 10, seed }: ModelOptions = {}): tf.LayersModel {
  const init = (k: number) => tf.initializers.heUniform({ seed: seed === undefined ? undefined : seed + k });
  const bn = (name: string) => tf.layers.batchNormalization({ name, axis: -1, momentum: 0.9, epsilon: 1e-5 });
  const model = tf.sequential({ name: 'cnn-small-bn' });
  model.add(tf.layers.conv2d({ name: 'conv1', inputShape, filters: 32, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1) }));
  model.add(bn('bn1'));
  model.add(tf.layers.reLU({ name: 'relu1' }));
  model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }));
  model.add(tf.layers.conv2d({ name: 'conv2', filters: 64, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(2) }));
  model.add(bn('bn2'));
  model.add(tf.layers.reLU({ name: 'relu2' }));
  model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'fc', units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: seed === undefined ? undefined : seed + 3 }) }));
  return model;
}
