/**
 * Training kernels for the wasm backend, in one registry (as tfjs's `register_all_kernels.ts`).
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22 lacks `Conv2DBackpropFilter`; its `Conv2DBackpropInput` and
 * `MaxPoolGrad` are naive loops, its transposed `BatchMatMul` a scalar loop; and a ResNet step spends most of its remaining time in kernels that
 * are slow on batch-norm shapes (`Tile`, `Sum`, `Mean`, per-channel broadcasts, `FusedBatchNorm`)
 * or that copy where they could share (`Identity`, same-dtype `Cast`); FG-SGD's layout (its
 * permutations, splits, and the Stiefel retraction's columns) leans on `GatherNd`, `Slice`, `SplitV`,
 * `Unpack` and `Concat`, whose package kernels are slow loops, copy their whole input out of the heap
 * per slice, or copy a few elements per `set`; and FG-SGD's update itself has two fused kernels
 * (`FgsgdBucketStep`, `FgsgdPlainStep`: ./fgsgd_step_module.ts). The kernels listed here add
 * or replace them, built on the package's fast XNNPACK-backed kernels or as block copies on the
 * wasm heap (see each file in `kernels/`; `kernels/kernel_utils.ts` states the tensor-ownership
 * rule they follow). A replacement hands the cases it does not speed up back to the package's
 * kernel, which is kept for that.
 *
 * While the `onednn` backend is active (`./onednn.ts`), the convolution kernels here (`Conv2D`,
 * `FusedConv2D` and both backprops) compute on oneDNN instead; otherwise `Conv2D` and
 * `FusedConv2D` are the package's own.
 *
 * Two gradients are replaced as well (`WASM_TRAINING_GRADIENTS`): tfjs-core's gradients of `Mean`
 * and `Sum` build a full-size `ones` tensor in JS. Gradients are global in tfjs, so these defer to
 * tfjs-core's own whenever the active backend is not wasm.
 *
 * `registerWasmTrainingKernels` must run after the package is imported, so that its kernels are
 * the ones replaced, and may run before or after `tf.setBackend('wasm')`.
 */
import * as tf from '@tensorflow/tfjs';
import { addConfig } from './kernels/Add.js';
import { batchMatMulConfig } from './kernels/BatchMatMul.js';
import { castConfig } from './kernels/Cast.js';
import { concatConfig } from './kernels/Concat.js';
import { conv2DConfig } from './kernels/Conv2D.js';
import { conv2DBackpropFilterConfig } from './kernels/Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './kernels/Conv2DBackpropInput.js';
import { fusedConv2DConfig } from './kernels/FusedConv2D.js';
import { fusedBatchNormConfig } from './kernels/FusedBatchNorm.js';
import { fgsgdBucketStepConfig } from './kernels/FgsgdBucketStep.js';
import { fgsgdPlainStepConfig } from './kernels/FgsgdPlainStep.js';
import { gatherNdConfig } from './kernels/GatherNd.js';
import { identityConfig } from './kernels/Identity.js';
import { packageKernels, priorGradients } from './kernels/kernel_utils.js';
import { maxPoolGradConfig } from './kernels/MaxPoolGrad.js';
import { meanConfig } from './kernels/Mean.js';
import { meanGradConfig } from './kernels/Mean_grad.js';
import { multiplyConfig } from './kernels/Multiply.js';
import { realDivConfig } from './kernels/RealDiv.js';
import { sliceConfig } from './kernels/Slice.js';
import { splitVConfig } from './kernels/SplitV.js';
import { subConfig } from './kernels/Sub.js';
import { sumConfig } from './kernels/Sum.js';
import { sumGradConfig } from './kernels/Sum_grad.js';
import { tileConfig } from './kernels/Tile.js';
import { unpackConfig } from './kernels/Unpack.js';

export const WASM_TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  addConfig,
  batchMatMulConfig,
  castConfig,
  concatConfig,
  conv2DConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  fgsgdBucketStepConfig,
  fgsgdPlainStepConfig,
  fusedBatchNormConfig,
  fusedConv2DConfig,
  gatherNdConfig,
  identityConfig,
  maxPoolGradConfig,
  meanConfig,
  multiplyConfig,
  realDivConfig,
  sliceConfig,
  splitVConfig,
  subConfig,
  sumConfig,
  tileConfig,
  unpackConfig,
];

export const WASM_TRAINING_GRADIENTS: readonly tf.GradConfig[] = [meanGradConfig, sumGradConfig];

let registered = false;
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const k of WASM_TRAINING_KERNELS) {
    const prior = tf.getKernel(k.kernelName, 'wasm');
    if (prior) {
      packageKernels.set(k.kernelName, prior);
      tf.unregisterKernel(k.kernelName, 'wasm');
    }
    // The replaced kernel's setup (its bindings into the wasm module) still has to run when the
    // backend starts, for the cases handed back to it. (Registered after the backend started, the
    // prior kernel's setup already ran then.)
    const setupFunc = prior?.setupFunc || k.setupFunc
      ? (backend: object) => {
          prior?.setupFunc?.(backend);
          k.setupFunc?.(backend);
        }
      : undefined;
    tf.registerKernel({ ...k, setupFunc });
  }
  for (const g of WASM_TRAINING_GRADIENTS) {
    const prior = tf.getGradient(g.kernelName);
    if (prior) priorGradients.set(g.kernelName, prior);
    tf.registerGradient(g);
  }
  registered = true;
}
