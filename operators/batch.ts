import { pullable, pullFrom, type PullOperator } from '../src/pull.js';

export interface BatchOptions {
  /** Items per batch. */
  size: number;
  /** Drop a last, smaller batch (default false: emit it). */
  dropRemainder?: boolean;
}

/**
 * Group items into arrays of `size`, in order. The last batch is smaller unless `dropRemainder`.
 *
 * Pulls `size` items from upstream per batch pulled from it, and holds at most one batch.
 * Creates no tensors (see `toTensors`).
 *
 * @example
 * ```ts
 * readIdx({ images, labels }).pipe(batch({ size: 64, dropRemainder: true }), toTensors());
 * ```
 */
export function batch<T>(options: BatchOptions): PullOperator<T, T[]> {
  const { size, dropRemainder = false } = options;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch: size must be an integer ≥ 1 (got ${size})`);
  return (source) =>
    pullable(async function* (signal) {
      let items: T[] = [];
      for await (const item of pullFrom(source, signal)) {
        items.push(item);
        if (items.length === size) {
          yield items;
          items = [];
        }
      }
      if (items.length > 0 && !dropRemainder) yield items;
    });
}
