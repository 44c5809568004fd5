/** Samples to tensors: the one place on the data side that creates tensors. */
import * as tf from '@tensorflow/tfjs';
import type { Sample, TensorBatch } from './types.js';

/**
 * Build the tensors of one batch: `x` float32 `[b, h, w, c]` (byte pixels times `uint8Scale`,
 * float pixels as they are), `y` int32 `[b]`. The caller owns and disposes `x` and `y`.
 * No intermediate tensors are made (the data is assembled in typed arrays), so no `tidy` is needed.
 */
export function samplesToTensors(samples: readonly Sample[], uint8Scale = 1 / 255): TensorBatch {
  const first = samples[0];
  if (!first) throw new RangeError('toTensors: empty batch');
  const [h, w, c] = first.shape;
  const per = h * w * c;
  const x = new Float32Array(samples.length * per);
  const y = new Int32Array(samples.length);
  samples.forEach((s, i) => {
    if (s.shape[0] !== h || s.shape[1] !== w || s.shape[2] !== c || s.image.length !== per) {
      throw new RangeError(
        `toTensors: sample ${s.source ?? s.key} has shape [${s.shape.join(', ')}], the batch has [${h}, ${w}, ${c}]; ` +
          `give decodeImages a size (and channels) so that all images match`,
      );
    }
    if (s.image instanceof Uint8Array) {
      for (let k = 0; k < per; k++) x[i * per + k] = s.image[k]! * uint8Scale;
    } else {
      x.set(s.image, i * per);
    }
    y[i] = s.label;
  });
  return {
    x: tf.tensor4d(x, [samples.length, h, w, c], 'float32'),
    y: tf.tensor1d(y, 'int32'),
    keys: samples.map((s) => s.key),
  };
}
