import type * as tf from '@tensorflow/tfjs';
import type { ModelSaved, TrainEvent } from '../src/events.js';
import { saveLayersModel } from '../src/train/export.js';
import { onDemand, type PullOperator } from '../src/pull.js';

export interface SaveModelOptions {
  model: tf.LayersModel;
  /** Directory to write `model.json` and `weights.bin` into (the CLI uses `OUT/model`). */
  dir: string;
}

/**
 * Save the trained model in TensorFlow.js's LayersModel format (src/train/export.ts) at `fitEnd`
 * of a run that completed or stopped at --max-steps or by Ctrl-C, and emit `modelSaved` after it.
 * A run that ended on a non-finite loss or an error saves nothing. Other events pass through.
 *
 * Demand-preserving (src/pull.ts): the weights saved are those of the last step.
 * Creates no tensors.
 *
 * @example
 * ```ts
 * fit({ ... }).pipe(evaluate({ ... }), saveModel({ model, dir: `${out}/model` }));
 * ```
 */
export function saveModel(options: SaveModelOptions): PullOperator<TrainEvent, TrainEvent> {
  return onDemand<TrainEvent, TrainEvent>(() => ({
    async *handle(e) {
      yield e;
      if (e.type !== 'fitEnd' || !(e.reason === 'completed' || e.reason === 'maxSteps' || e.reason === 'interrupted')) return;
      const t0 = performance.now();
      const path = await saveLayersModel(options.model, options.dir);
      const event: ModelSaved = { type: 'modelSaved', path, step: e.steps, ms: performance.now() - t0 };
      yield event;
    },
  }));
}
