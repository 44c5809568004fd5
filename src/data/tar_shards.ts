/**
 * WebDataset-style tar shards: each sample is a run of consecutive members sharing a key, the
 * member name up to the first dot of its base name (`dir/000123.png` + `dir/000123.cls` → key
 * `dir/000123`). The image member's extension is one of {@link SHARD_IMAGE_EXTENSIONS}; the `.cls`
 * member holds the class id as decimal text. Other members are ignored.
 *
 * A shard is used whole or not at all. It is loaded completely (from disk, or over HTTP(S) with
 * retries), checked to end with the tar end-of-archive marker, and only then parsed with
 * tar-stream and its samples released. A shard cut short (a dropped connection, a truncated
 * file) is an error, never a silent handful of samples; a retry after a cut cannot duplicate
 * samples because nothing of the failed attempt was emitted.
 *
 * Members with absolute paths or `..` segments are rejected: samples are never written to disk
 * here, but a shard containing them is malformed or hostile, and tools that do extract shards
 * would write outside their folder.
 */
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tar from 'tar-stream';
import { DataFormatError, ShardError, ShardFetchError, TruncatedDataError } from './errors.js';
import type { EncodedSample } from './types.js';

export const SHARD_IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'tif', 'tiff', 'avif'] as const;

/** Shards larger than this are refused (they are held in memory whole); split them. */
export const DEFAULT_MAX_SHARD_BYTES = 1024 * 1024 * 1024;

export interface RetryOptions {
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** Delay before the first retry; doubled for each further one (default 500 ms). */
  baseDelayMs?: number;
  /** Cap on one delay (default 10 s). */
  maxDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { retries: 4, baseDelayMs: 500, maxDelayMs: 10_000 };

/** Delay before retry number `attempt` (0-based): base · 2^attempt, capped. */
export function backoffDelay(attempt: number, retry: Required<RetryOptions>): number {
  return Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt);
}

const TAR_BLOCK = 512;

/** True for member names that are absolute or climb out with `..` (either slash). */
export function isUnsafeMemberName(name: string): boolean {
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) return true;
  return name.split(/[\\/]/).some((part) => part === '..');
}

/** Split a member name into WebDataset key and extension: `a/b.seg.png` → `a/b`, `seg.png`. */
export function splitMemberName(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0) return { key: name, ext: '' };
  return { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/**
 * Check that `bytes` hold a whole tar archive: walk the member headers (checksums verified) and
 * require the end-of-archive zero block after the last member. Errors give byte offsets.
 */
export function verifyTarComplete(bytes: Uint8Array, source: string): void {
  let offset = 0;
  let last = '(none)';
  const cut = (what: string, needed: number): never => {
    throw new TruncatedDataError(
      source,
      `truncated shard: ${what}, but the shard ends at byte ${bytes.length}; ` +
        `the download or copy was cut short: fetch the shard again`,
      bytes.length,
      needed,
    );
  };
  for (;;) {
    if (offset >= bytes.length) {
      cut(`after member '${last}' (ending at byte ${offset}) the tar end-of-archive marker is missing`, offset + TAR_BLOCK);
    }
    if (offset + TAR_BLOCK > bytes.length) cut(`the tar header at byte ${offset} needs ${TAR_BLOCK} bytes`, offset + TAR_BLOCK);
    const header = bytes.subarray(offset, offset + TAR_BLOCK);
    if (header.every((b) => b === 0)) return; // end-of-archive marker
    const stored = parseOctal(header.subarray(148, 156));
    let sum = 0;
    for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    if (stored !== sum) {
      throw new ShardError(
        source,
        `invalid tar header at byte ${offset} (checksum ${stored} ≠ ${sum}): not a tar file, or corrupt after member '${last}'`,
        offset,
      );
    }
    const name = new TextDecoder().decode(header.subarray(0, 100)).replace(/\0.*$/s, '');
    const size = parseSize(header.subarray(124, 136));
    // Data is padded to whole blocks; a shard cut inside the padding is cut all the same.
    const end = offset + TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    if (end > bytes.length) cut(`member '${name}' at byte ${offset} needs ${size} bytes of data (padded up to byte ${end})`, end);
    last = name;
    offset = end;
  }
}

function parseOctal(field: Uint8Array): number {
  const text = new TextDecoder().decode(field).replace(/[\0 ]+/g, ' ').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** Tar size field: octal text, or big-endian base-256 when the high bit of the first byte is set. */
function parseSize(field: Uint8Array): number {
  if ((field[0]! & 0x80) === 0) return parseOctal(field);
  let n = field[0]! & 0x7f;
  for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
  return n;
}

/**
 * Parse a complete shard (see {@link verifyTarComplete}) into encoded samples, in member order.
 * `source` (path or URL) is named in errors and becomes `source#member` on each sample.
 */
export async function parseShard(bytes: Uint8Array, source: string): Promise<EncodedSample[]> {
  verifyTarComplete(bytes, source);
  const samples: EncodedSample[] = [];
  let group: { key: string; image?: { bytes: Uint8Array; name: string }; cls?: { value: number; name: string } } | undefined;
  const flush = () => {
    if (!group) return;
    const { key, image, cls } = group;
    if (!image || !cls) {
      const missing = !image ? `an image member (.${SHARD_IMAGE_EXTENSIONS.join(', .')})` : 'a .cls member';
      throw new ShardError(source, `sample '${key}' has no ${missing}; members of one sample must be consecutive`);
    }
    samples.push({ key, label: cls.value, bytes: image.bytes, source: `${source}#${image.name}` });
    group = undefined;
  };
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      if (isUnsafeMemberName(name)) {
        entry.resume();
        throw new ShardError(
          source,
          `unsafe member path '${name}' (absolute or containing '..'): refusing the shard; rebuild it with relative member names`,
        );
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (type !== 'file' && type !== 'contiguous-file') continue; // directories, links: not samples
      const { key, ext } = splitMemberName(name);
      if (group && group.key !== key) flush();
      group ??= { key };
      const data = Buffer.concat(chunks);
      if ((SHARD_IMAGE_EXTENSIONS as readonly string[]).includes(ext)) {
        if (group.image) throw new ShardError(source, `sample '${key}' has two image members ('${group.image.name}', '${name}')`);
        group.image = { bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), name };
      } else if (ext === 'cls') {
        const text = data.toString('utf8').trim();
        const value = Number(text);
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
          throw new ShardError(source, `member '${name}': class id must be a non-negative decimal integer, found '${text.slice(0, 40)}'`);
        }
        group.cls = { value, name };
      }
    }
    flush();
  })();
  extract.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  try {
    await done;
  } catch (e) {
    extract.destroy();
    if (e instanceof ShardError) throw e;
    throw new ShardError(source, `cannot read tar shard (${(e as Error).message}); the shard is corrupt: rebuild it`, undefined, {
      cause: e,
    });
  }
  return samples;
}

