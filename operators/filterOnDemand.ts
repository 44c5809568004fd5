import { onDemand, type PullOperator } from '../src/pull.js';

/**
 * `filter` for pull-through streams: passes on the values for which `predicate` is true, pulling
 * the next value only when the consumer asks (`onDemand`, src/pull.ts). A plain RxJS `filter` in a
 * data pipeline would turn the stream into a push-only one, and the next data operator would queue
 * everything upstream of it.
 *
 * Ownership: values it drops are not disposed; filter before `toTensors` (on paths, keys or
 * decoded samples, which hold no tensors).
 *
 * @example
 * ```ts
 * readImageFolder({ root }).pipe(filterOnDemand((s) => !s.key.startsWith('.')), decodeImages({ concurrent: 8 }));
 * ```
 */
export function filterOnDemand<T>(predicate: (value: T, index: number) => boolean): PullOperator<T, T> {
  return onDemand<T, T>(() => ({ handle: (value, index) => (predicate(value, index) ? [value] : []) }));
}
