/**
 * Finding a dataset's files before a pipeline starts, and what is worth knowing up front (sample
 * counts for the progress bar, class names). Pipelines call these in their prelude; nothing here
 * reads the data itself or creates tensors.
 */
import { access, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isUrl } from '../data/tar_shards.js';
import { expandBraces, SHARDS_INDEX, type ShardsIndex } from '../data/brace.js';
import { cifarPaths } from '../data/cifar.js';
import { idxPaths, readIdxFile } from '../data/idx.js';
import { listClasses } from '../data/image_folder.js';

export interface IdxDataset {
  train: { images: string; labels: string };
  test: { images: string; labels: string };
  trainSamples: number;
}

/** The four IDX files in `dir` and the number of training samples (from the small labels file). */
export async function locateIdx(dir: string): Promise<IdxDataset> {
  // One after the other, so that a folder missing both always reports the training files.
  const train = await idxPaths(dir, 'train');
  const test = await idxPaths(dir, 'test');
  const labels = await readIdxFile(train.labels);
  return { train, test, trainSamples: labels.shape[0]! };
}

export interface CifarDataset {
  train: string[];
  test: string[];
}

export async function locateCifar(dir: string): Promise<CifarDataset> {
  // One after the other, so that a folder missing both reports the training batches, always (in
  // parallel, whichever lookup failed first named the error).
  const train = await cifarPaths(dir, 'train');
  const test = await cifarPaths(dir, 'test');
  return { train, test };
}

export interface ImageFolderDataset {
  /** Folder of the training classes, and of the test classes when the data has a split. */
  train: string;
  test?: string;
  classes: string[];
}

const TEST_FOLDERS = ['test', 'val', 'validation'];

/**
 * `dir` with one sub-folder per class; or `dir/train` and `dir/test` (or `val`, `validation`),
 * each with one sub-folder per class. Class ids follow the training folder's sorted names.
 */
export async function locateImageFolder(dir: string): Promise<ImageFolderDataset> {
  const entries = new Set(await readdir(dir).catch(() => [] as string[]));
  if (entries.size === 0) throw new Error(`image folder ${dir} is missing or empty; --data must hold one sub-folder per class`);
  if (entries.has('train')) {
    const train = join(dir, 'train');
    const testName = TEST_FOLDERS.find((t) => entries.has(t));
    const classes = await listClasses(train);
    return { train, test: testName ? join(dir, testName) : undefined, classes };
  }
  await access(dir);
  return { train: dir, classes: await listClasses(dir) };
}

/**
 * Image data given as tar shards (`--data` an http(s) URL or a `.tar` path, with WebDataset brace
 * patterns such as `train-{0000..0099}.tar`), described by `shards.json` beside them (written by
 * `fgsgd make-shards`): the class names, the test split's shards, and each split's sample count
 * (known when the pattern names exactly the index's training shards).
 */
export interface ShardDataset {
  train: { paths: string[]; urls: string[] };
  test?: { paths: string[]; urls: string[] };
  classes: string[];
  trainSamples?: number;
}

/** Whether `--data` names tar shards rather than a folder. */
export function isShardSpec(data: string): boolean {
  return isUrl(data) || /\.tar$/.test(data.replace(/\{[^}]*\}/g, ''));
}

export async function locateShards(pattern: string): Promise<ShardDataset> {
  const split = (locations: string[]) => ({ paths: locations.filter((l) => !isUrl(l)), urls: locations.filter(isUrl) });
  const train = expandBraces(pattern);
  const first = train[0]!;
  const remote = isUrl(first);
  const beside = (name: string) => (remote ? new URL(name, first).href : join(dirname(first), name));
  const where = beside(SHARDS_INDEX);
  const hint = `shards need ${SHARDS_INDEX} beside them (fgsgd make-shards writes it)`;
  let text: string;
  try {
    if (remote) {
      const res = await fetch(where);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } else {
      text = await readFile(where, 'utf8');
    }
  } catch (e) {
    throw new Error(`${where}: cannot read the shard index (${(e as Error).message}); ${hint}`);
  }
  let index: ShardsIndex;
  try {
    index = JSON.parse(text) as ShardsIndex;
    if (!Array.isArray(index.classes) || index.classes.length < 2 || !Array.isArray(index.test?.shards)) throw new Error('no class list or test split');
  } catch (e) {
    throw new Error(`${where}: not a shard index (${(e as Error).message}); ${hint}`);
  }
  const names = train.map((l) => l.slice(l.lastIndexOf('/') + 1));
  const whole = names.length === index.train.shards.length && names.every((n, i) => n === index.train.shards[i]);
  return {
    train: split(train),
    test: index.test.shards.length ? split(index.test.shards.map(beside)) : undefined,
    classes: index.classes,
    trainSamples: whole ? index.train.samples : undefined,
  };
}
