import t from 'tap';
import { crc32, deflateSync } from 'node:zlib';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { from, take, throwError, concat } from 'rxjs';
import { decodeImage, decodeSample, DEFAULT_LIMIT_INPUT_PIXELS } from '../../src/data/decode.js';
import { DecodePool, DecodeWorkerError } from '../../src/data/decode_pool.js';
import { ImageDecodeError, ImageTooLargeError } from '../../src/data/errors.js';
import { createSkipCounter, type EncodedSample, type SkipCounter } from '../../src/data/types.js';
import { decodeImages } from '../../operators/decodeImages.js';
import { collect, encodeImage, pattern, streamError, tempDir } from './fixtures.js';

t.test('decodes every format sharp reads; PNG pixels are exact', async (t) => {
  const px = pattern(8, 6, 3, 1);
  const png = await decodeImage(await encodeImage(px, [8, 6, 3], 'png'), 'a.png');
  t.same(png.shape, [8, 6, 3]);
  t.same([...png.image], [...px]);
  for (const format of ['jpeg', 'webp', 'gif', 'tiff'] as const) {
    const out = await decodeImage(await encodeImage(px, [8, 6, 3], format), `a.${format}`);
    t.same(out.shape, [8, 6, 3], format);
  }
});

t.test('channels and size options', async (t) => {
  const grey = await encodeImage(pattern(4, 4, 1), [4, 4, 1]);
  const rgb = await decodeImage(grey, 'g.png', { channels: 3 });
  t.same(rgb.shape, [4, 4, 3]);
  t.same([...rgb.image.subarray(0, 3)], [0, 0, 0]);
  t.same([...rgb.image.subarray(3, 6)], [7, 7, 7], 'grey replicated to RGB');
  const rgba = await encodeImage(Uint8Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? 255 : 100)), [2, 2, 4]);
  t.same((await decodeImage(rgba, 'a.png')).shape, [2, 2, 3], 'default 3 channels drops alpha');
  t.same((await decodeImage(rgba, 'a.png', { channels: 4 })).shape, [2, 2, 4]);
  t.same((await decodeImage(rgba, 'a.png', { channels: 1 })).shape, [2, 2, 1]);
  const resized = await decodeImage(await encodeImage(pattern(20, 30, 3), [20, 30, 3]), 'r.png', { size: [8, 10], channels: 1 });
  t.same(resized.shape, [8, 10, 1]);
  t.equal(resized.image.length, 80);
});

t.test('corrupt and truncated images are ImageDecodeErrors naming the source', async (t) => {
  const png = await encodeImage(pattern(16, 16, 3), [16, 16, 3]);
  for (const [what, bytes] of [
    ['truncated', png.subarray(0, png.length >> 1)],
    ['garbage', Buffer.from('this is not an image at all')],
    ['empty', Buffer.alloc(0)],
  ] as const) {
    const e = await decodeImage(bytes, `shard.tar#${what}.png`).catch((e) => e);
    t.type(e, ImageDecodeError, what);
    t.notOk(e instanceof ImageTooLargeError);
    t.match(e.message, `shard.tar#${what}.png: cannot decode image`);
  }
  const dir = await tempDir(t);
  const missing = join(dir, 'gone.png');
  t.match((await decodeImage(missing, missing).catch((e) => e)).message, `${missing}: cannot decode image`);
});

t.test('a decompression bomb is refused by limitInputPixels, and the error says so', async (t) => {
  // 2000×2000 black pixels compress to a few KB
  const bomb = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#000' } }).png({ compressionLevel: 9 }).toBuffer();
  t.ok(bomb.length < 50_000, `small file (${bomb.length} bytes) for 4 M pixels`);
  const e = await decodeImage(bomb, 'bomb.png', { limitInputPixels: 1_000_000 }).catch((e) => e);
  t.type(e, ImageTooLargeError);
  t.equal(e.limitInputPixels, 1_000_000);
  t.match(e.message, 'bomb.png: image refused: 2000×2000 = 4000000 pixels exceeds limitInputPixels 1000000');
  t.match(e.message, 'decompression-bomb');
  t.same((await decodeImage(bomb, 'bomb.png', { limitInputPixels: 4_000_000, size: [2, 2] })).shape, [2, 2, 3], 'allowed at the limit');
});

