import t from 'tap';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { take, tap } from 'rxjs';
import { chwToHwc, cifarPaths } from '../../src/data/cifar.js';
import { DataFormatError, TruncatedDataError } from '../../src/data/errors.js';
import { readCifar } from '../../operators/readCifar.js';
import { collect, streamError, tempDir } from './fixtures.js';

/** One record written byte by byte: labels, then R plane, G plane, B plane (CHW). */
function record(labels: number[], r: number, g: number, b: number): number[] {
  const out = [...labels];
  // plane values vary with the pixel index so that a wrong transpose shows up
  for (const base of [r, g, b]) for (let i = 0; i < 1024; i++) out.push((base + i) & 255);
  return out;
}

t.test('chwToHwc interleaves planes', async (t) => {
  // 1×2 image, 3 channels: R=[1,2], G=[3,4], B=[5,6] → pixels (1,3,5), (2,4,6)
  t.same([...chwToHwc(Uint8Array.from([1, 2, 3, 4, 5, 6]), 1, 2, 3)], [1, 3, 5, 2, 4, 6]);
});

t.test('CIFAR-10: labels and HWC pixels across files, in order', async (t) => {
  const dir = await tempDir(t);
  const a = join(dir, 'data_batch_1.bin');
  const b = join(dir, 'data_batch_2.bin');
  await writeFile(a, Uint8Array.from([...record([3], 10, 20, 30), ...record([9], 40, 50, 60)]));
  await writeFile(b, Uint8Array.from(record([0], 70, 80, 90)));
  const samples = await collect(readCifar({ files: [a, b] }));
  t.same(samples.map((s) => s.label), [3, 9, 0]);
  t.same(samples[0]!.shape, [32, 32, 3]);
  const px = samples[1]!.image;
  t.same([...px.subarray(0, 6)], [40, 50, 60, 41, 51, 61], 'pixel 0 and 1, RGB');
  const i = 32 * 5 + 7; // row 5, column 7
  t.same([...px.subarray(3 * i, 3 * i + 3)], [40 + i, 50 + i, 60 + i].map((v) => v & 255));
  t.equal(samples[2]!.key, `${b}:0`);
  t.equal((await collect(readCifar({ files: [a, b] }).pipe(take(2)))).length, 2);
});

t.test('CIFAR-100: coarse then fine label bytes', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'train.bin');
  await writeFile(f, Uint8Array.from([...record([4, 87], 1, 2, 3), ...record([19, 99], 4, 5, 6)]));
  const fine = await collect(readCifar({ files: [f], variant: 'cifar100' }));
  t.same(fine.map((s) => s.label), [87, 99]);
  const coarse = await collect(readCifar({ files: [f], variant: 'cifar100', label: 'coarse' }));
  t.same(coarse.map((s) => s.label), [4, 19]);
  t.same([...fine[1]!.image.subarray(0, 3)], [4, 5, 6]);
});

t.test('a truncated batch fails before emitting, naming the file and the cut record', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'data_batch_1.bin');
  const bytes = Uint8Array.from([...record([1], 0, 0, 0), ...record([2], 0, 0, 0)]);
  await writeFile(f, bytes.subarray(0, 3073 + 1000));
  const seen: number[] = [];
  const e = await streamError(readCifar({ files: [f] }).pipe(tap((v) => seen.push(v.label))));
  t.type(e, TruncatedDataError);
  t.equal((e as TruncatedDataError).offset, 4073);
  t.equal((e as TruncatedDataError).expectedBytes, 6146);
  t.match(e.message, `${f}: truncated cifar10 batch: the record at byte 3073 is cut off after 1000 of its 3073 bytes`);
  t.same(seen, [], 'no sample of the truncated file was emitted');
});

t.test('labels out of range and wrong variants are format errors', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'b.bin');
  await writeFile(f, Uint8Array.from([...record([1], 0, 0, 0), ...record([12], 0, 0, 0)]));
  const e = await streamError(readCifar({ files: [f] }));
  t.type(e, DataFormatError);
  t.equal((e as DataFormatError).offset, 3073);
  t.match(e.message, 'label 12 at byte 3073 is out of range 0..9');
  // a CIFAR-10 file read as CIFAR-100: 3073-byte records do not divide into 3074
  t.match((await streamError(readCifar({ files: [f], variant: 'cifar100' }))).message, 'truncated cifar100 batch');
});

t.test('cifarPaths finds the batches, also in the archive folder', async (t) => {
  const dir = await tempDir(t);
  const sub = join(dir, 'cifar-10-batches-bin');
  await mkdir(sub);
  for (const n of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) {
    await writeFile(join(sub, n), '');
  }
  t.same(await cifarPaths(dir, 'test'), [join(sub, 'test_batch.bin')]);
  t.equal((await cifarPaths(dir, 'train')).length, 5);
  await t.rejects(cifarPaths(dir, 'test', 'cifar100'), /no cifar100 test batches/);
});
