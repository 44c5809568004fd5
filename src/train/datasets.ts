/**
 * Finding a dataset's files before a pipeline starts, and what is worth knowing up front (sample
 * counts for the progress bar, class names). Pipelines call these in their prelude; nothing here
 * reads the data itself or creates tensors.
 */
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
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
  const [train, test] = await Promise.all([idxPaths(dir, 'train'), idxPaths(dir, 'test')]);
  const labels = await readIdxFile(train.labels);
  return { train, test, trainSamples: labels.shape[0]! };
}

export interface CifarDataset {
  train: string[];
  test: string[];
}

export async function locateCifar(dir: string): Promise<CifarDataset> {
  const [train, test] = await Promise.all([cifarPaths(dir, 'train'), cifarPaths(dir, 'test')]);
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