t.test('the default limit (8192² pixels) refuses a bomb that names no limit', async (t) => {
  // A PNG header claiming 8193×8193 pixels: refused from its header, before any pixel is decoded.
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(8193, 0);
  ihdr.writeUInt32BE(8193, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const header = Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1))), chunk('IEND', Buffer.alloc(0))]);
  const e = await decodeImage(header, 'huge.png').catch((e) => e);
  t.type(e, ImageTooLargeError, 'refused with the default limit');
  t.equal(e.limitInputPixels, DEFAULT_LIMIT_INPUT_PIXELS);
  t.match(e.message, `huge.png: image refused: 8193×8193 = ${8193 * 8193} pixels exceeds limitInputPixels ${8192 * 8192}`);
});

t.test('decodeSample reads bytes or a path', async (t) => {
  const dir = await tempDir(t);
  const png = await encodeImage(pattern(3, 3, 3), [3, 3, 3]);
  const path = join(dir, 'x.png');
  await writeFile(path, png);
  const a = await decodeSample({ key: 'k', label: 4, bytes: png, source: 's' });
  const b = await decodeSample({ key: 'k', label: 4, path, source: path });
  t.same([...a.image], [...b.image]);
  t.same({ ...a, image: null }, { key: 'k', label: 4, shape: [3, 3, 3], source: 's', image: null });
});

async function mixedSamples(): Promise<EncodedSample[]> {
  const good = await Promise.all([0, 1, 2, 3, 4].map((i) => encodeImage(pattern(4, 4, 3, i), [4, 4, 3])));
  const corrupt = Buffer.from(good[0]!);
  corrupt.fill(0x55, 8, 40); // destroy the IHDR chunk
  const truncated = good[1]!.subarray(0, good[1]!.length - 30);
  const all = [good[0]!, corrupt, good[1]!, truncated, good[2]!, good[3]!, good[4]!];
  return all.map((bytes, i) => ({ key: `k${i}`, label: i, bytes, source: `s/${i}.png` }));
}

t.test('decodeImages skips bad images: logged with the path, counted, order kept', async (t) => {
  const samples = await mixedSamples();
  const skipped = createSkipCounter();
  const logged: object[] = [];
  const logger = { warn: (obj: object) => logged.push(obj) };
  for (const concurrent of [1, 3, 8]) {
    const out = await collect(from(samples).pipe(decodeImages({ concurrent, skipped, logger })));
    t.same(out.map((s) => s.key), ['k0', 'k2', 'k4', 'k5', 'k6'], `concurrent ${concurrent}: good ones, in input order`);
    t.same([...out[3]!.image], [...pattern(4, 4, 3, 3)]);
  }
  t.equal(skipped.count, 6);
  t.same(skipped.byReason, { ImageDecodeError: 6 });
  t.same(skipped.examples.slice(0, 2), ['s/1.png', 's/3.png']);
  t.match(logged[0], { source: 's/1.png', key: 'k1', reason: 'ImageDecodeError' });
});

t.test('decodeImages strict: the stream errors with the path', async (t) => {
  const samples = await mixedSamples();
  const e = await streamError(from(samples).pipe(decodeImages({ concurrent: 2, strict: true })));
  t.type(e, ImageDecodeError);
  t.match(e.message, 's/1.png: cannot decode image');
});

t.test('decodeImages: bombs are skipped as such; upstream errors pass through; unsubscribe', async (t) => {
  const bomb = await sharp({ create: { width: 500, height: 500, channels: 3, background: '#000' } }).png().toBuffer();
  const ok = await encodeImage(pattern(4, 4, 3), [4, 4, 3]);
  const skipped = createSkipCounter();
  const out = await collect(
    from([
      { key: 'a', label: 0, bytes: bomb, source: 'bomb.png' },
      { key: 'b', label: 1, bytes: ok, source: 'ok.png' },
    ]).pipe(decodeImages({ concurrent: 2, limitInputPixels: 10_000, skipped, logger: { warn: () => undefined } })),
  );
  t.same(out.map((s) => s.key), ['b']);
  t.same(skipped.byReason, { ImageTooLargeError: 1 });

  const boom = new Error('upstream failed');
  const e = await streamError(concat(from([{ key: 'b', label: 1, bytes: ok, source: 'ok.png' }]), throwError(() => boom)).pipe(decodeImages({ concurrent: 2 })));
  t.equal(e, boom);

  const many = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, label: 0, bytes: ok, source: 'ok.png' }));
  t.same((await collect(from(many).pipe(decodeImages({ concurrent: 4 }), take(3)))).map((s) => s.key), ['k0', 'k1', 'k2']);
  t.throws(() => decodeImages({ concurrent: 0 }), /concurrent must be an integer ≥ 1/);
});

