import { discardOf, pullable, pullFrom, type PullOperator } from '../src/pull.js';

export interface PrefetchOptions<T = unknown> {
  /** Items to have ready (or being produced) ahead of the consumer. */
  size: number;
  /**
   * Called for each item still held when the consumer leaves or the stream fails, e.g. to
   * dispose tensors. Default: the upstream's own hook (`toTensors` disposes its batches).
   */
  discard?: (item: T) => void;
}

/**
 * Work ahead of the consumer: keep `size` upstream pulls outstanding, so that the next items are
 * being decoded, augmented and batched while the consumer works on the current one.
 *
 * This is the one place where the pipeline runs ahead, and it is bounded: at most `size` items
 * wait here. Together with `decodeImages({ concurrent })`, a pipeline holds at most
 * `size + concurrent` items between source and consumer however fast the source is (measured
 * in `test/data/backpressure.test.ts`; see `src/data/README.md`).
 *
 * Ownership: items pass through unchanged; the consumer owns what it receives. Items still held
 * at unsubscribe are given to `discard` (by default `toTensors`' disposer).
 *
 * @example
 * ```ts
 * source.pipe(decodeImages({ concurrent: 4 }), batch({ size: 64 }), toTensors(), prefetch({ size: 2 }));
 * ```
 */
export function prefetch<T>(options: PrefetchOptions<T>): PullOperator<T, T> {
  const { size } = options;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`prefetch: size must be an integer ≥ 1 (got ${size})`);
  return (source) => {
    const discard = options.discard ?? discardOf(source);
    return pullable<T>(async function* (signal) {
      const it = pullFrom(source, signal)[Symbol.asyncIterator]();
      // Outstanding pulls, oldest first. Pulls are chained so the upstream sees one next() at a time.
      const ahead: Promise<IteratorResult<T>>[] = [];
      let chain: Promise<unknown> = Promise.resolve();
      let ended = false;
      const top = () => {
        while (!ended && ahead.length < size) {
          const p = chain.then(() => it.next());
          p.catch(() => undefined); // awaited in order; silences a rejection nobody reaches
          chain = p.catch(() => undefined);
          ahead.push(p);
        }
      };
      try {
        for (;;) {
          top();
          const r = await ahead.shift()!;
          if (r.done) {
            ended = true;
            return;
          }
          top(); // refill before handing over, so upstream works while the consumer does
          yield r.value;
        }
      } finally {
        ended = true;
        for (const p of ahead.splice(0)) {
          p.then((r) => {
            if (!r.done) discard?.(r.value);
          }, () => undefined);
        }
        void chain.then(() => it.return?.()).catch(() => undefined);
      }
    }, discard);
  };
}
