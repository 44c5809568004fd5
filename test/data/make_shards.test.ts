/**
 * `fgsgd make-shards` and training from shards over HTTP: brace patterns, shards from an IDX
 * dataset (pixels round-trip through PNG) and from an image folder, then the image pipeline
 * reading them from a server on 127.0.0.1, every sample counted exactly once.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { lastValueFrom, toArray } from 'rxjs';
import { expandBraces, makeShards, SHARDS_INDEX } from '../../src/data/make_shards.js';
import { readTarShards } from '../../operators/readTarShards.js';
import { readIdxFile } from '../../src/data/idx.js';
import { locateIdx } from '../../src/train/datasets.js';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { tempDir } from '../helpers/tmp.js';
import imageFolder from '../../pipelines/image-folder.js';
import type { EvalEnd, FitEnd, TrainEvent } from '../../src/events.js';
import { collect } from './fixtures.js';

await useBackend('wasm');

t.test('brace patterns: zero-padded ranges and lists, left to right', async (t) => {
  t.same(expandBraces('a/train-{0000..0002}.tar'), ['a/train-0000.tar', 'a/train-0001.tar', 'a/train-0002.tar']);
  t.same(expandBraces('{x,y}-{8..10}.tar'), ['x-8.tar', 'x-9.tar', 'x-10.tar', 'y-8.tar', 'y-9.tar', 'y-10.tar']);
  t.same(expandBraces('plain.tar'), ['plain.tar']);
  t.throws(() => expandBraces('t-{5..2}.tar'), /runs backwards/);
  t.throws(() => expandBraces('t-{abc}.tar'), /neither a range/);
});

t.test('shards of an IDX dataset: every sample, its label, and its pixels through PNG', async (t) => {
  const out = tempDir(t);
  const r = await makeShards('data/fashion-mnist-subset', out, 4000);
  t.same([r.train.samples, r.test.samples], [9000, 2000]);
  t.same(r.train.shards, ['train-0000.tar', 'train-0001.tar', 'train-0002.tar']);
  t.equal(r.patterns.train, join(out, 'train-{0000..0002}.tar'));
  const index = JSON.parse(await readFile(join(out, SHARDS_INDEX), 'utf8'));
  t.same(index.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const samples = await collect(readTarShards({ paths: expandBraces(r.patterns.train) }));
  t.equal(samples.length, 9000, 'all training samples, once');
  const { train } = await locateIdx('data/fashion-mnist-subset');
  const [img, lab] = await Promise.all([readIdxFile(train.images), readIdxFile(train.labels)]);
  for (const i of [0, 4321, 8999]) {
    const s = samples[i]!;
    t.equal(s.label, lab.data[i], `sample ${i}: label`);
    t.equal((await sharp(Buffer.from(s.bytes!)).metadata()).channels, 1, `sample ${i}: a one-channel PNG`);
    const px = await sharp(Buffer.from(s.bytes!)).extractChannel(0).raw().toBuffer();
    t.same(new Uint8Array(px), img.data.subarray(i * 784, (i + 1) * 784), `sample ${i}: pixels`);
  }
});

t.test('make-shards of an image folder, served over HTTP, trained by the image pipeline: samples counted exactly', async (t) => {
  const dir = tempDir(t);
  for (const [split, per] of [['train', 7], ['test', 3]] as const) {
    for (const cls of ['cat', 'dog']) {
      await mkdir(join(dir, 'images', split, cls), { recursive: true });
      for (let i = 0; i < per; i++) {
        const px = Buffer.alloc(20 * 20 * 3, cls === 'cat' ? 40 + 5 * i : 210 - 5 * i);
        await sharp(px, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(join(dir, 'images', split, cls, `${i}.png`));
      }
    }
  }
  const shards = join(dir, 'shards');
  const r = await makeShards(join(dir, 'images'), shards, 5);
  t.same(r.classes, ['cat', 'dog']);
  t.same([r.train.samples, r.train.shards.length, r.test.samples, r.test.shards.length], [14, 3, 6, 2]);

  const server = createServer(async (req, res) => {
    try {
      const body = await readFile(join(shards, decodeURIComponent(new URL(req.url!, 'http://x').pathname)));
      res.writeHead(200, { 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  await assertNoLeak(t, 'shards over HTTP', async () => {
    const events: TrainEvent[] = await lastValueFrom(
      imageFolder({ data: `http://127.0.0.1:${port}/train-{0000..0002}.tar`, out: join(dir, 'run'), epochs: 2, batch: 4, model: 'cnn-small', backend: 'wasm' }).pipe(toArray()),
    );
    t.match(events[0], { type: 'fitStart', samplesPerEpoch: 14 }, 'the index gives the sample count');
    const end = events.find((e): e is FitEnd => e.type === 'fitEnd')!;
    t.match(end, { reason: 'completed', epochs: 2, images: 28, skippedSamples: 0 }, 'every training sample, once per epoch');
    const evals = events.filter((e): e is EvalEnd => e.type === 'evalEnd');
    t.ok(evals.length > 0 && evals.every((e) => e.images === 6), 'the test shards, all 6 samples, at each evaluation');
  });
  await t.rejects(lastValueFrom(imageFolder({ data: `http://127.0.0.1:${port}/nothing/train-{0..1}.tar`, out: join(dir, 'run2'), backend: 'wasm' })), /nothing\/shards\.json: cannot read the shard index \(HTTP 404\)/);
});
