/**
 * Errors of the data side. Every message starts with the file, shard or URL it is about, says
 * what was found (with the byte offset where it applies) and what to do about it.
 */

/** Base class: `source` is the file path, URL or `shard#member` the error is about. */
export class DataError extends Error {
  override name = 'DataError';
  constructor(
    readonly source: string,
    message: string,
    /** Byte offset in `source` (of the decompressed stream for gzip files) where it went wrong. */
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${message}`, options);
  }
}

/** The bytes are not in the format the reader expects (bad magic, type, dimensions, label). */
export class DataFormatError extends DataError {
  override name = 'DataFormatError';
}

/** The file ends before the data its header promises. */
export class TruncatedDataError extends DataError {
  override name = 'TruncatedDataError';
  constructor(
    source: string,
    message: string,
    /** Where the data ran out. */
    offset: number,
    /** How many bytes the header or format needs in all (NaN when the header itself is lost). */
    readonly expectedBytes: number,
  ) {
    super(source, message, offset);
  }
}

/** An image that sharp cannot decode (corrupt, truncated, unsupported, missing). */
export class ImageDecodeError extends DataError {
  override name = 'ImageDecodeError';
}

/** An image whose pixel count exceeds `limitInputPixels`: refused as a possible decompression bomb. */
export class ImageTooLargeError extends ImageDecodeError {
  override name = 'ImageTooLargeError';
  constructor(
    source: string,
    message: string,
    readonly limitInputPixels: number,
  ) {
    super(source, message);
  }
}

/** A tar shard that is unsafe (absolute or `..` member paths) or malformed. */
export class ShardError extends DataError {
  override name = 'ShardError';
}

/** A shard that could not be fetched, after all retries. */
export class ShardFetchError extends ShardError {
  override name = 'ShardFetchError';
  constructor(
    source: string,
    message: string,
    readonly attempts: number,
    /** The last HTTP status, when the server answered. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(source, message, undefined, options);
  }
}
