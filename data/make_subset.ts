/**
 * Build the embedded Fashion-MNIST subset in `data/fashion-mnist-subset/` from the real data:
 * class-balanced, seeded, gzipped IDX files in the originals' format and names, plus the licence.
 *
 *   npx tsx data/make_subset.ts                       # Debian's dataset-fashion-mnist (apt-get download, no root)
 *   npx tsx data/make_subset.ts --from data/full/fashion-mnist   # or a folder with the four original files
 *
 * Options: --train N (per split total, a multiple of 10), --test N, --seed S, --out DIR.
 * The output is deterministic: the same sources, sizes and seed give byte-identical files.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { idxPaths, readIdxFile, writeIdxFile, IDX_FILE_NAMES, type IdxArray } from '../src/data/idx.js';
import { Rng } from '../src/random.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLASSES = 10;
const DEBIAN_PACKAGE = 'dataset-fashion-mnist';
const DEBIAN_DATA_DIR = 'usr/share/datasets/fashion-mnist';
const DEBIAN_COPYRIGHT = `usr/share/doc/${DEBIAN_PACKAGE}/copyright`;
/** The repository's size budget for the embedded data (5 MB, SI). */
const MAX_TOTAL_BYTES = 5_000_000;

/** Extract the Debian package into a temp dir; returns the dir and the package version. */
async function fromDebian(): Promise<{ dir: string; copyright: string; origin: string; cleanup: () => Promise<void> }> {
  const tmp = await mkdtemp(join(tmpdir(), 'fashion-mnist-'));
  try {
    execFileSync('apt-get', ['download', DEBIAN_PACKAGE], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(
      `'apt-get download ${DEBIAN_PACKAGE}' failed (${(e as Error).message.split('\n')[0]}). ` +
        `On a machine without apt, run 'npm run data:fashion-mnist' and then this script with --from data/full/fashion-mnist.`,
    );
  }
  const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download left no .deb in ${tmp}`);
  execFileSync('dpkg', ['-x', deb, 'x'], { cwd: tmp });
  return {
    dir: join(tmp, 'x', DEBIAN_DATA_DIR),
    copyright: join(tmp, 'x', DEBIAN_COPYRIGHT),
    origin: `Debian package ${deb}`,
    cleanup: () => rm(tmp, { recursive: true, force: true }),
  };
}

/** Indices of a class-balanced sample: `perClass` of each class, drawn with `rng`, in file order. */
export function balancedIndices(labels: ArrayLike<number>, perClass: number, rng: Rng): number[] {
  const byClass: number[][] = Array.from({ length: CLASSES }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const picked: number[] = [];
  byClass.forEach((indices, c) => {
    if (indices.length < perClass) throw new Error(`class ${c} has ${indices.length} examples, fewer than ${perClass}`);
    picked.push(...rng.shuffled(indices).slice(0, perClass));
  });
  return picked.sort((a, b) => a - b);
}

function take(images: IdxArray, labels: IdxArray, indices: number[]): { images: IdxArray; labels: IdxArray } {
  const [, h, w] = images.shape as [number, number, number];
  const per = h * w;
  const img = new Uint8Array(indices.length * per);
  const lab = new Uint8Array(indices.length);
  indices.forEach((src, i) => {
    img.set(images.data.subarray(src * per, (src + 1) * per) as Uint8Array, i * per);
    lab[i] = labels.data[src]!;
  });
  return {
    images: { dtype: 'uint8', shape: [indices.length, h, w], data: img },
    labels: { dtype: 'uint8', shape: [indices.length], data: lab },
  };
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      from: { type: 'string' },
      out: { type: 'string', default: join(HERE, 'fashion-mnist-subset') },
      train: { type: 'string', default: '9000' },
      test: { type: 'string', default: '2000' },
      seed: { type: 'string', default: '2017' },
    },
  });
  const sizes = { train: Number(args.train), test: Number(args.test) };
  const seed = Number(args.seed);
  for (const [split, n] of Object.entries(sizes)) {
    if (!Number.isInteger(n) || n <= 0 || n % CLASSES !== 0) throw new Error(`--${split} must be a positive multiple of ${CLASSES}`);
  }
  const source = args.from
    ? { dir: args.from, copyright: join(args.from, 'LICENSE'), origin: `folder ${args.from}`, cleanup: async () => undefined }
    : await fromDebian();
  try {
    const out = args.out!;
    await mkdir(out, { recursive: true });
    const manifest: Record<string, unknown> = {
      description: 'Class-balanced, seeded subset of Fashion-MNIST (Zalando Research), same IDX format as the originals.',
      origin: source.origin,
      seed,
      files: {} as Record<string, { examples: number; perClass: number; bytes: number; sha256: string }>,
    };
    for (const split of ['train', 'test'] as const) {
      const paths = await idxPaths(source.dir, split);
      const [images, labels] = await Promise.all([readIdxFile(paths.images), readIdxFile(paths.labels)]);
      const perClass = sizes[split] / CLASSES;
      // One generator per split, so that changing --test never changes the training subset.
      const indices = balancedIndices(labels.data, perClass, Rng.create(seed, `fashion-mnist-subset/${split}`));
      const subset = take(images, labels, indices);
      for (const kind of ['images', 'labels'] as const) {
        const file = join(out, `${IDX_FILE_NAMES[split][kind]}.gz`);
        await writeIdxFile(file, subset[kind], { gzip: true });
        const bytes = await readFile(file);
        (manifest.files as Record<string, unknown>)[`${IDX_FILE_NAMES[split][kind]}.gz`] = {
          examples: indices.length,
          perClass,
          bytes: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
        };
      }
    }
    await copyFile(source.copyright, join(out, 'LICENSE'));
    await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    let total = 0;
    for (const f of await readdir(out)) total += (await stat(join(out, f))).size;
    console.log(`wrote ${out}: ${sizes.train} train + ${sizes.test} test examples, ${total} bytes, seed ${seed}`);
    if (total > MAX_TOTAL_BYTES) {
      throw new Error(`the subset takes ${total} bytes, over the ${MAX_TOTAL_BYTES}-byte budget: use smaller --train/--test`);
    }
  } finally {
    await source.cleanup();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(`make_subset: ${(e as Error).message}`);
    process.exit(1);
  });
}