t.test('decodeImages on a worker thread: same samples, skips and errors as on the main thread', async (t) => {
  const samples = await mixedSamples();
  const quiet = { warn: () => undefined };
  const onMain = createSkipCounter();
  const onWorker = createSkipCounter();
  const main = await collect(from(samples).pipe(decodeImages({ concurrent: 3, skipped: onMain, logger: quiet })));
  const worker = await collect(from(samples).pipe(decodeImages({ concurrent: 3, workers: 2, skipped: onWorker, logger: quiet })));
  t.same(worker.map((s) => s.key), ['k0', 'k2', 'k4', 'k5', 'k6'], 'good ones, in input order');
  t.same(worker, main, 'pixels, shapes, labels and sources equal');
  // A skip is recorded when its decode fails, and two workers (or sharp's threads) fail s/1 and s/3
  // in either order: compare the examples as a set.
  const anyOrder = (c: SkipCounter) => ({ ...c, examples: [...c.examples].sort() });
  t.same(anyOrder(onWorker), anyOrder(onMain), 'the same images skipped for the same reasons');

  // Paths, resizing and every channel count.
  const dir = await tempDir(t);
  const path = join(dir, 'c.png');
  await writeFile(path, await encodeImage(pattern(20, 30, 3), [20, 30, 3]));
  for (const channels of [1, 3, 4] as const) {
    const options = { concurrent: 2, size: [8, 10] as const, channels };
    const input = [{ key: 'p', label: 0, path, source: path }];
    const [a] = await collect(from(input).pipe(decodeImages(options)));
    const [b] = await collect(from(input).pipe(decodeImages({ ...options, workers: 1 })));
    t.same(b!.shape, [8, 10, channels]);
    t.same([...b!.image], [...a!.image], `${channels} channel(s): pixels equal`);
  }

  const e = await streamError(from(samples).pipe(decodeImages({ concurrent: 2, workers: 1, strict: true })));
  t.type(e, ImageDecodeError, 'strict: the ImageDecodeError crosses the thread');
  t.match(e.message, 's/1.png: cannot decode image');

  const bomb = await sharp({ create: { width: 500, height: 500, channels: 3, background: '#000' } }).png().toBuffer();
  const tooLarge = await streamError(
    from([{ key: 'a', label: 0, bytes: bomb, source: 'bomb.png' }]).pipe(decodeImages({ concurrent: 1, workers: 1, strict: true, limitInputPixels: 10_000 })),
  );
  t.type(tooLarge, ImageTooLargeError);
  t.match(tooLarge.message, 'bomb.png: image refused: 500×500 = 250000 pixels exceeds limitInputPixels 10000');

  // Leaving early stops the pool (a worker left running would keep this test process alive).
  const ok = await encodeImage(pattern(4, 4, 3), [4, 4, 3]);
  const many = Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, label: 0, bytes: ok, source: 'ok.png' }));
  t.same((await collect(from(many).pipe(decodeImages({ concurrent: 64, workers: 1 }), take(3)))).map((s) => s.key), ['k0', 'k1', 'k2']);
  t.throws(() => decodeImages({ concurrent: 1, workers: -1 }), /workers must be an integer ≥ 0/);
  t.throws(() => decodeImages({ concurrent: 1, workers: 1.5 }), /workers must be an integer ≥ 0/);
});

t.test('a failed or closed decode pool fails the stream: it is never skipped as a bad image', async (t) => {
  const png = await encodeImage(pattern(4, 4, 3), [4, 4, 3]);
  const pool = new DecodePool(1);
  t.same((await decodeImage(png, 'a.png', {}, pool)).shape, [4, 4, 3]);
  const pending = decodeImage(png, 'b.png', {}, pool).catch((e) => e);
  await pool.close();
  for (const p of [pending, decodeImage(png, 'c.png', {}, pool)]) {
    const e = await p.catch((e) => e);
    t.type(e, DecodeWorkerError);
    t.notOk(e instanceof ImageDecodeError);
  }
  t.throws(() => new DecodePool(0), /size must be an integer ≥ 1/);
});
