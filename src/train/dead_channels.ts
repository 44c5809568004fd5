/**
 * Dead channels of a model's first ReLU: output channels that are zero for every image and
 * position of a data set. With constrained (unit-norm) first-layer kernels a channel whose bias
 * drifts below its largest possible response never fires again and gets no gradient, so the count
 * says how much of the first layer a run has lost.
 *
 * The first ReLU is the first layer (in the model's layer order) whose config has activation
 * 'relu' (cnn-small's conv1), or the first ReLU layer or `activation('relu')` layer (cnn-small-bn's
 * relu1, after conv1 and bn1). Layers inside nested models are not searched.
 */
import * as tf from '@tensorflow/tfjs';
import type { DeadChannels } from '../events.js';

/** A channel counts as dead when its largest activation over the set is at most this (ReLU outputs exact zeros). */
export const DEAD_THRESHOLD = 0;

/** The first layer whose output is a ReLU's, or undefined. */
export function firstReluLayer(model: tf.LayersModel): tf.layers.Layer | undefined {
  return model.layers.find((layer) => layer.getClassName() === 'ReLU' || layer.getConfig().activation === 'relu');
}

/**
 * A model sharing `model`'s layers whose output is the first ReLU's activation, run in inference
 * mode per batch by `DeadChannelCounter`.
 *
 * Ownership: the probe creates no weights and must never be disposed (disposing it would dispose
 * the shared layers' weights); it is garbage with `model`.
 */
export interface DeadChannelProbe {
  layer: string;
  channels: number;
  model: tf.LayersModel;
}

/**
 * The probe of `model`'s first ReLU; null when the model has none, or when that layer is shared
 * (called more than once, so it has no single output) or its output is not one tensor.
 */
export function deadChannelProbe(model: tf.LayersModel): DeadChannelProbe | null {
  const layer = firstReluLayer(model);
  if (!layer) return null;
  let output: tf.SymbolicTensor | tf.SymbolicTensor[];
  try {
    output = layer.output;
  } catch {
    return null; // a shared layer: `output` is ambiguous
  }
  if (Array.isArray(output)) return null;
  const channels = output.shape[output.shape.length - 1];
  if (typeof channels !== 'number') return null;
  return { layer: layer.name, channels, model: tf.model({ inputs: model.inputs, outputs: output }) };
}

/**
 * Accumulates the per-channel maximum of the probe's activation over batches, then counts the
 * channels whose maximum is ≤ `DEAD_THRESHOLD`. The caller owns `x` (nothing here disposes it);
 * every tensor made here is freed in `tf.tidy` or after its values are read.
 */
export class DeadChannelCounter {
  private readonly max: Float32Array;

  constructor(private readonly probe: DeadChannelProbe) {
    this.max = new Float32Array(probe.channels).fill(-Infinity);
  }

  async add(x: tf.Tensor): Promise<void> {
    const batchMax = tf.tidy(() => {
      const a = this.probe.model.apply(x, { training: false }) as tf.Tensor;
      // Max over every axis but the channels (batch, then any spatial axes).
      return tf.max(a, [...Array(a.rank - 1).keys()]);
    });
    const m = (await batchMax.data()) as Float32Array;
    batchMax.dispose();
    for (let c = 0; c < this.max.length; c++) if (m[c]! > this.max[c]!) this.max[c] = m[c]!;
  }

  /** The count so far (every channel is dead before any batch was added). */
  result(): DeadChannels {
    let dead = 0;
    for (const m of this.max) if (!(m > DEAD_THRESHOLD)) dead++;
    return { layer: this.probe.layer, dead, channels: this.probe.channels };
  }
}
