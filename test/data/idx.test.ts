import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { take } from 'rxjs';
import { encodeIdx, idxPaths, parseIdx, readIdxFile, writeIdxFile } from '../../src/data/idx.js';
import { DataFormatError, TruncatedDataError } from '../../src/data/errors.js';
import { readIdx } from '../../operators/readIdx.js';
import { collect, streamError, tempDir, thrown } from './fixtures.js';

/** IDX bytes written by hand: magic 00 00 08 <nd>, big-endian dims, data. */
function idxBytes(dims: number[], data: number[], dtype = 0x08): Uint8Array {
  const header = [0, 0, dtype, dims.length];
  for (const d of dims) header.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...header, ...data]);
}

// 3 images of 2×2, values 10*i + j; labels 7, 0, 9
const IMAGES = idxBytes([3, 2, 2], [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
const LABELS = idxBytes([3], [7, 0, 9]);

t.test('parseIdx reads hand-written ubyte files', async (t) => {
  const a = parseIdx(IMAGES, 'x');
  t.equal(a.dtype, 'uint8');
  t.same(a.shape, [3, 2, 2]);
  t.same([...a.data], [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
});

t.test('parseIdx reads big-endian multi-byte types; encodeIdx round-trips', async (t) => {
  // int32 [2]: 0x00000102 = 258, 0xFFFFFFFF = -1
  const a = parseIdx(idxBytes([2], [0, 0, 1, 2, 255, 255, 255, 255], 0x0c), 'x');
  t.same([...a.data], [258, -1]);
  for (const dtype of ['uint8', 'int8', 'int16', 'int32', 'float32', 'float64'] as const) {
    const data =
      dtype === 'float32' ? Float32Array.from([1.5, -2.25]) : dtype === 'float64' ? Float64Array.from([1e-300, 3]) :
      dtype === 'uint8' ? Uint8Array.from([200, 3]) : dtype === 'int8' ? Int8Array.from([-100, 3]) :
      dtype === 'int16' ? Int16Array.from([-30000, 3]) : Int32Array.from([-2e9, 3]);
    const b = parseIdx(encodeIdx({ dtype, shape: [2], data }), 'x');
    t.equal(b.dtype, dtype);
    t.same([...b.data], [...data], dtype);
  }
});

t.test('bad magic, dtype and dims are format errors naming the file and offset', async (t) => {
  const badMagic = Uint8Array.from(IMAGES);
  badMagic[0] = 0x3c; // '<' as in an HTML page
  const e1 = thrown(() => parseIdx(badMagic, 'f.idx'));
  t.type(e1, DataFormatError);
  t.equal(e1.offset, 0);
  t.match(e1.message, /^f\.idx: not an IDX file/);
  const badType = Uint8Array.from(IMAGES);
  badType[2] = 0x42;
  const e2 = thrown(() => parseIdx(badType, 'f.idx'));
  t.type(e2, DataFormatError);
  t.equal(e2.offset, 2);
  t.match(e2.message, /data type 0x42/);
  const badDims = Uint8Array.from(IMAGES);
  badDims[3] = 0;
  const e3 = thrown(() => parseIdx(badDims, 'f.idx'));
  t.type(e3, DataFormatError);
  t.equal(e3.offset, 3);
  const trailing = Uint8Array.from([...IMAGES, 1, 2]);
  t.throws(() => parseIdx(trailing, 'f.idx'), /f\.idx: 2 unexpected bytes after the data at byte 28/);
});

t.test('truncated files: the error names the file, where the data ran out, and the size needed', async (t) => {
  const dir = await tempDir(t);
  const plain = join(dir, 'images-idx3-ubyte');
  await writeFile(plain, IMAGES.subarray(0, 20)); // header 16 + 4 of 12 data bytes
  const e1 = await readIdxFile(plain).catch((e) => e);
  t.type(e1, TruncatedDataError);
  t.equal(e1.offset, 20);
  t.equal(e1.expectedBytes, 28);
  t.match(e1.message, `${plain}: IDX data ran out at byte 20`);
  t.match(e1.message, 'needs 28 bytes');
  t.match(e1.message, 'download it again');

  const short = join(dir, 'short');
  await writeFile(short, IMAGES.subarray(0, 9)); // inside the dims
  const e2 = await readIdxFile(short).catch((e) => e);
  t.type(e2, TruncatedDataError);
  t.equal(e2.offset, 9);
  t.equal(e2.expectedBytes, 16);

  // a gzip stream cut in the middle: decompressed as far as it goes, offset in decompressed bytes
  const big = encodeIdx({ dtype: 'uint8', shape: [50, 28, 28], data: Uint8Array.from({ length: 50 * 784 }, (_, i) => (i * 13) & 255) });
  const gz = gzipSync(big);
  const cut = join(dir, 'cut.gz');
  await writeFile(cut, gz.subarray(0, Math.floor(gz.length / 2)));
  const e3 = await readIdxFile(cut).catch((e) => e);
  t.type(e3, TruncatedDataError);
  t.ok(e3.offset > 0 && e3.offset < big.length, `offset ${e3.offset} inside the data`);
  t.match(e3.message, 'gzip stream cut short');
  t.equal(e3.expectedBytes, big.length);

  // only the gzip trailer missing: the payload is whole but unchecked, still an error
  const trailer = join(dir, 'trailer.gz');
  await writeFile(trailer, gz.subarray(0, gz.length - 4));
  await t.rejects(readIdxFile(trailer), TruncatedDataError);

  const header = join(dir, 'header.gz');
  await writeFile(header, gz.subarray(0, 5)); // inside the gzip header itself
  await t.rejects(readIdxFile(header), TruncatedDataError);

  await t.rejects(readIdxFile(join(dir, 'missing')), /missing: cannot read IDX file/);
});

t.test('gzip is detected by magic bytes, not by name', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.idx'), gzipSync(IMAGES)); // gzip without .gz
  await writeFile(join(dir, 'b.gz'), IMAGES); // plain with .gz
  t.same((await readIdxFile(join(dir, 'a.idx'))).shape, [3, 2, 2]);
  t.same((await readIdxFile(join(dir, 'b.gz'))).shape, [3, 2, 2]);
});

t.test('readIdx emits samples lazily, in order, as HWC copies', async (t) => {
  const dir = await tempDir(t);
  const images = join(dir, 'train-images-idx3-ubyte.gz');
  const labels = join(dir, 'train-labels-idx1-ubyte');
  await writeFile(images, gzipSync(IMAGES));
  await writeFile(labels, LABELS);
  t.same(await idxPaths(dir, 'train'), { images, labels });
  await t.rejects(idxPaths(dir, 'test'), /t10k-images-idx3-ubyte/);

  const samples = await collect(readIdx({ images, labels }));
  t.equal(samples.length, 3);
  t.same(samples.map((s) => s.label), [7, 0, 9]);
  t.same([...samples[1]!.image], [10, 11, 12, 13]);
  t.same(samples[1]!.shape, [2, 2, 1]);
  t.equal(samples[2]!.key, 'train-images-idx3-ubyte.gz:2');
  t.not(samples[0]!.image.buffer, samples[1]!.image.buffer, 'each image owns its pixels');

  t.equal((await collect(readIdx({ images, labels, limit: 2 }))).length, 2);
  t.same((await collect(readIdx({ images, labels }).pipe(take(1))))[0]!.label, 7, 'unsubscribe after one');
  t.equal((await collect(readIdx({ images, labels }))).length, 3, 'a second subscription reads again');

  // 4-d images [n, h, w, c]
  const rgb = join(dir, 'rgb');
  await writeIdxFile(rgb, { dtype: 'uint8', shape: [3, 1, 2, 3], data: Uint8Array.from({ length: 18 }, (_, i) => i) }, { gzip: false });
  const s = await collect(readIdx({ images: rgb, labels }));
  t.same(s[2]!.shape, [1, 2, 3]);
  t.same([...s[2]!.image], [12, 13, 14, 15, 16, 17]);
});

t.test('readIdx offset and limit: a range of samples, keyed by their index in the file', async (t) => {
  const dir = await tempDir(t);
  const images = join(dir, 'imgs');
  const labels = join(dir, 'labs');
  await writeFile(images, IMAGES);
  await writeFile(labels, LABELS);
  const tail = await collect(readIdx({ images, labels, offset: 1 }));
  t.same(tail.map((s) => s.key), ['imgs:1', 'imgs:2']);
  t.same(tail.map((s) => s.label), [0, 9]);
  t.same([...tail[1]!.image], [20, 21, 22, 23]);
  const middle = await collect(readIdx({ images, labels, offset: 1, limit: 1 }));
  t.same(middle.map((s) => s.key), ['imgs:1']);
  t.same((await collect(readIdx({ images, labels, limit: 2 }))).map((s) => s.key), ['imgs:0', 'imgs:1'], 'head and tail split the file');
  t.same(await collect(readIdx({ images, labels, offset: 3 })), [], 'offset n: nothing');
  t.match((await streamError(readIdx({ images, labels, offset: 4 }))).message, `${images}: offset 4 is past its 3 samples`);
  t.throws(() => readIdx({ images, labels, offset: -1 }), RangeError);
});

t.test('readIdx errors: mismatched counts, swapped files, truncation', async (t) => {
  const dir = await tempDir(t);
  const images = join(dir, 'i');
  const labels = join(dir, 'l');
  await writeFile(images, IMAGES);
  await writeFile(labels, idxBytes([2], [1, 2]));
  t.match((await streamError(readIdx({ images, labels }))).message, `${labels}: 2 labels for 3 images`);
  await writeFile(labels, LABELS);
  t.match((await streamError(readIdx({ images: labels, labels: images }))).message, 'is this a labels file?');
  await writeFile(images, IMAGES.subarray(0, 25));
  const e = await streamError(readIdx({ images, labels }));
  t.type(e, TruncatedDataError);
  t.match(e.message, images);
});
