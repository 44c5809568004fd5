// The sharp (libvips) call behind `decodeImage`, in plain JavaScript so that a worker thread can
// load it without a TypeScript loader (`decode_worker.mjs`); `decode.ts` runs the same function
// on the main thread. Types: `decode_sharp.d.mts`. Errors are sharp's own: `decode.ts` turns
// them into `ImageDecodeError` / `ImageTooLargeError`.
import sharp from 'sharp';

/**
 * Decode `input` (bytes or a file path) to raw 8-bit HWC pixels with `channels` channels,
 * resized to `size` ([height, width]) with `fit` when given.
 */
export async function sharpDecode(input, { size, fit = 'cover', channels = 3, limitInputPixels }) {
  // `failOn: 'warning'`: libvips treats "premature end of data" as an error rather than returning
  // a half-grey image. Inside this async function a synchronous throw of sharp (an empty buffer)
  // becomes a rejection too.
  let pipeline = sharp(input, { limitInputPixels, failOn: 'warning' }).rotate(); // EXIF orientation
  if (size) {
    const [height, width] = size;
    pipeline = pipeline.resize({ width, height, fit });
  }
  if (channels === 1) pipeline = pipeline.flatten({ background: '#000000' }).greyscale().toColourspace('b-w');
  else if (channels === 3) pipeline = pipeline.flatten({ background: '#000000' }).toColourspace('srgb');
  else pipeline = pipeline.toColourspace('srgb').ensureAlpha();
  const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, info: { width: info.width, height: info.height, channels: info.channels } };
}
