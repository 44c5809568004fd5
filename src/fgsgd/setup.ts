/**
 * One call from a model to a ready FG-SGD: grouping, optimizer and renormalizer.
 *
 * Tensor ownership: the caller owns the returned optimizer and renormalizer and disposes both
 * (`dispose()`), before or after the model.
 */
import type * as tf from '@tensorflow/tfjs';
import { buildGrouping, type Grouping, type GroupingConfig } from './grouping.js';
import { FGSGD, type FGSGDConfig } from './optimizer.js';
import { Renormalizer, type RenormalizerConfig } from './renormalize.js';

export interface FgsgdSetup {
  grouping: Grouping;
  optimizer: FGSGD;
  renormalizer: Renormalizer;
}

/**
 * Group `model`'s kernels, build the optimizer and the renormalizer, and apply stage (i) (with λ
 * estimated from `firstBatch` when given).
 */
export function fgsgd(
  model: tf.LayersModel,
  options: { grouping?: GroupingConfig; optimizer: FGSGDConfig; renormalize?: RenormalizerConfig; firstBatch?: tf.Tensor },
): FgsgdSetup {
  const grouping = buildGrouping(model, options.grouping);
  const optimizer = new FGSGD(grouping, options.optimizer);
  const renormalizer = new Renormalizer(model, optimizer, options.renormalize);
  renormalizer.initialize(options.firstBatch);
  return { grouping, optimizer, renormalizer };
}
