/** Test fixtures for the data side: temp dirs, small images, IDX/CIFAR bytes, tar shards. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tar from 'tar-stream';
import { firstValueFrom, lastValueFrom, toArray, type Observable } from 'rxjs';

process.env.FGSGD_LOG_LEVEL ??= 'silent';

export async function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'fgsgd-data-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Raw HWC pixels whose value encodes position and a seed: (seed*31 + i*7) mod 256. */
export function pattern(h: number, w: number, c: number, seed = 0): Uint8Array {
  const out = new Uint8Array(h * w * c);
  for (let i = 0; i < out.length; i++) out[i] = (seed * 31 + i * 7) & 255;
  return out;
}

export async function encodeImage(
  pixels: Uint8Array,
  [h, w, c]: [number, number, number],
  format: 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff' = 'png',
): Promise<Buffer> {
  const img = sharp(Buffer.from(pixels), { raw: { width: w, height: h, channels: c as 1 | 2 | 3 | 4 } });
  switch (format) {
    case 'png':
      return img.png().toBuffer();
    case 'jpeg':
      return img.jpeg({ quality: 95 }).toBuffer();
    case 'webp':
      return img.webp({ lossless: true }).toBuffer();
    case 'gif':
      return img.gif().toBuffer();
    case 'tiff':
      return img.tiff().toBuffer();
  }
}

/** A tar archive with the given members, written with tar-stream. */
export async function makeTar(members: { name: string; data: Uint8Array | string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const m of members) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: m.name }, typeof m.data === 'string' ? m.data : Buffer.from(m.data), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const collect = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));

/** The error a stream fails with (fails the test if it completes). */
export async function streamError(o: Observable<unknown>): Promise<Error> {
  try {
    await lastValueFrom(o, { defaultValue: undefined });
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the stream to fail, it completed');
}

export { firstValueFrom };

/** The error `fn` throws (fails the test if it returns). */
export function thrown(fn: () => unknown): Error & { offset?: number } {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}
