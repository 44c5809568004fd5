/**
 * Seeded random numbers whose state can be saved in a checkpoint and restored, built on
 * pure-rand's xoroshiro128+ generator. One `Rng` per consumer (shuffle buffer, augmentation,
 * grouping), each derived from the run seed and a stream name, so that adding a consumer never
 * shifts another's sequence.
 */
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';

type Gen = ReturnType<typeof xoroshiro128plus>;

export class Rng {
  private constructor(private gen: Gen) {}

  /** A generator for `stream` under `seed`: the same pair always gives the same sequence. */
  static create(seed: number, stream = ''): Rng {
    return new Rng(xoroshiro128plus(mix(seed, stream)));
  }

  /** Restore from `state()`. */
  static fromState(state: readonly number[]): Rng {
    return new Rng(xoroshiro128plusFromState(state));
  }

  /** The generator's state, a JSON-safe array of int32. */
  state(): number[] {
    return [...this.gen.getState()];
  }

  /** Integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.gen, from, to);
  }

  /** Float in [0, 1). */
  float(): number {
    return uniformFloat64(this.gen);
  }

  /** A new int32 seed, e.g. for a tfjs initialiser. */
  seed(): number {
    return this.int(0, 0x7fffffff);
  }

  /** Fisher–Yates shuffle of a copy of `items`. */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

/** Combine a numeric seed and a stream name into one 32-bit seed (FNV-1a over the name). */
function mix(seed: number, stream: string): number {
  let h = 0x811c9dc5 ^ (seed | 0);
  for (let i = 0; i < stream.length; i++) {
    h ^= stream.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}
