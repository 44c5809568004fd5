import { Rng } from '../src/random.js';
import { pullable, pullFrom, type PullOperator } from '../src/pull.js';

export interface ShuffleOptions {
  /** How many items to hold and draw from; the whole dataset gives a uniform shuffle. */
  bufferSize: number;
  /** Seed for the draws (stream `'shuffle'`). Ignored when `rng` is given. */
  seed?: number;
  /**
   * The generator to draw from, owned by the caller: save `rng.state()` in a checkpoint (at an
   * epoch boundary, when the buffer is empty) and resume with `Rng.fromState(saved)`.
   */
  rng?: Rng;
}

/**
 * Seeded buffer shuffle, like tf.data's `shuffle`: fill a buffer of `bufferSize` items, then for
 * each item pulled from upstream emit a random item of the buffer and put the new one in its
 * place; at the end, drain the buffer in random order.
 *
 * The generator is created once, when the operator is built, and advances across subscriptions:
 * subscribe once per epoch and each epoch gets a new order, the same order for the same seed on
 * every run. Holds at most `bufferSize` items; pulls upstream only when downstream pulls (the
 * first pull fills the buffer). Items pass through unchanged: it creates and disposes nothing.
 *
 * @example
 * ```ts
 * const rng = Rng.create(seed, 'shuffle');
 * readIdx({ images, labels }).pipe(shuffle({ bufferSize: 60_000, rng }), batch({ size: 64 }));
 * checkpoint.shuffleState = rng.state();            // between epochs
 * shuffle({ bufferSize: 60_000, rng: Rng.fromState(checkpoint.shuffleState) });  // on resume
 * ```
 */
export function shuffle<T>(options: ShuffleOptions): PullOperator<T, T> {
  const { bufferSize } = options;
  if (!Number.isInteger(bufferSize) || bufferSize < 1) throw new RangeError(`shuffle: bufferSize must be an integer ≥ 1 (got ${bufferSize})`);
  if (!options.rng && options.seed === undefined) throw new RangeError('shuffle: give a seed or an rng');
  const rng = options.rng ?? Rng.create(options.seed!, 'shuffle');
  return (source) =>
    pullable<T>(async function* (signal) {
      const buffer: T[] = [];
      for await (const item of pullFrom(source, signal)) {
        if (buffer.length < bufferSize) {
          buffer.push(item);
          continue;
        }
        const i = rng.int(0, bufferSize - 1);
        const out = buffer[i]!;
        buffer[i] = item;
        yield out;
      }
      while (buffer.length > 0) {
        const i = rng.int(0, buffer.length - 1);
        const out = buffer[i]!;
        buffer[i] = buffer[buffer.length - 1]!;
        buffer.pop();
        yield out;
      }
    });
}
