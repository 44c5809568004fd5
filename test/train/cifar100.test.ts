/**
 * The `cifar100` pipeline on tiny files written in the CIFAR-100 binary format (coarse label byte,
 * fine label byte, 3072 CHW pixel bytes): a few steps end to end with the fine labels (100
 * classes), frees every tensor; a fine label out of range fails naming the file and the byte.
 */
import t from 'tap';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { tempDir } from '../helpers/tmp.js';
import { assertNoLeak } from '../helpers/leak.js';
import cifar100, { defaults } from '../../pipelines/cifar100.js';
import { PIPELINES } from '../../pipelines/index.js';
import { CIFAR_FILE_NAMES, CIFAR_PIXELS } from '../../src/data/cifar.js';
import type { FitEnd, FitStart, TrainEvent } from '../../src/events.js';

await useBackend('wasm');

const RECORD = 2 + CIFAR_PIXELS;

/** `n` CIFAR-100 records of seeded noise; fine labels spread over 0..99 (99 included). */
function cifar100Bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n * RECORD);
  for (let r = 0; r < n; r++) {
    const fine = r === 0 ? 99 : (r * 37 + seed) % 100;
    out[r * RECORD] = Math.floor(fine / 5); // coarse
    out[r * RECORD + 1] = fine;
    for (let i = 2; i < RECORD; i++) out[r * RECORD + i] = (r * 31 + i * 7 + seed) & 255;
  }
  return out;
}

t.test('cifar100 is a built-in pipeline with 100 classes and a step schedule over the run', async (t) => {
  t.ok(PIPELINES.some((p) => p.name === 'cifar100'));
  t.equal(defaults.numClasses, 100);
  t.match(defaults.optimizer.lr, { name: 'step', lr: 0.1 });
});

t.test('cifar100: binary files in the archive folder, fine labels, augmentation, a few steps', async (t) => {
  const dir = tempDir(t);
  const folder = join(dir, CIFAR_FILE_NAMES.cifar100.folder);
  await mkdir(folder);
  await writeFile(join(folder, 'train.bin'), cifar100Bytes(8, 1));
  await writeFile(join(folder, 'test.bin'), cifar100Bytes(6, 9));
  await assertNoLeak(t, 'cifar100', async () => {
    const events = await lastValueFrom(cifar100({ data: dir, out: join(dir, 'run'), maxSteps: 2, batch: 4, backend: 'wasm' }).pipe(toArray()));
    const start = events.find((e): e is FitStart => e.type === 'fitStart')!;
    t.match(start, { model: 'resnet20', samplesPerEpoch: 50_000, optimizer: /^fgsgd PIO Sp\+Ob\+St\+Euc lr=step\(0\.1\)/ });
    t.match(events.find((e): e is FitEnd => e.type === 'fitEnd'), { reason: 'maxSteps', steps: 2 });
    const ev = events.find((e) => e.type === 'evalEnd') as Extract<TrainEvent, { type: 'evalEnd' }>;
    t.match(ev, { images: 6 });
    t.ok(Number.isFinite(ev.testLoss), 'a finite test loss over 100 classes');
  });
});

t.test('cifar100: a fine label out of range fails naming the file and the byte', async (t) => {
  const dir = tempDir(t);
  const bad = cifar100Bytes(4, 2);
  bad[RECORD * 2 + 1] = 100; // record 2's fine label
  await writeFile(join(dir, 'train.bin'), bad);
  await writeFile(join(dir, 'test.bin'), cifar100Bytes(2, 3));
  await t.rejects(
    lastValueFrom(cifar100({ data: dir, out: join(dir, 'run'), maxSteps: 4, batch: 4, backend: 'wasm' })),
    /train\.bin.*record 2: cifar100 fine label 100 at byte 6149 is out of range 0\.\.99/,
  );
  await t.rejects(lastValueFrom(cifar100({ data: join(dir, 'none'), out: join(dir, 'run2'), backend: 'wasm' })), /no cifar100 train batches/);
});
