/**
 * Gradient of `Sum`, for wasm: dx is dy repeated over the reduced axes, one `Tile`, instead of
 * tfjs-core's dy · ones(x.shape) (a full-size array built in JS and uploaded; see Mean_grad.ts).
 * Same values. On any other backend it defers to tfjs-core's own gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { priorGradient } from './kernel_utils.js';

export const sumGradConfig: tf.GradConfig = {
  kernelName: 'Sum',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const g = dy as tf.Tensor;
    if (tf.getBackend() !== 'wasm' || g.dtype !== 'float32') return priorGradient('Sum').gradFunc(dy, saved, attrs);
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape);
    const expanded = x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
    const reps = x.shape.map((s, i) => (axes.includes(i) ? s : 1));
    return { x: () => tf.tile(tf.reshape(g, expanded), reps) };
  },
};
