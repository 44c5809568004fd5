/**
 * Gradient of `Mean` (tf.moments in batch norm takes two per layer), for wasm.
 *
 * tfjs-core's gradient builds `ones(x.shape)` in JS (a full-size Float32Array filled element by
 * element, then copied into the wasm heap, outside any kernel), multiplies it by the broadcast dy
 * and divides: three full passes plus the upload. dx is just dy / n repeated over the reduced
 * axes, i.e. one `Tile` (a few memmoves, see Tile.ts) of a tensor the size of dy. Same values.
 * On any other backend it defers to tfjs-core's own gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { priorGradient } from './kernel_utils.js';

export const meanGradConfig: tf.GradConfig = {
  kernelName: 'Mean',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const g = dy as tf.Tensor;
    if (tf.getBackend() !== 'wasm' || g.dtype !== 'float32') return priorGradient('Mean').gradFunc(dy, saved, attrs);
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape);
    const expanded = x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
    const reps = x.shape.map((s, i) => (axes.includes(i) ? s : 1));
    const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
    return { x: () => tf.tile(tf.reshape(tf.div(g, n), expanded), reps) };
  },
};