export interface LoadShardOptions {
  retry?: RetryOptions;
  maxShardBytes?: number;
  signal?: AbortSignal;
  /** Called before each retry (for logging). */
  onRetry?: (info: { location: string; attempt: number; delayMs: number; reason: string }) => void;
}

export function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** Load a whole shard from disk. */
export async function loadShardFile(path: string, maxShardBytes = DEFAULT_MAX_SHARD_BYTES): Promise<Uint8Array> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new DataFormatError(path, `cannot read shard (${(e as Error).message}); check the path`, undefined, { cause: e });
  }
  if (size > maxShardBytes) {
    throw new ShardError(path, `shard of ${size} bytes exceeds maxShardBytes ${maxShardBytes} (shards are held in memory whole); split it`);
  }
  return readFile(path);
}

/** Why an HTTP attempt failed, and whether trying again may help. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * Load a whole shard over HTTP(S) with Node's fetch. Retried with exponential backoff: network
 * errors, bodies cut short (by the connection, or shards missing their end marker), 408, 429 and
 * 5xx. Other statuses (404, 403...) fail at once. The last failure is a `ShardFetchError`.
 */
export async function loadShardUrl(url: string, options: LoadShardOptions = {}): Promise<Uint8Array> {
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const maxBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    let failure: AttemptError;
    try {
      const bytes = await fetchOnce(url, maxBytes, options.signal);
      verifyTarComplete(bytes, url);
      return bytes;
    } catch (e) {
      if (options.signal?.aborted) throw e;
      if (e instanceof AttemptError) failure = e;
      else if (e instanceof TruncatedDataError) failure = new AttemptError(e.message.replace(`${url}: `, ''), true);
      else if (e instanceof ShardError) throw e; // corrupt header: the same bytes will come again
      else failure = new AttemptError(`network error: ${describe(e)}`, true);
    }
    if (!failure.retryable || attempt >= retry.retries) {
      const tries = attempt + 1;
      throw new ShardFetchError(
        url,
        `cannot fetch shard after ${tries} attempt${tries > 1 ? 's' : ''}: ${failure.message}; ` +
          (failure.retryable
            ? 'the server or network kept failing: try again later or raise the retry count'
            : 'check the URL'),
        tries,
        failure.status,
      );
    }
    const delayMs = backoffDelay(attempt, retry);
    options.onRetry?.({ location: url, attempt: attempt + 1, delayMs, reason: failure.message });
    await sleep(delayMs, undefined, { signal: options.signal });
  }
}

async function fetchOnce(url: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  const res = await fetch(url, { signal });
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new AttemptError(`HTTP ${res.status} ${res.statusText}`.trim(), retryable, res.status);
  }
  const declared = res.headers.get('content-length');
  const encoded = res.headers.get('content-encoding');
  if (declared !== null && Number(declared) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new AttemptError(`shard of ${declared} bytes exceeds maxShardBytes ${maxBytes}; split it`, false);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    const reader = res.body.getReader();
    let finished = false;
    try {
      for (;;) {
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch (e) {
          if (signal?.aborted) throw e;
          throw new AttemptError(`connection cut after ${total} bytes of the body (${describe(e)})`, true);
        }
        if (r.done) {
          finished = true;
          break;
        }
        total += r.value.byteLength;
        if (total > maxBytes) throw new AttemptError(`shard exceeds maxShardBytes ${maxBytes}; split it`, false);
        chunks.push(r.value);
      }
    } finally {
      if (!finished) await reader.cancel().catch(() => undefined);
    }
  }
  // Belt and braces: undici already fails a body shorter than its Content-Length.
  if (declared !== null && !encoded && total !== Number(declared)) {
    throw new AttemptError(`body ended after ${total} of ${declared} bytes (Content-Length)`, true);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return `${e.message}${cause}`;
}
