import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { idxPaths } from '../../src/data/idx.js';
import { Rng } from '../../src/random.js';
import { readIdx } from '../../operators/readIdx.js';
import { balancedIndices } from '../../data/make_subset.js';
import { collect } from './fixtures.js';

const DIR = fileURLToPath(new URL('../../data/fashion-mnist-subset/', import.meta.url));

t.test('the embedded Fashion-MNIST subset: sizes, balance, licence, manifest', async (t) => {
  const manifest = JSON.parse(await readFile(join(DIR, 'manifest.json'), 'utf8'));
  let total = 0;
  for (const f of await readdir(DIR)) total += (await stat(join(DIR, f))).size;
  t.ok(total <= 5_000_000, `${total} bytes ≤ 5 MB`);
  t.match(await readFile(join(DIR, 'LICENSE'), 'utf8'), /Zalando SE[\s\S]*Permission is hereby granted/);
  for (const [name, info] of Object.entries<{ sha256: string }>(manifest.files)) {
    t.equal(createHash('sha256').update(await readFile(join(DIR, name))).digest('hex'), info.sha256, `${name} matches the manifest`);
  }
  for (const [split, n] of [['train', 9000], ['test', 2000]] as const) {
    const samples = await collect(readIdx(await idxPaths(DIR, split)));
    t.equal(samples.length, n, `${split}: ${n} examples`);
    const counts = Array(10).fill(0);
    for (const s of samples) counts[s.label]++;
    t.same(counts, Array(10).fill(n / 10), `${split}: class-balanced`);
    t.same(samples[0]!.shape, [28, 28, 1]);
    let sum = 0;
    for (const s of samples.slice(0, 100)) for (const v of s.image) sum += v;
    const mean = sum / (100 * 784);
    t.ok(mean > 30 && mean < 120, `real images, not blanks (mean pixel ${mean.toFixed(1)})`);
  }
});

t.test('balancedIndices: per class, seeded, in file order', async (t) => {
  const labels = Array.from({ length: 200 }, (_, i) => i % 10);
  const a = balancedIndices(labels, 5, Rng.create(1, 's'));
  t.equal(a.length, 50);
  t.same(a, [...a].sort((x, y) => x - y));
  t.same(a, balancedIndices(labels, 5, Rng.create(1, 's')));
  t.notSame(a, balancedIndices(labels, 5, Rng.create(2, 's')));
  t.throws(() => balancedIndices(labels, 21, Rng.create(1)), /fewer than 21/);
});
