import { Rng } from '../src/random.js';
import { AUGMENTATIONS, resolveAugmentations, type Augmentation, type AugmentOp } from '../src/data/augmentations.js';
import { pullable, pullFrom, type PullOperator } from '../src/pull.js';
import type { Sample } from '../src/data/types.js';

export interface AugmentOptions {
  /** Augmentations applied in order, by registry name with their options. */
  ops: readonly AugmentOp[];
  /** Seed for the random draws (stream `'augment'`). Ignored when `rng` is given. */
  seed?: number;
  /** The generator to draw from, owned by the caller (checkpoint `rng.state()`). */
  rng?: Rng;
  /** Where `ops` names are looked up (default {@link AUGMENTATIONS}); extend it to add your own. */
  registry?: readonly Augmentation<any>[];
}

/**
 * Apply seeded augmentations to each sample: `randomCrop` (with padding), `flipHorizontal`,
 * `normalize` (per-channel mean/std, output `Float32Array`), or any augmentation in `registry`.
 * Names and options are checked when the operator is built.
 *
 * The generator is created once, when the operator is built, and advances across subscriptions
 * (new draws each epoch, the same draws for the same seed on every run, given the same input
 * order). One sample in, one out, on demand: holds nothing. Creates no tensors; never mutates
 * its input samples.
 *
 * @example
 * ```ts
 * readCifar({ files }).pipe(
 *   augment({
 *     seed: 7,
 *     ops: [
 *       { name: 'randomCrop', padding: 4 },
 *       { name: 'flipHorizontal' },
 *       { name: 'normalize', mean: [0.491, 0.482, 0.447], std: [0.247, 0.243, 0.262] },
 *     ],
 *   }),
 *   batch({ size: 128 }),
 * );
 * ```
 */
export function augment(options: AugmentOptions): PullOperator<Sample, Sample> {
  const fns = resolveAugmentations(options.ops, options.registry ?? AUGMENTATIONS);
  if (!options.rng && options.seed === undefined) throw new RangeError('augment: give a seed or an rng');
  const rng = options.rng ?? Rng.create(options.seed!, 'augment');
  return (source) =>
    pullable(async function* (signal) {
      for await (const sample of pullFrom(source, signal)) {
        let s = sample;
        for (const fn of fns) s = fn(s, rng);
        yield s;
      }
    });
}
