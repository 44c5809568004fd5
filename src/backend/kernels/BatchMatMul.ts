/**
 * `BatchMatMul` for wasm: a single (unbatched) product with transposeA or transposeB transposes
 * that operand first, then runs the package's kernel untransposed, which is XNNPACK's fully
 * connected operator. The package sends any transposed product to a scalar blocked loop (~2
 * GFLOP/s); a dense layer's two backward products are both transposed. Batched products go to the
 * package's kernel as they are.
 */
import type * as tf from '@tensorflow/tfjs';
import { release, reshape, runPackageKernel, transpose, type KernelArgs, type TensorInfo } from './kernel_utils.js';

interface Attrs { transposeA: boolean; transposeB: boolean }

export function batchMatMul({ inputs, backend, attrs }: KernelArgs<'a' | 'b', Attrs>): TensorInfo {
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs;
  const batch = (t: TensorInfo) => t.shape.slice(0, -2).reduce((p, s) => p * s, 1);
  if ((!transposeA && !transposeB) || batch(a) !== 1 || batch(b) !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return runPackageKernel(backend, 'BatchMatMul', inputs, attrs as unknown as tf.NamedAttrMap);
  }
  const matrix = (t: TensorInfo, transposed: boolean) => {
    const [r, c] = t.shape.slice(-2) as [number, number];
    const flat = reshape(backend, t, [r, c]);
    if (!transposed) return flat;
    const out = transpose(backend, flat, [1, 0]);
    release(backend, flat);
    return out;
  };
  const a2 = matrix(a, transposeA);
  const b2 = matrix(b, transposeB);
  const product = runPackageKernel(backend, 'BatchMatMul', { a: a2, b: b2 }, { transposeA: false, transposeB: false });
  release(backend, a2, b2);
  const rank = Math.max(a.shape.length, b.shape.length);
  const out = reshape(backend, product, [...new Array<number>(rank - 2).fill(1), a2.shape[0]!, b2.shape[1]!]);
  release(backend, product);
  return out;
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};
