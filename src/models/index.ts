import type * as tf from '@tensorflow/tfjs';
import { cnnSmall, cnnSmallBn } from './cnn_small.js';
import { resnet } from './resnet.js';
import { wideResnet } from './wrn.js';
import type { ModelOptions } from './types.js';

export type { ModelOptions } from './types.js';

export interface ModelEntry {
  name: string;
  /** Input shape the reference benchmark uses. */
  defaultInput: [number, number, number];
  build: (opts?: ModelOptions) => tf.LayersModel;
}

/** The model zoo, one config object per model. */
export const MODELS: readonly ModelEntry[] = [
  { name: 'cnn-small', defaultInput: [28, 28, 1], build: (o) => cnnSmall({ inputShape: [28, 28, 1], ...o }) },
  { name: 'cnn-small-bn', defaultInput: [28, 28, 1], build: (o) => cnnSmallBn({ inputShape: [28, 28, 1], ...o }) },
  { name: 'resnet20', defaultInput: [32, 32, 3], build: (o) => resnet(20, { inputShape: [32, 32, 3], ...o }) },
  { name: 'resnet44', defaultInput: [32, 32, 3], build: (o) => resnet(44, { inputShape: [32, 32, 3], ...o }) },
  { name: 'resnet110', defaultInput: [32, 32, 3], build: (o) => resnet(110, { inputShape: [32, 32, 3], ...o }) },
  { name: 'wrn-16-4', defaultInput: [32, 32, 3], build: (o) => wideResnet(16, 4, { inputShape: [32, 32, 3], ...o }) },
];

export function buildModel(name: string, opts?: ModelOptions): tf.LayersModel {
  const entry = MODELS.find((m) => m.name === name);
  if (!entry) throw new Error(`unknown model '${name}'; valid models: ${MODELS.map((m) => m.name).join(', ')}.`);
  return entry.build(opts);
}
