/**
 * Decoding encoded images to raw HWC pixels with sharp (libvips): PNG, JPEG, WebP, GIF, TIFF,
 * AVIF, SVG, whatever the installed sharp reads.
 *
 * Safety: sharp's `limitInputPixels` is always set. An image whose header claims more pixels is
 * refused before decoding (a small file can expand to gigabytes: a decompression bomb) with an
 * `ImageTooLargeError` that says so. Corrupt or truncated images throw `ImageDecodeError` naming
 * the file (`failOn: 'warning'` makes libvips treat "premature end of data" as an error rather
 * than returning a half-grey image).
 *
 * Where: the sharp call itself is `decode_sharp.mjs`, run here on the main thread or, given a
 * `DecodePool` (`decode_pool.ts`), on worker threads with the same results and errors.
 */
import sharp from 'sharp';
import { sharpDecode, type RawImage } from './decode_sharp.mjs';
import { DecodeWorkerError, type DecodePool } from './decode_pool.js';
import { ImageDecodeError, ImageTooLargeError } from './errors.js';
import type { EncodedSample, ImageShape, Sample } from './types.js';

/**
 * Default pixel limit: 64 megapixels (an 8k × 8k image), far above any training image, far below
 * what would exhaust memory. sharp's own default is 268 megapixels.
 */
export const DEFAULT_LIMIT_INPUT_PIXELS = 8192 * 8192;

export interface DecodeOptions {
  /** Output `[height, width]`; images are resized (see `fit`). Omit to keep each image's size. */
  size?: readonly [h: number, w: number];
  /** How to resize to `size`: `cover` (default) crops to fill, `contain` letterboxes, `fill` stretches. */
  fit?: 'cover' | 'contain' | 'fill';
  /**
   * Output channels (default 3): 1 grey, 3 RGB, 4 RGBA. Alpha is flattened onto black when
   * removed, grey is replicated to RGB.
   */
  channels?: 1 | 3 | 4;
  /** Refuse images with more pixels than this (decompression bombs). */
  limitInputPixels?: number;
}

/**
 * Decode one image (bytes, or a file path) to raw pixels, on `pool`'s worker threads if given.
 * `source` is named in errors. Throws `ImageTooLargeError` over the pixel limit and
 * `ImageDecodeError` for anything unreadable; `DecodeWorkerError` if the pool itself failed.
 */
export async function decodeImage(
  input: Uint8Array | string,
  source: string,
  options: DecodeOptions = {},
  pool?: DecodePool,
): Promise<{ image: Uint8Array; shape: ImageShape }> {
  const channels = options.channels ?? 3;
  const limit = options.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS;
  const raw = { size: options.size, fit: options.fit ?? 'cover', channels, limitInputPixels: limit } as const;
  let result: RawImage;
  try {
    result = await (pool ? pool.decode(input, raw) : sharpDecode(input, raw));
  } catch (e) {
    if (e instanceof DecodeWorkerError) throw e; // the pool failed, not the image
    throw await decodeFailure(e, input, source, limit);
  }
  const { data, info } = result;
  if (info.channels !== channels) {
    throw new ImageDecodeError(source, `decoded to ${info.channels} channels, expected ${channels}; please report this image`);
  }
  return {
    image: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    shape: [info.height, info.width, info.channels],
  };
}

/** Decode an `EncodedSample` (bytes or path) into a `Sample`, on `pool`'s workers if given. */
export async function decodeSample(sample: EncodedSample, options: DecodeOptions = {}, pool?: DecodePool): Promise<Sample> {
  const input = sample.bytes ?? sample.path;
  const { image, shape } = await decodeImage(input, sample.source, options, pool);
  return { key: sample.key, image, shape, label: sample.label, source: sample.source };
}

async function decodeFailure(e: unknown, input: Uint8Array | string, source: string, limit: number): Promise<ImageDecodeError> {
  const message = e instanceof Error ? e.message : String(e);
  if (/exceeds pixel limit/i.test(message)) {
    // The header is readable (that is how libvips knew); name the size it claims.
    const meta = await sharp(input, { limitInputPixels: false }).metadata().catch(() => undefined);
    const dims = meta?.width && meta?.height ? `${meta.width}×${meta.height} = ${meta.width * meta.height} pixels` : 'its size';
    return new ImageTooLargeError(
      source,
      `image refused: ${dims} exceeds limitInputPixels ${limit} (sharp's decompression-bomb guard); ` +
        `if the image is genuine, raise decodeImages({ limitInputPixels })`,
      limit,
    );
  }
  return new ImageDecodeError(
    source,
    `cannot decode image (${message.split('\n')[0]}); the file is corrupt, truncated or not an image: replace or remove it`,
    undefined,
    { cause: e },
  );
}
