/**
 * Checkpoints that lose minutes, never a run: `--checkpoint-every` in steps or as a duration
 * (default 5m), the previous checkpoint kept until the new one is durable, a damaged latest
 * checkpoint falling back to the previous one with a warning naming both, and a disk fault (ENOSPC,
 * EIO) injected through the file layer leaving the previous checkpoint intact and stopping the run
 * with a message that names the directory.
 */
import t from 'tap';
import { lastValueFrom, toArray } from 'rxjs';
import { readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FileLayer } from '../../src/atomic.js';
import {
  checkpointPath,
  DEFAULT_CHECKPOINT_EVERY,
  parseCheckpointEvery,
  previousCheckpointPath,
  readCheckpoint,
  readLatestCheckpoint,
  writeCheckpoint,
  type Checkpoint,
} from '../../src/checkpoint.js';
import { pullable } from '../../src/pull.js';
import { checkpoint } from '../../operators/checkpoint.js';
import type { BatchEnd, Position, TrainEvent } from '../../src/events.js';
import { tempDir } from '../helpers/tmp.js';

const snapshot = (position: Position): Checkpoint => ({
  position,
  rng: {},
  run: { note: `step ${position.step}` },
  weights: { w: { dtype: 'float32', shape: [2], data: Float32Array.from([position.step, 1]) } },
  optimizer: { config: { optimizer: 'sgd', lr: 0.1, momentum: 0 }, step: position.step, tensors: {} },
});
const at = (step: number): Position => ({ epoch: 0, sampleIndex: step * 8, step });
const batchEnd = (step: number): BatchEnd => ({
  type: 'batchEnd', epoch: 0, step, sampleIndex: step * 8, loss: 1, accuracy: 0.5, lr: 0.1, images: 8, stallMs: 0, stepMs: 1, updateMs: 0,
});

t.test('--checkpoint-every: steps or a duration; the default is 5 minutes', async (t) => {
  t.same(parseCheckpointEvery('500'), { steps: 500 });
  t.same(parseCheckpointEvery(7), { steps: 7 }, 'a number (older checkpoints recorded one)');
  t.same(parseCheckpointEvery('30s'), { seconds: 30 });
  t.same(parseCheckpointEvery('5m'), { seconds: 300 });
  t.same(parseCheckpointEvery('1h'), { seconds: 3600 });
  t.same(parseCheckpointEvery('0.5s'), { seconds: 0.5 });
  t.same(parseCheckpointEvery(DEFAULT_CHECKPOINT_EVERY), { seconds: 300 });
  for (const bad of ['0', '0s', '5x', '-1', '', '1.5', 'm']) t.throws(() => parseCheckpointEvery(bad), /--checkpoint-every must be a number of steps .* or a duration/, `'${bad}' refused`);
});

t.test('a timed checkpoint is written at the first step boundary after the interval', async (t) => {
  const dir = tempDir(t);
  let clock = 0;
  // Step i arrives at 100·i ms; every 250 ms: saved after steps 3 (300 ms) and 6 (600 − 300 ≥ 250).
  const events = pullable<TrainEvent>(async function* () {
    for (let i = 1; i <= 7; i++) {
      clock = 100 * i;
      yield batchEnd(i);
    }
  });
  const out = await lastValueFrom(events.pipe(checkpoint({ dir, capture: snapshot, every: { seconds: 0.25 }, now: () => clock }), toArray()));
  const saved = out.filter((e) => e.type === 'checkpointSaved').map((e) => (e as { position: Position }).position.step);
  t.same(saved, [3, 6]);
  const none = await lastValueFrom(
    pullable<TrainEvent>(async function* () {
      yield* [batchEnd(1), batchEnd(2)];
    }).pipe(checkpoint({ dir: tempDir(t), capture: snapshot }), toArray()),
  );
  t.notOk(none.some((e) => e.type === 'checkpointSaved'), 'the control: without `every`, no checkpoint between epoch ends');
});

