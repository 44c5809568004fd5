/**
 * Writing WebDataset-style tar shards (the format `readTarShards` reads): each sample is a pair of
 * members `<key>.<ext>` (the encoded image) and `<key>.cls` (the class id as decimal text).
 * `makeShards` turns an image folder (files copied as they are) or an IDX dataset (pixels encoded
 * as PNG with sharp) into `train-0000.tar`, ... and `test-0000.tar`, ..., plus `shards.json`
 * (class names in id order, each split's shards and sample count), which is what the image pipelines need to train from
 * shards: `--data 'DIR_OR_URL/train-{0000..NNNN}.tar'`. Every file is written atomically.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tar from 'tar-stream';
import { writeFileAtomic } from '../atomic.js';
import { readIdxFile } from './idx.js';
import { locateIdx, locateImageFolder } from '../train/datasets.js';
import { IMAGE_EXTENSIONS, listClassFiles } from './image_folder.js';
import { SHARDS_INDEX, type ShardsIndex } from './brace.js';

export { SHARDS_INDEX, expandBraces } from './brace.js';

/** Default samples per shard (WebDataset's usual shards hold a few thousand). */
export const DEFAULT_PER_SHARD = 1000;
/** Shard file names: `train-0000.tar`. */
const shardName = (split: string, i: number) => `${split}-${String(i).padStart(4, '0')}.tar`;

interface Item {
  name: string;
  ext: string;
  bytes: Uint8Array;
  label: number;
}

/** Pack samples into shards of `perShard`; returns the shard names and the sample count. */
async function writeShards(out: string, split: string, items: AsyncIterable<Item>, perShard: number): Promise<{ shards: string[]; samples: number }> {
  const shards: string[] = [];
  let pending: Item[] = [];
  let samples = 0;
  const flush = async () => {
    if (!pending.length) return;
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    const done = new Promise<void>((resolve, reject) => {
      pack.on('end', resolve);
      pack.on('error', reject);
    });
    for (const it of pending) {
      pack.entry({ name: `${it.name}.${it.ext}` }, Buffer.from(it.bytes));
      pack.entry({ name: `${it.name}.cls` }, `${it.label}`);
    }
    pack.finalize();
    await done;
    const name = shardName(split, shards.length);
    await writeFileAtomic(join(out, name), Buffer.concat(chunks));
    shards.push(name);
    pending = [];
  };
  for await (const it of items) {
    pending.push(it);
    samples++;
    if (pending.length >= perShard) await flush();
  }
  await flush();
  return { shards, samples };
}

export interface MakeShardsResult {
  classes: string[];
  train: { shards: string[]; samples: number };
  test: { shards: string[]; samples: number };
  /** The `--data` patterns that read the shards back. */
  patterns: { train: string; test: string };
}

/**
 * Shard `from` (an IDX directory with the four Fashion-MNIST/MNIST files, or an image folder with
 * `train/` and `test/` class folders, or only class folders: then everything goes to train) into
 * `out`.
 */
export async function makeShards(from: string, out: string, perShard = DEFAULT_PER_SHARD): Promise<MakeShardsResult> {
  if (!(Number.isInteger(perShard) && perShard >= 1)) throw new RangeError(`--per-shard must be a positive integer, got ${perShard}`);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(out, { recursive: true });
  const idx = await locateIdx(from).catch(() => undefined);
  let classes: string[];
  let train: { shards: string[]; samples: number };
  let test: { shards: string[]; samples: number } = { shards: [], samples: 0 };
  if (idx) {
    const fromIdx = async function* (paths: { images: string; labels: string }, split: string): AsyncIterable<Item> {
      const [img, lab] = await Promise.all([readIdxFile(paths.images), readIdxFile(paths.labels)]);
      const [n, h, w, c = 1] = img.shape as [number, number, number, number?];
      const per = h * w * c;
      const digits = String(n - 1).length;
      for (let i = 0; i < n; i++) {
        const raw = sharp(img.data.subarray(i * per, (i + 1) * per) as Uint8Array, { raw: { width: w, height: h, channels: c as 1 | 3 } });
        // One-channel images stay one-channel PNGs (sharp would write sRGB otherwise).
        const png = await (c === 1 ? raw.toColourspace('b-w') : raw).png().toBuffer();
        yield { name: `${split}/${String(i).padStart(digits, '0')}`, ext: 'png', bytes: png, label: lab.data[i]! };
      }
    };
    const labels = await readIdxFile(idx.train.labels);
    const count = Math.max(...Array.from(labels.data as ArrayLike<number>)) + 1;
    classes = Array.from({ length: count }, (_, i) => String(i));
    train = await writeShards(out, 'train', fromIdx(idx.train, 'train'), perShard);
    test = await writeShards(out, 'test', fromIdx(idx.test, 'test'), perShard);
  } else {
    const folder = await locateImageFolder(from);
    classes = folder.classes;
    const fromFolder = async function* (root: string, split: string): AsyncIterable<Item> {
      // Class by class (ids in `classes` order), files sorted within a class, as readImageFolder lists them.
      for (const [label, cls] of classes.entries()) {
        for (const file of await listClassFiles(join(root, cls), IMAGE_EXTENSIONS)) {
          const path = join(root, cls, file);
          const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
          const name = `${split}/${`${cls}/${file}`.replace(/\.[^./]*$/, '').replace(/[^\w/-]/g, '_')}`;
          yield { name, ext, bytes: await readFile(path), label };
        }
      }
    };
    train = await writeShards(out, 'train', fromFolder(folder.train, 'train'), perShard);
    if (folder.test) test = await writeShards(out, 'test', fromFolder(folder.test, 'test'), perShard);
  }
  const index: ShardsIndex = { classes, train, test };
  await writeFileAtomic(join(out, SHARDS_INDEX), JSON.stringify(index, null, 1) + '\n');
  const pattern = (split: string, n: number) => (n === 1 ? shardName(split, 0) : `${split}-{${'0'.repeat(4)}..${String(n - 1).padStart(4, '0')}}.tar`);
  return { classes, train, test, patterns: { train: join(out, pattern('train', train.shards.length)), test: join(out, pattern('test', test.shards.length)) } };
}
