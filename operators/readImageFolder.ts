import { join } from 'node:path';
import { IMAGE_EXTENSIONS, listClasses, listClassFiles } from '../src/data/image_folder.js';
import { pullable, type PullObservable } from '../src/pull.js';
import type { EncodedSample } from '../src/data/types.js';

export interface ReadImageFolderOptions {
  /** Folder with one sub-folder of images per class. */
  root: string;
  /**
   * Class names in id order. Default: the sub-folders of `root`, sorted. Pass the training set's
   * list when reading a test folder, so that ids agree even if a class is missing there.
   */
  classes?: readonly string[];
  /** File extensions to list (default: {@link IMAGE_EXTENSIONS}). */
  extensions?: readonly string[];
}

/**
 * Source: the image files of an image folder as `EncodedSample`s with `path` set, class by class
 * (ids in `classes` order), files sorted within a class. Nothing is read but directory listings:
 * pipe into `decodeImages`, and `shuffle` first (buffered items are just paths, so a buffer as
 * large as the dataset is cheap, and it is needed because classes come one after another).
 *
 * Pull-driven (see `src/data/README.md`): one class folder is listed at a time. Creates no tensors.
 *
 * @example
 * ```ts
 * readImageFolder({ root: 'data/pets/train' }).pipe(
 *   shuffle({ bufferSize: 50_000, seed }),
 *   decodeImages({ concurrent: 4, size: [64, 64], channels: 3, skipped }),
 *   batch({ size: 32 }),
 *   toTensors(),
 *   prefetch({ size: 2 }),
 * );
 * ```
 */
export function readImageFolder(options: ReadImageFolderOptions): PullObservable<EncodedSample> {
  const { root, extensions = IMAGE_EXTENSIONS } = options;
  return pullable<EncodedSample>(async function* (signal) {
    const classes = options.classes ?? (await listClasses(root));
    for (let label = 0; label < classes.length; label++) {
      const name = classes[label]!;
      const dir = join(root, name);
      for (const file of await listClassFiles(dir, extensions)) {
        if (signal.aborted) return;
        const path = join(dir, file);
        yield { key: `${name}/${file}`, label, path, source: path };
      }
    }
  });
}
