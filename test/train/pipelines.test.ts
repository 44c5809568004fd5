/**
 * The built-in pipelines on tiny data written in their formats: each runs a few steps end to end
 * (data → steps → evaluation → checkpoint → metrics) and frees every tensor.
 */
import t from 'tap';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { lastValueFrom, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import cifar10 from '../../pipelines/cifar10.js';
import imageFolder from '../../pipelines/image-folder.js';
import defaultPipeline from '../../pipelines/default.js';
import { PIPELINES } from '../../pipelines/index.js';
import { CIFAR_FILE_NAMES, CIFAR_PIXELS } from '../../src/data/cifar.js';
import type { EvalEnd, FitEnd, TrainEvent } from '../../src/events.js';
import { runPipeline } from '../../src/train/run.js';
import { readMetrics } from '../../src/report.js';
import { readdirSync } from 'node:fs';
import { tempDir } from '../helpers/tmp.js';

import { summarize } from '../../src/train/summary.js';

await useBackend('wasm');

const fitEnd = (events: TrainEvent[]) => events.find((e): e is FitEnd => e.type === 'fitEnd')!;

/** `n` CIFAR-10 records (label byte + 3072 CHW bytes) of seeded noise. */
function cifarBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n * (1 + CIFAR_PIXELS));
  for (let r = 0; r < n; r++) {
    out[r * (1 + CIFAR_PIXELS)] = (r + seed) % 10;
    for (let i = 1; i <= CIFAR_PIXELS; i++) out[r * (1 + CIFAR_PIXELS) + i] = (r * 31 + i * 7 + seed) & 255;
  }
  return out;
}

t.test('every pipeline file is listed in the registry, names unique', async (t) => {
  // index.ts is the registry itself; evaluate.ts is `fgsgd evaluate`'s composition, not a training pipeline.
  const files = readdirSync('pipelines').filter((f) => f.endsWith('.ts') && f !== 'index.ts' && f !== 'evaluate.ts').map((f) => f.replace(/\.ts$/, ''));
  t.same(PIPELINES.map((p) => p.name).sort(), files.sort());
  t.equal(new Set(PIPELINES.map((p) => p.name)).size, PIPELINES.length);
});

t.test('cifar10: binary batches, augmentation, resnet20, a few steps', async (t) => {
  const dir = tempDir(t);
  for (const [i, name] of CIFAR_FILE_NAMES.cifar10.train.entries()) await writeFile(join(dir, name), cifarBytes(4, i));
  await writeFile(join(dir, CIFAR_FILE_NAMES.cifar10.test[0]), cifarBytes(6, 9));
  await assertNoLeak(t, 'cifar10', async () => {
    const events = await lastValueFrom(cifar10({ data: dir, out: join(dir, 'run'), maxSteps: 2, batch: 4, backend: 'wasm' }).pipe(toArray()));
    t.match(fitEnd(events), { reason: 'maxSteps', steps: 2 });
    t.match(events.find((e) => e.type === 'evalEnd'), { images: 6 });
  });
});

