import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from './types.js';

/**
 * Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016), pre-activation basic blocks:
 * conv3x3(16), three stages of n = (d−4)/6 blocks of widths 16k/32k/64k (stride 2 at stages 2
 * and 3), each block BN-ReLU-conv3x3-BN-ReLU-conv3x3 with a 1×1 projection shortcut where the
 * shape changes, then BN-ReLU, global average pooling and dense(classes)+bias. Convolutions
 * have no bias; dropout is left out (the paper's CIFAR default for WRN-16-4 without dropout).
 * The caller owns the returned model and disposes it with `model.dispose()`.
 */
export function wideResnet(depth: number, widen: number, { inputShape = [32, 32, 3], numClasses = 10, seed }: ModelOptions = {}): tf.LayersModel {
  if ((depth - 4) % 6 !== 0 || depth < 10) {
    throw new Error(`wide resnet depth ${depth} is invalid: it must be 6n+4 (10, 16, 22, 28, 40).`);
  }
  const n = (depth - 4) / 6;
  let k = 0;
  const kinit = () => tf.initializers.heNormal({ seed: seed === undefined ? undefined : seed + ++k });
  const bn = (name: string) => tf.layers.batchNormalization({ name, momentum: 0.9, epsilon: 1e-5 });
  const conv = (name: string, filters: number, kernelSize: number, strides: number) =>
    tf.layers.conv2d({ name, filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: kinit() });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

  const input = tf.input({ shape: inputShape, name: 'input' });
  let x = apply(conv('conv0', 16, 3, 1), input);
  let cin = 16;
  [16, 32, 64].forEach((w0, i) => {
    const w = w0 * widen;
    for (let j = 0; j < n; j++) {
      const stride = j === 0 && i > 0 ? 2 : 1;
      const p = `s${i + 1}b${j + 1}`;
      const pre = apply(tf.layers.reLU({ name: `${p}_relu1` }), apply(bn(`${p}_bn1`), x));
      let y = apply(conv(`${p}_conv1`, w, 3, stride), pre);
      y = apply(tf.layers.reLU({ name: `${p}_relu2` }), apply(bn(`${p}_bn2`), y));
      y = apply(conv(`${p}_conv2`, w, 3, 1), y);
      const s = stride !== 1 || cin !== w ? apply(conv(`${p}_short`, w, 1, stride), pre) : x;
      x = apply(tf.layers.add({ name: `${p}_add` }), [y, s]);
      cin = w;
    }
  });
  x = apply(tf.layers.reLU({ name: 'relu_final' }), apply(bn('bn_final'), x));
  x = apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), x);
  const out = apply(
    tf.layers.dense({ name: 'fc', units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: seed === undefined ? undefined : seed + 999 }) }),
    x,
  );
  return tf.model({ inputs: input, outputs: out, name: `wrn-${depth}-${widen}` });
}
