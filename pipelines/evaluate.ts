/**
 * `fgsgd evaluate`: the test loss and accuracy of a saved model (OUT/model, TensorFlow.js's
 * LayersModel format) on the test split of an IDX dataset directory (Fashion-MNIST, MNIST), with
 * the same evaluation as training runs use (`evaluateOnce`).
 *
 * Tensor ownership: the loaded model and every batch are disposed here.
 */
import { initBackend } from '../src/backend/index.js';
import type { EvaluateModelOptions, EvaluateModelResult } from '../src/registry.js';
import { locateIdx } from '../src/train/datasets.js';
import { loadLayersModelFromDir } from '../src/train/export.js';
import { evaluateOnce } from '../operators/evaluate.js';
import { readIdx } from '../operators/readIdx.js';
import { batch } from '../operators/batch.js';
import { toTensors } from '../operators/toTensors.js';

export type { EvaluateModelOptions, EvaluateModelResult };

export async function evaluateModel(o: EvaluateModelOptions): Promise<EvaluateModelResult> {
  const backend = await initBackend(o.backend ?? 'auto');
  const { test } = await locateIdx(o.data);
  const model = await loadLayersModelFromDir(o.model);
  try {
    const e = await evaluateOnce(model, readIdx(test).pipe(batch({ size: o.batch ?? 500 }), toTensors()), 0, 0);
    return { testAccuracy: e.testAccuracy, testLoss: e.testLoss, images: e.images, backend: backend.name };
  } finally {
    model.dispose();
  }
}
