/**
 * `fgsgd evaluate`: the test loss and accuracy of a saved model (OUT/model, TensorFlow.js's
 * LayersModel format) on the test split of an IDX dataset directory (Fashion-MNIST, MNIST), with
 * the same evaluation as training runs use (`evaluateOnce`).
 *
 * Tensor ownership: the loaded model and every batch are disposed here.
 */
import { initBackend } from '../backend/index.js';
import { evaluateOnce } from '../../operators/evaluate.js';
import { readIdx } from '../../operators/readIdx.js';
import { batch } from '../../operators/batch.js';
import { toTensors } from '../../operators/toTensors.js';
import { locateIdx } from './datasets.js';
import { loadLayersModelFromDir } from './export.js';

export interface EvaluateModelOptions {
  model: string;
  data: string;
  backend?: string;
  batch?: number;
}

export interface EvaluateModelResult {
  testAccuracy: number;
  testLoss: number;
  images: number;
  backend: string;
}

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
