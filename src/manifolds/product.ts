/**
 * The product manifold M₁ × … × M_k (a POM when every factor is one kernel's manifold).
 *
 * Representation [choice]: a point (or tangent vector) is a list of tensors, one per component,
 * x[i] of shape `[...batch, rows_i, cols_i]`. Components may have different matrix shapes (and
 * different manifolds) but their batch shapes must broadcast together: the product's per-point
 * scalars have that common batch shape. A group of G kernels on the *same* manifold needs no
 * product: it is one stack `[G, rows, cols]`, the batch being the product's factors.
 *
 * Geometry, component by component:
 * - projx, proju, egrad2rgrad, retr, expmap, transp act on each component with its own manifold.
 * - inner = Σᵢ innerᵢ: the metric of a product is the sum of its components' metrics.
 * - dist = sqrt(Σᵢ distᵢ²), defined when every component has dist; expmap likewise.
 * - diameter = sqrt(Σᵢ diameterᵢ²); curvature = maxᵢ curvatureᵢ (a product's sectional curvature
 *   lies between the components' bounds and 0).
 * - pointResidual and tangentResidual: the largest component residual.
 * - random: component i from a seed derived from (seed, i).
 * - tag: the components' tags joined by '×'.
 *
 * Tensor ownership: every method returns new tensors (a new array) owned by the caller.
 */
import * as tf from '@tensorflow/tfjs';
import type { Manifold, MatrixManifold } from './types.js';
import { at, ManifoldShapeError } from './common.js';

export type ProductPoint = readonly tf.Tensor[];

export interface ProductManifold extends Manifold<ProductPoint> {
  readonly components: readonly MatrixManifold[];
}

/** The seed of component i of a product's random point. */
export function componentSeed(seed: number, i: number): number {
  return (Math.imul(seed | 0, 0x9e3779b1) + Math.imul(i + 1, 0x85ebca6b)) | 0;
}

function broadcastable(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 1; i <= Math.min(a.length, b.length); i++) {
    const x = a[a.length - i]!;
    const y = b[b.length - i]!;
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

export function product(components: readonly MatrixManifold[]): ProductManifold {
  if (components.length === 0) throw new Error('product: needs at least one component manifold.');
  const k = components.length;
  const name = `product(${components.map((m) => m.name).join(', ')})`;
  const check = (...lists: readonly (readonly unknown[])[]) => {
    for (const l of lists) {
      if (l.length !== k) throw new Error(`${name}: expected ${k} component tensors, got ${l.length}.`);
    }
  };
  const map = (f: (m: MatrixManifold, i: number) => tf.Tensor, ...lists: readonly (readonly unknown[])[]): tf.Tensor[] => {
    check(...lists);
    return components.map(f);
  };
  const sum = (f: (m: MatrixManifold, i: number) => tf.Tensor, ...lists: readonly (readonly unknown[])[]): tf.Tensor => {
    check(...lists);
    return tf.tidy(() => components.map(f).reduce((acc, t) => tf.add(acc, t)));
  };
  const max = (f: (m: MatrixManifold, i: number) => tf.Tensor, ...lists: readonly (readonly unknown[])[]): tf.Tensor => {
    check(...lists);
    return tf.tidy(() => components.map(f).reduce((acc, t) => tf.maximum(acc, t)));
  };
  const all = <K extends 'expmap' | 'dist'>(key: K) => components.every((m) => m[key] !== undefined);

  const pm: ProductManifold = {
    components,
    name,
    tag: components.map((m) => m.tag).join('×'),
    assertShape(shapes, where) {
      if (!Array.isArray(shapes) || shapes.length !== k) {
        throw new ManifoldShapeError(`${name}: expected ${k} component shapes${at(where)}, got ${JSON.stringify(shapes)}.`);
      }
      components.forEach((m, i) => m.assertShape(shapes[i]!, where ? `${where}[${i}]` : `component ${i}`));
      const batches = shapes.map((s) => s.slice(0, -2));
      for (let i = 1; i < k; i++) {
        if (!broadcastable(batches[0]!, batches[i]!)) {
          throw new ManifoldShapeError(
            `${name}: component batch shapes [${batches[0]!.join(', ')}] and [${batches[i]!.join(', ')}]${at(where)} do not broadcast.`,
          );
        }
      }
    },
    projx: (x) => map((m, i) => m.projx(x[i]!), x),
    proju: (x, u) => map((m, i) => m.proju(x[i]!, u[i]!), x, u),
    egrad2rgrad: (x, g) => map((m, i) => m.egrad2rgrad(x[i]!, g[i]!), x, g),
    retr: (x, u) => map((m, i) => m.retr(x[i]!, u[i]!), x, u),
    transp: (x, y, v) => map((m, i) => m.transp(x[i]!, y[i]!, v[i]!), x, y, v),
    inner: (x, u, v) => sum((m, i) => m.inner(x[i]!, u[i]!, v[i]!), x, u, v),
    random: (shapes, seed) => {
      check(shapes);
      return components.map((m, i) => m.random(shapes[i]!, componentSeed(seed, i)));
    },
    pointResidual: (x) => max((m, i) => m.pointResidual(x[i]!), x),
    tangentResidual: (x, u) => max((m, i) => m.tangentResidual(x[i]!, u[i]!), x, u),
    diameter: (shapes) => Math.sqrt(components.reduce((s, m, i) => s + m.diameter(shapes[i]!) ** 2, 0)),
    curvature: (shapes) => Math.max(...components.map((m, i) => m.curvature(shapes[i]!))),
  };
  return {
    ...pm,
    ...(all('expmap') && { expmap: (x: ProductPoint, u: ProductPoint) => map((m, i) => m.expmap!(x[i]!, u[i]!), x, u) }),
    ...(all('dist') && {
      dist: (x: ProductPoint, y: ProductPoint) =>
        tf.tidy(() => tf.sqrt(sum((m, i) => tf.square(m.dist!(x[i]!, y[i]!)), x, y))),
    }),
  };
}
