/**
 * The augmentation registry: plain config objects `{ name, options, create }`, listed in
 * {@link AUGMENTATIONS}. `augment({ ops: [{ name: 'randomCrop', padding: 4 }, ...] })` looks each
 * op up here by name. To add one, write its config object below and list it; a test checks that
 * names are unique.
 *
 * Augmentations work on one `Sample` at a time, in plain JS on HWC pixel arrays (small images:
 * a tensor round trip per image would cost more than the loop). They never mutate their input;
 * they return a new `Sample`. All randomness comes from the `Rng` passed in, so a seed fixes it.
 */
import type { Rng } from '../random.js';
import type { Sample } from './types.js';

/** A configured augmentation: maps a sample to a new sample, drawing randomness from `rng`. */
export type AugmentFn = (sample: Sample, rng: Rng) => Sample;

export interface Augmentation<O extends object = Record<string, unknown>> {
  name: string;
  /** The option names `create` accepts; anything else is a typo and rejected. */
  options: readonly (keyof O & string)[];
  /** Validate options once, at pipeline build time; return the per-sample function. */
  create(options: O): AugmentFn;
}

/** One entry of `augment({ ops })`: a registry name and that augmentation's options. */
export type AugmentOp = { name: string } & Record<string, unknown>;

export interface RandomCropOptions {
  /** Zero padding added on each side before cropping back to the original size. */
  padding: number;
  /** Value of the padding pixels (default 0). */
  fill?: number;
}

/** Random crop with padding (the CIFAR recipe): pad by `padding`, crop a random h×w window. */
export const randomCrop: Augmentation<RandomCropOptions> = {
  name: 'randomCrop',
  options: ['padding', 'fill'],
  create({ padding, fill = 0 }) {
    if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`randomCrop: padding must be an integer ≥ 0 (got ${padding})`);
    return (sample, rng) => {
      const [h, w, c] = sample.shape;
      const dy = rng.int(0, 2 * padding) - padding; // window offset in the unpadded image
      const dx = rng.int(0, 2 * padding) - padding;
      const src = sample.image;
      const out = src instanceof Float32Array ? new Float32Array(src.length) : new Uint8Array(src.length);
      if (fill !== 0) out.fill(fill);
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        if (sy < 0 || sy >= h) continue;
        const x0 = Math.max(0, -dx);
        const x1 = Math.min(w, w - dx);
        if (x1 <= x0) continue;
        out.set(src.subarray((sy * w + x0 + dx) * c, (sy * w + x1 + dx) * c), (y * w + x0) * c);
      }
      return { ...sample, image: out };
    };
  },
};

export interface FlipHorizontalOptions {
  /** Probability of flipping (default 0.5). */
  probability?: number;
}

/** Mirror left–right with probability `probability`. */
export const flipHorizontal: Augmentation<FlipHorizontalOptions> = {
  name: 'flipHorizontal',
  options: ['probability'],
  create({ probability = 0.5 }) {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`flipHorizontal: probability must be in [0, 1] (got ${probability})`);
    return (sample, rng) => {
      // Always draw, so that the sequence of draws does not depend on earlier outcomes.
      if (rng.float() >= probability) return sample;
      const [h, w, c] = sample.shape;
      const src = sample.image;
      const out = src instanceof Float32Array ? new Float32Array(src.length) : new Uint8Array(src.length);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const from = (y * w + x) * c;
          const to = (y * w + (w - 1 - x)) * c;
          for (let k = 0; k < c; k++) out[to + k] = src[from + k]!;
        }
      }
      return { ...sample, image: out };
    };
  },
};

export interface NormalizeOptions {
  /** Per-channel mean, in the units after `scale` (one value applies to every channel). */
  mean: readonly number[];
  /** Per-channel standard deviation, same units. */
  std: readonly number[];
  /** Multiplies pixels first. Default: 1/255 for byte images (→ [0, 1]), 1 for float images. */
  scale?: number;
}

/** `(x·scale − mean[c]) / std[c]` per channel; the output is a `Float32Array`. */
export const normalize: Augmentation<NormalizeOptions> = {
  name: 'normalize',
  options: ['mean', 'std', 'scale'],
  create({ mean, std, scale }) {
    if (!Array.isArray(mean) || !Array.isArray(std) || mean.length === 0 || mean.length !== std.length) {
      throw new RangeError('normalize: mean and std must be arrays of the same non-zero length');
    }
    if (std.some((s) => !(s > 0))) throw new RangeError(`normalize: every std must be > 0 (got [${std.join(', ')}])`);
    return (sample) => {
      const [, , c] = sample.shape;
      if (mean.length !== 1 && mean.length !== c) {
        throw new RangeError(`normalize: ${mean.length} means for an image with ${c} channels (${sample.source ?? sample.key})`);
      }
      const s = scale ?? (sample.image instanceof Uint8Array ? 1 / 255 : 1);
      const src = sample.image;
      const out = new Float32Array(src.length);
      const m = Array.from({ length: c }, (_, k) => mean[mean.length === 1 ? 0 : k]!);
      const inv = Array.from({ length: c }, (_, k) => 1 / std[std.length === 1 ? 0 : k]!);
      for (let i = 0; i < src.length; i += c) {
        for (let k = 0; k < c; k++) out[i + k] = (src[i + k]! * s - m[k]!) * inv[k]!;
      }
      return { ...sample, image: out };
    };
  },
};

/** Every augmentation `augment` knows by name. */
export const AUGMENTATIONS: readonly Augmentation<any>[] = [randomCrop, flipHorizontal, normalize];

/**
 * Resolve `ops` against `registry` into per-sample functions, validating names and options now,
 * so that a typo fails when the pipeline is built, not mid-epoch.
 */
export function resolveAugmentations(ops: readonly AugmentOp[], registry: readonly Augmentation<any>[] = AUGMENTATIONS): AugmentFn[] {
  return ops.map((op, i) => {
    const entry = registry.find((a) => a.name === op.name);
    if (!entry) {
      throw new RangeError(`augment: ops[${i}] names unknown augmentation '${op.name}' (known: ${registry.map((a) => a.name).join(', ')})`);
    }
    const { name: _name, ...options } = op;
    const unknown = Object.keys(options).filter((k) => !entry.options.includes(k));
    if (unknown.length > 0) {
      throw new RangeError(`augment: ${op.name} has no option ${unknown.map((k) => `'${k}'`).join(', ')} (options: ${entry.options.join(', ')})`);
    }
    return entry.create(options);
  });
}
