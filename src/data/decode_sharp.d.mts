/** Types of `decode_sharp.mjs` (plain JavaScript so that worker threads load it without a loader). */
export interface SharpDecodeOptions {
  /** Output `[height, width]`; omit to keep the image's size. */
  size?: readonly [h: number, w: number];
  fit?: 'cover' | 'contain' | 'fill';
  channels?: 1 | 3 | 4;
  /** sharp's decompression-bomb guard. */
  limitInputPixels: number;
}

export interface RawImage {
  /** HWC pixels, 8-bit. */
  data: Uint8Array;
  info: { width: number; height: number; channels: number };
}

export function sharpDecode(input: Uint8Array | string, options: SharpDecodeOptions): Promise<RawImage>;
