/**
 * Image folders in torchvision's `ImageFolder` layout: `root/<class name>/**\/<image file>`.
 * Class ids are the positions of the class names sorted by code unit (not locale), so the same
 * folder gives the same ids on every machine. Files are listed per class, sorted, and never read
 * here: `decodeImages` reads each file when it is pulled.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, extname } from 'node:path';
import { DataFormatError } from './errors.js';

/** Extensions listed by default: formats the prebuilt sharp decodes. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.svg'] as const;

/** Code-unit order: stable across locales, unlike `localeCompare`. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The class names under `root`: its sub-folders (hidden ones skipped), sorted. */
export async function listClasses(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    throw new DataFormatError(root, `cannot list the image folder (${(e as Error).message}); check --data`, undefined, { cause: e });
  }
  const classes = entries.filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort(byCodeUnit);
  if (classes.length === 0) {
    throw new DataFormatError(root, 'no class sub-folders: an image folder holds one sub-folder of images per class');
  }
  return classes;
}

/**
 * The image files of one class folder, relative to it, recursively, sorted; hidden files and
 * other extensions skipped.
 */
export async function listClassFiles(classDir: string, extensions: readonly string[] = IMAGE_EXTENSIONS): Promise<string[]> {
  const wanted = new Set(extensions.map((e) => e.toLowerCase()));
  let names: string[];
  try {
    if (!(await stat(classDir)).isDirectory()) throw new Error('not a directory');
    names = await readdir(classDir, { recursive: true });
  } catch (e) {
    throw new DataFormatError(classDir, `cannot list class folder (${(e as Error).message})`, undefined, { cause: e });
  }
  return names
    .filter((n) => !n.split(/[\\/]/).some((part) => part.startsWith('.')))
    .filter((n) => wanted.has(extname(n).toLowerCase()))
    .sort(byCodeUnit);
}

export function classDir(root: string, name: string): string {
  return join(root, name);
}
