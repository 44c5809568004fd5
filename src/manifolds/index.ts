/**
 * The Riemannian geometry of FG-SGD: one file per manifold, and the registry of the manifold types
 * a layer's groups can take ('Sp', 'Ob', 'St', 'Euc').
 *
 * The registry is an array of plain config objects, like tfjs's kernel registry: a new manifold
 * type is one more entry here (and its file), nothing else.
 */
import type { MatrixManifold } from './types.js';
import { sphere } from './sphere.js';
import { oblique } from './oblique.js';
import { stiefel, type StiefelOptions } from './stiefel.js';
import { euclidean } from './euclidean.js';

export type { Manifold, MatrixManifold, Point, ShapeOf } from './types.js';
export { sphere } from './sphere.js';
export { oblique } from './oblique.js';
export {
  stiefel,
  STIEFEL_RETRACTIONS,
  STIEFEL_PROJECTIONS,
  type StiefelOptions,
  type StiefelRetraction,
  type StiefelProjection,
} from './stiefel.js';
export { euclidean } from './euclidean.js';
export { product, componentSeed, type ProductManifold, type ProductPoint } from './product.js';
export { scaled, type ScaledManifold } from './scaled.js';
export { norm, retrTransp, expmapTransp } from './derived.js';
export { ManifoldShapeError } from './common.js';

export type ManifoldTag = 'Sp' | 'Ob' | 'St' | 'Euc';

/** Options a registry entry's `create` accepts; entries ignore what does not apply to them. */
export type ManifoldOptions = StiefelOptions;

export interface ManifoldConfig {
  readonly tag: ManifoldTag;
  readonly name: string;
  readonly description: string;
  create(options?: ManifoldOptions): MatrixManifold;
}

export const MANIFOLDS: readonly ManifoldConfig[] = [
  { tag: 'Sp', name: 'sphere', description: '‖ω‖_F = 1', create: () => sphere() },
  { tag: 'Ob', name: 'oblique', description: 'unit-norm columns', create: () => oblique() },
  { tag: 'St', name: 'stiefel', description: 'ωᵀω = I (rows ≥ cols)', create: (o) => stiefel(o) },
  { tag: 'Euc', name: 'euclidean', description: 'unconstrained', create: () => euclidean() },
];

export const MANIFOLD_TAGS: readonly ManifoldTag[] = MANIFOLDS.map((c) => c.tag);

/** Error for an unknown manifold tag or name. */
export class UnknownManifoldError extends Error {
  constructor(what: string) {
    super(
      `unknown manifold '${what}'; valid tags: ${MANIFOLDS.map((c) => `${c.tag} (${c.name})`).join(', ')}.`,
    );
    this.name = 'UnknownManifoldError';
  }
}

/** The registry entry for a tag ('Sp', 'Ob', 'St', 'Euc') or a name ('sphere', ...). */
export function manifoldByTag(tag: string): ManifoldConfig {
  const found = MANIFOLDS.find((c) => c.tag === tag || c.name === tag.toLowerCase());
  if (!found) throw new UnknownManifoldError(tag);
  return found;
}

/** Parses a collection such as 'Sp+Ob+St+Euc' into registry entries (no duplicates). */
export function parseManifoldTags(spec: string): ManifoldConfig[] {
  const tags = spec.split('+').map((s) => s.trim());
  const seen = new Set<string>();
  return tags.map((t) => {
    const c = manifoldByTag(t);
    if (seen.has(c.tag)) throw new Error(`manifold collection '${spec}' names ${c.tag} twice.`);
    seen.add(c.tag);
    return c;
  });
}
