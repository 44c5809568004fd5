import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from './types.js';

/**
 * CIFAR ResNets (He et al. 2016), layer for layer as `torch_step.py`: conv3x3(16)+BN+ReLU, three
 * stages of n basic blocks (widths 16·k/32·k/64·k, stride 2 at stages 2 and 3), a 1×1 conv+BN
 * projection shortcut where the shape changes, global average pooling, dense(classes)+bias.
 * Convolutions have no bias. depth = 6n+2 (20, 44, 110, ...). `widen` k > 1 gives the wide
 * variant's widths (used by WRN).
 * The caller owns the returned model and disposes it with `model.dispose()`.
 */
export function resnet(depth: number, { inputShape = [32, 32, 3], numClasses = 10, seed }: ModelOptions = {}, widen = 1): tf.LayersModel {
  if ((depth - 2) % 6 !== 0 || depth < 8) {
    throw new Error(`resnet depth ${depth} is invalid: it must be 6n+2 (20, 32, 44, 56, 110).`);
  }
  const n = (depth - 2) / 6;
  let k = 0;
  const kinit = () => tf.initializers.heNormal({ seed: seed === undefined ? undefined : seed + ++k });
  // PyTorch's BatchNorm2d defaults: momentum 0.1 (tfjs 0.9), eps 1e-5.
  const bn = (name: string) => tf.layers.batchNormalization({ name, momentum: 0.9, epsilon: 1e-5 });
  const conv = (name: string, filters: number, kernelSize: number, strides: number) =>
    tf.layers.conv2d({ name, filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: kinit() });

  const input = tf.input({ shape: inputShape, name: 'input' });
  let x = conv('conv0', 16 * widen, 3, 1).apply(input) as tf.SymbolicTensor;
  x = bn('bn0').apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu0' }).apply(x) as tf.SymbolicTensor;
  let cin = 16 * widen;
  [16, 32, 64].forEach((w0, i) => {
    const w = w0 * widen;
    for (let j = 0; j < n; j++) {
      const stride = j === 0 && i > 0 ? 2 : 1;
      const p = `s${i + 1}b${j + 1}`;
      let y = conv(`${p}_conv1`, w, 3, stride).apply(x) as tf.SymbolicTensor;
      y = bn(`${p}_bn1`).apply(y) as tf.SymbolicTensor;
      y = tf.layers.reLU({ name: `${p}_relu1` }).apply(y) as tf.SymbolicTensor;
      y = conv(`${p}_conv2`, w, 3, 1).apply(y) as tf.SymbolicTensor;
      y = bn(`${p}_bn2`).apply(y) as tf.SymbolicTensor;
      let s = x;
      if (stride !== 1 || cin !== w) {
        s = conv(`${p}_short`, w, 1, stride).apply(x) as tf.SymbolicTensor;
        s = bn(`${p}_short_bn`).apply(s) as tf.SymbolicTensor;
      }
      x = tf.layers.add({ name: `${p}_add` }).apply([y, s]) as tf.SymbolicTensor;
      x = tf.layers.reLU({ name: `${p}_relu2` }).apply(x) as tf.SymbolicTensor;
      cin = w;
    }
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'fc', units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: seed === undefined ? undefined : seed + 999 }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: `resnet${depth}` });
}
