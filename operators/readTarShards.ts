import { log } from '../src/log.js';
import { pullable, type PullObservable } from '../src/pull.js';
import { loadShardFile, loadShardUrl, parseShard, type RetryOptions } from '../src/data/tar_shards.js';
import type { EncodedSample } from '../src/data/types.js';

export interface ReadTarShardsOptions {
  /** Shard files on disk, read first, in this order. */
  paths?: readonly string[];
  /** Shard URLs (http: or https:), read after `paths`, in this order. */
  urls?: readonly string[];
  /** HTTP retries with exponential backoff (default: 4 retries from 500 ms, capped at 10 s). */
  retry?: RetryOptions;
  /** Refuse larger shards (default 1 GiB): a shard is held in memory whole. */
  maxShardBytes?: number;
}

/**
 * Source: the samples of WebDataset-style tar shards (`key.png` + `key.cls` per sample) as
 * `EncodedSample`s with `bytes` set and `source` = `shard#member`. Pipe into `decodeImages`.
 *
 * Each shard is used whole or not at all: it is loaded completely and checked to end with the
 * tar end-of-archive marker before any of its samples is emitted, so a connection cut or a
 * truncated file is an error (`ShardFetchError`, `TruncatedDataError`), never a partial shard
 * passed off as complete. HTTP failures (network errors, cut bodies, 408/429/5xx) are retried
 * with exponential backoff, then fail with a `ShardFetchError` naming the URL and the attempts;
 * other statuses fail at once. Members with absolute or `..` paths fail with a `ShardError`.
 *
 * Pull-driven (see `src/data/README.md`): one shard is held at a time, and the next one is only
 * loaded when its first sample is pulled. Unsubscribing aborts a download in progress. Creates no
 * tensors.
 *
 * @example
 * ```ts
 * readTarShards({ urls: range(0, 64).map(i => `https://host/train-${pad(i)}.tar`) }).pipe(
 *   shuffle({ bufferSize: 5_000, seed }),
 *   decodeImages({ concurrent: 4, size: [32, 32] }),
 *   batch({ size: 128 }),
 *   toTensors(),
 *   prefetch({ size: 2 }),
 * );
 * ```
 */
export function readTarShards(options: ReadTarShardsOptions): PullObservable<EncodedSample> {
  const { paths = [], urls = [], retry, maxShardBytes } = options;
  const bad = urls.find((u) => !/^https?:\/\//i.test(u));
  if (bad !== undefined) throw new RangeError(`readTarShards: '${bad}' is not an http(s) URL (put files in paths)`);
  if (paths.length + urls.length === 0) throw new RangeError('readTarShards: give at least one shard in paths or urls');
  const shards = [...paths.map((p) => ({ location: p, remote: false })), ...urls.map((u) => ({ location: u, remote: true }))];
  return pullable<EncodedSample>(async function* (signal) {
    for (const { location, remote } of shards) {
      // The shard's bytes are not kept in a variable: once parsed, only the samples stay alive.
      const samples = await parseShard(
        remote
          ? await loadShardUrl(location, {
              retry,
              maxShardBytes,
              signal,
              onRetry: (info) => log.warn(info, 'retrying shard download'),
            })
          : await loadShardFile(location, maxShardBytes),
        location,
      );
      for (const sample of samples) {
        if (signal.aborted) return;
        yield sample;
      }
    }
  });
}