async function writeClasses(root: string, perClass: number): Promise<void> {
  for (const cls of ['cat', 'dog']) {
    await mkdir(join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(40 * 40 * 3, cls === 'cat' ? 30 + i : 200 - i);
      await sharp(px, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(join(root, cls, `${i}.png`));
    }
  }
}

t.test('image-folder with train/ and test/: unreadable images skipped and counted, in both splits', async (t) => {
  const dir = tempDir(t);
  await writeClasses(join(dir, 'train'), 8);
  await writeClasses(join(dir, 'test'), 2);
  await writeFile(join(dir, 'train', 'dog', 'broken.png'), 'not a png');
  await writeFile(join(dir, 'test', 'cat', 'broken.png'), 'not a png either');
  await assertNoLeak(t, 'image-folder', async () => {
    const events = await lastValueFrom(imageFolder({ data: dir, out: join(dir, 'run'), epochs: 2, batch: 4, backend: 'wasm' }).pipe(toArray()));
    const end = fitEnd(events);
    t.match(end, { reason: 'completed', epochs: 2, steps: 8, skippedSamples: 1 });
    t.match(events.filter((e) => e.type === 'epochEnd'), [{ images: 16, skippedSamples: 1 }, { images: 16, skippedSamples: 1 }]);
    t.match(events.find((e) => e.type === 'evalEnd'), { images: 4, skippedSamples: 1 });
    const summary = summarize(events, undefined, 'image-folder');
    t.equal(summary.skippedSamples, 2, 'summary.json counts the unreadable images of both splits');
    t.same(summary.skippedSamplesBySplit, { train: 1, test: 1 });
  });
  const strict = imageFolder({ data: dir, out: join(dir, 'run-strict'), epochs: 1, batch: 4, backend: 'wasm', strict: true });
  await t.rejects(lastValueFrom(strict), /broken\.png/, '--strict fails on the unreadable image');
});

t.test('image-folder without a test folder holds one image in ten out', async (t) => {
  const dir = tempDir(t);
  // The run's output sits beside the data, not in it (a folder there would be a class).
  await writeClasses(join(dir, 'data'), 10);
  const events = await lastValueFrom(imageFolder({ data: join(dir, 'data'), out: join(dir, 'run'), epochs: 1, batch: 4, backend: 'wasm' }).pipe(toArray()));
  const ev = events.find((e) => e.type === 'evalEnd') as Extract<TrainEvent, { type: 'evalEnd' }>;
  const trained = events.filter((e) => e.type === 'batchEnd').reduce((n, e) => n + (e as { images: number }).images, 0);
  t.equal(trained + ev.images, 20, 'every image is either trained on or held out');
  t.ok(ev.images > 0 && ev.images < 6, `${ev.images} held out for testing`);
});

t.test('default: the embedded subset, two steps', async (t) => {
  await assertNoLeak(t, 'default', async () => {
    const events = await lastValueFrom(defaultPipeline({ out: tempDir(t), maxSteps: 2, batch: 16, backend: 'wasm' }).pipe(toArray()));
    t.match(events[0], { type: 'fitStart', samplesPerEpoch: 9000, model: 'cnn-small', optimizer: /^fgsgd PIO Sp\+Ob\+St\+Euc lr=cosine\(0\.1\)/ });
    t.match(fitEnd(events), { reason: 'maxSteps', steps: 2 });
    t.match(events.find((e) => e.type === 'evalEnd'), { images: 2000 });
  });
});

t.test('default with --validation: the last N training images held out and evaluated', async (t) => {
  const out = tempDir(t);
  const { summary } = await assertNoLeak(t, 'default --validation', () =>
    runPipeline(defaultPipeline, { pipeline: 'default', out, validation: 1000, maxSteps: 2, batch: 16, backend: 'wasm', progress: false }),
  );
  const events = await readMetrics(join(out, 'metrics.jsonl'));
  t.match(events[0], { type: 'fitStart', samplesPerEpoch: 8000 }, 'trains on 9000 − 1000 images');
  const evals = events.filter((e): e is EvalEnd => e.type === 'evalEnd');
  t.match(evals.find((e) => e.split === 'validation'), { images: 1000 });
  t.match(evals.find((e) => e.split === 'test'), { images: 2000, deadChannels: { layer: 'conv1', channels: 32, dead: Number } });
  const saved = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
  t.match(saved, { reason: 'maxSteps', validationAccuracy: Number, validationLoss: Number, testAccuracy: Number, deadChannels: { layer: 'conv1', channels: 32 } });
  t.equal(saved.testAccuracy, evals.find((e) => e.split === 'test')!.testAccuracy, 'testAccuracy is the test set’s');
  t.equal(saved.validationAccuracy, evals.find((e) => e.split === 'validation')!.testAccuracy);
  t.same(summary.validationAccuracy, saved.validationAccuracy);
  const all = lastValueFrom(defaultPipeline({ out: tempDir(t), validation: 9000, maxSteps: 1, backend: 'wasm' }));
  await t.rejects(all, /--validation 9000: must be less than the 9000 training images/, 'N ≥ n is refused, naming the option and the sizes');
  t.throws(() => cifar10({ data: out, out, validation: 10 }), /pipeline 'cifar10' does not support --validation/);
  t.throws(() => imageFolder({ data: out, out, validation: 10 }), /pipeline 'image-folder' does not support --validation/);
});