t.test('the previous checkpoint is kept beside the latest', async (t) => {
  const dir = tempDir(t);
  await writeCheckpoint(dir, snapshot(at(1)));
  t.notOk(existsSync(previousCheckpointPath(dir)), 'none before the second checkpoint');
  await writeCheckpoint(dir, snapshot(at(2)));
  await writeCheckpoint(dir, snapshot(at(3)));
  t.equal((await readCheckpoint(checkpointPath(dir))).position.step, 3, 'latest');
  t.equal((await readCheckpoint(previousCheckpointPath(dir))).position.step, 2, 'previous');
  t.same((await readdir(dir)).sort(), ['checkpoint.ckpt', 'checkpoint.prev.ckpt'], 'no temporary files left');
});

t.test('a damaged or missing latest checkpoint falls back to the previous one, with a warning naming both', async (t) => {
  const dir = tempDir(t);
  await writeCheckpoint(dir, snapshot(at(4)));
  await writeCheckpoint(dir, snapshot(at(5)));
  const fine = await readLatestCheckpoint(dir);
  t.equal(fine.checkpoint.position.step, 5);
  t.equal(fine.warning, undefined, 'the control: no warning when the latest is whole');

  const latest = checkpointPath(dir);
  const size = (await readFile(latest)).byteLength;
  await truncate(latest, size - 10);
  const r = await readLatestCheckpoint(dir);
  t.equal(r.checkpoint.position.step, 4, 'truncated: the previous checkpoint');
  t.equal(r.path, previousCheckpointPath(dir));
  t.match(r.warning, new RegExp(`${latest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be used .*(sha256|truncated).*previous checkpoint, .*checkpoint\\.prev\\.ckpt \\(step 4\\)`));

  await rm(latest);
  t.equal((await readLatestCheckpoint(dir)).checkpoint.position.step, 4, 'missing (a crash between the renames): the previous one');

  await writeFile(previousCheckpointPath(dir), 'garbage');
  await t.rejects(readLatestCheckpoint(dir), /no checkpoint at .*checkpoint\.ckpt/, 'neither readable: the latest one’s error');
});

/** A file layer whose writes fail with `code` after part of the data went out. */
function failing(code: 'ENOSPC' | 'EIO'): FileLayer {
  return {
    async open() {
      return {
        writev: async () => {
          throw Object.assign(new Error(`${code === 'ENOSPC' ? 'no space left on device' : 'i/o error'}, write`), { code });
        },
        sync: async () => undefined,
        close: async () => undefined,
      } as unknown as Awaited<ReturnType<FileLayer['open']>>;
    },
  };
}

for (const code of ['ENOSPC', 'EIO'] as const) {
  t.test(`${code} during a checkpoint write: the checkpoints on disk are untouched, and the run stops naming the directory`, async (t) => {
    const dir = tempDir(t);
    await writeCheckpoint(dir, snapshot(at(1)));
    await writeCheckpoint(dir, snapshot(at(2)));
    const before = [await readFile(checkpointPath(dir)), await readFile(previousCheckpointPath(dir))];
    await t.rejects(writeCheckpoint(dir, snapshot(at(3)), failing(code)), { code });
    t.same([await readFile(checkpointPath(dir)), await readFile(previousCheckpointPath(dir))], before, 'latest and previous unchanged');
    t.same((await readdir(dir)).sort(), ['checkpoint.ckpt', 'checkpoint.prev.ckpt'], 'no temporary file left');

    // Through the operator: the save at step 4 fails after the one at step 2 succeeded.
    const ops = tempDir(t);
    let fail = false;
    const io: FileLayer = { open: (p, f) => (fail ? failing(code).open(p, f) : import('node:fs/promises').then((fs) => fs.open(p, f))) };
    const events = pullable<TrainEvent>(async function* () {
      yield batchEnd(1);
      yield batchEnd(2);
      fail = true;
      yield batchEnd(3);
      yield batchEnd(4);
    });
    await t.rejects(
      lastValueFrom(events.pipe(checkpoint({ dir: ops, capture: snapshot, every: { steps: 2 }, io }), toArray())),
      new RegExp(`checkpoint: cannot write to ${ops.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(${code}: .*the previous checkpoint there \\(step 2\\) is intact.*--resume`),
    );
    t.equal((await readCheckpoint(ops)).position.step, 2, 'and it can be resumed from');
  });
}
