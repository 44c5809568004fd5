/**
 * Checkpoint files: round trip, integrity check, atomic replacement; and a run whose loss turns
 * NaN stops with a clear message and keeps its last good checkpoint.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { pipe, lastValueFrom, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { CLASSES, makeSamples, SIDE, tinyNet } from './fixtures.js';
import { TEST, defaults } from './tiny-pipeline.js';
import { checkpointPath, digestOf, readCheckpoint, weightsDigest, writeCheckpoint, type Checkpoint } from '../../src/checkpoint.js';
import { pullable } from '../../src/pull.js';
import { samplesToTensors } from '../../operators/toTensors.js';
import { forwardBackward } from '../../operators/forwardBackward.js';
import { manifoldStep } from '../../operators/manifoldStep.js';
import { evaluate } from '../../operators/evaluate.js';
import { checkpoint } from '../../operators/checkpoint.js';
import { logMetrics } from '../../operators/logMetrics.js';
import { fit } from '../../src/train/fit.js';
import { withSession } from '../../src/train/session.js';
import { runPipeline, sessionOptions, type RunOptions } from '../../src/train/run.js';
import { testBatches } from './fixtures.js';
import type { TrainEvent } from '../../src/events.js';
import { tempDir } from '../helpers/tmp.js';

await useBackend('wasm');

function sample(step: number): Checkpoint {
  const data = Float32Array.from({ length: 50_000 }, (_, i) => Math.sin(i + step));
  return {
    position: { epoch: 1, sampleIndex: 8 * step, step },
    rng: { shuffle: [1, 2, 3, step] },
    run: { options: { seed: 3 } },
    weights: { 'conv1/kernel': { dtype: 'float32', shape: [250, 200], data }, 'fc/bias': { dtype: 'float32', shape: [3], data: Float32Array.of(1, 2, step) } },
    optimizer: {
      config: { optimizer: 'sgd', lr: 0.1, momentum: 0.9 },
      step,
      tensors: { 'fc/bias/momentum': { dtype: 'float32', shape: [3], data: Float32Array.of(0.5, -0.5, step) }, count: { dtype: 'int32', shape: [2], data: Int32Array.of(7, step) } },
      extra: { fgsgd: { iterations: step } },
    },
  };
}

t.test('round trip: every field and byte comes back', async (t) => {
  const dir = tempDir(t);
  const a = sample(3);
  const path = await writeCheckpoint(dir, a);
  t.equal(path, checkpointPath(dir));
  const b = await readCheckpoint(dir);
  t.same(b.position, a.position);
  t.same(b.rng, a.rng);
  t.same(b.run, a.run);
  t.same(b.optimizer.extra, a.optimizer.extra);
  t.equal(digestOf(b.weights), digestOf(a.weights));
  t.same(Array.from(b.optimizer.tensors.count!.data), [7, 3]);
  t.ok(b.optimizer.tensors.count!.data instanceof Int32Array);
  t.same((await readdir(dir)).sort(), ['checkpoint.ckpt'], 'no temporary file left behind');
});

t.test('a damaged file is refused with a reason', async (t) => {
  const dir = tempDir(t);
  await writeCheckpoint(dir, sample(1));
  const bytes = await readFile(checkpointPath(dir));
  bytes[bytes.length - 10] ^= 0xff;
  await writeFile(checkpointPath(dir), bytes);
  await t.rejects(readCheckpoint(dir), /corrupt/);
  await writeFile(checkpointPath(dir), bytes.subarray(0, 5));
  await t.rejects(readCheckpoint(dir), /not an fgsgd checkpoint/);
  await writeCheckpoint(dir, sample(1));
  const good = await readFile(checkpointPath(dir));
  const headerEnd = 12 + good.readUInt32LE(8);
  await writeFile(checkpointPath(dir), good.subarray(0, headerEnd - 3));
  await t.rejects(readCheckpoint(dir), /checkpoint\.ckpt: truncated: the header needs bytes 12\.\.\d+, the file has \d+; the file is damaged/);
  const badJson = Buffer.from(good);
  badJson[13] = 0x7b; // '{' where a key's quote was: the header no longer parses
  await writeFile(checkpointPath(dir), badJson);
  await t.rejects(readCheckpoint(dir), /the header \(bytes 12\.\.\d+\) is not valid JSON/);
  // A header whose tensor table points past the body (the sha256 covers the body only).
  const header = JSON.parse(good.toString('utf8', 12, headerEnd));
  header.tensors[0].bytes += 4;
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(h.byteLength);
  await writeFile(checkpointPath(dir), Buffer.concat([good.subarray(0, 8), len, h, good.subarray(headerEnd)]));
  await t.rejects(readCheckpoint(dir), new RegExp(`tensor '${header.tensors[0].name}' \\(weights, shape`));
  await t.rejects(readCheckpoint(`${dir}/nowhere`), /no checkpoint at/);
});

t.test('atomic: readers see the old or the new checkpoint, never a torn one', async (t) => {
  const dir = tempDir(t);
  await writeCheckpoint(dir, sample(0));
  // A temp file left by a writer killed mid-write changes nothing for readers.
  await writeFile(`${checkpointPath(dir)}.tmp-99999`, 'partial');
  let writing = true;
  const seen = new Set<number>();
  const reader = (async () => {
    while (writing) {
      const c = await readCheckpoint(dir); // throws on a torn file
      t.equal(c.weights['fc/bias']!.data[2], c.position.step, 'a consistent checkpoint');
      seen.add(c.position.step);
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let step = 1; step <= 30; step++) await writeCheckpoint(dir, sample(step));
  writing = false;
  await reader;
  t.ok(seen.size > 1, `readers saw ${seen.size} successive checkpoints`);
  t.equal((await readCheckpoint(dir)).position.step, 30);
});

t.test('NaN loss: the run stops with a clear message and keeps the last good checkpoint', async (t) => {
  const dir = tempDir(t);
  const train = makeSamples(96);
  /** Batch 7 (step 7) is all +Infinity: Inf − Inf in the layers makes the loss NaN. */
  const poisoned = () =>
    pullable(async function* () {
      for (let i = 0; i < train.length; i += 8) {
        const b = samplesToTensors(train.slice(i, i + 8));
        if (i / 8 === 6) {
          const x = b.x;
          b.x = tf.fill(x.shape, Infinity) as tf.Tensor4D;
          x.dispose();
        }
        yield b;
      }
    }, (b) => tf.dispose([b.x, b.y]));
  const pipeline = (o: RunOptions) =>
    withSession({ ...sessionOptions(o, defaults), backend: null }, (s) =>
      fit({
        session: s,
        batches: poisoned,
        step: pipe(forwardBackward({ model: s.model }), manifoldStep({ optimizer: s.optimizer })),
      }).pipe(
        evaluate({ model: s.model, batches: testBatches(TEST) }),
        checkpoint({ dir: o.out, capture: (p) => s.capture(p), every: { steps: 2 } }),
        logMetrics({ dir: o.out }),
      ),
    );
  await assertNoLeak(t, 'NaN run', async () => {
    const events: TrainEvent[] = await lastValueFrom(pipeline({ out: dir, seed: 1 }).pipe(toArray()));
    const nan = events.find((e) => e.type === 'lossNonFinite');
    t.match(nan, { type: 'lossNonFinite', step: 7, epoch: 0 });
    t.match(events.at(-1), { type: 'fitEnd', reason: 'nonFiniteLoss', steps: 6, message: /non-finite.*last good checkpoint is kept/ });
    t.notOk(events.some((e) => e.type === 'batchEnd' && e.step > 6), 'nothing trained after the NaN');
    t.notOk(events.some((e) => e.type === 'evalEnd'), 'no evaluation of a failed run');
    const ckpt = await readCheckpoint(dir);
    t.same(ckpt.position, { epoch: 0, sampleIndex: 48, step: 6 }, 'the last good checkpoint (step 6) is kept');
    t.ok(Object.values(ckpt.weights).every((w) => w.data.every(Number.isFinite)), 'its weights are finite');
    const end = events.at(-1) as Extract<TrainEvent, { type: 'fitEnd' }>;
    t.equal(end.weightsDigest, digestOf(ckpt.weights), 'the NaN step was not applied');

    const { summary, exitCode } = await runPipeline(pipeline, { out: `${dir}/cli`, seed: 1, pipeline: 'poisoned' });
    t.equal(exitCode, 1, 'a failed run');
    t.equal(summary.reason, 'nonFiniteLoss');
    t.match(summary.message, /loss became non-finite/);
  });
});

t.test('weightsDigest depends on every weight and on nothing else', async (t) => {
  const a = tinyNet({ inputShape: [SIDE, SIDE, 1], numClasses: CLASSES, seed: 1 });
  const b = tinyNet({ inputShape: [SIDE, SIDE, 1], numClasses: CLASSES, seed: 1 });
  t.equal(await weightsDigest(a), await weightsDigest(b), 'same seed, same digest (variable names differ)');
  const [kernel, bias] = b.getLayer('fc').getWeights();
  const nudged = tf.add(bias!, 1e-6);
  b.getLayer('fc').setWeights([kernel!, nudged]);
  nudged.dispose();
  t.not(await weightsDigest(a), await weightsDigest(b));
  a.dispose();
  b.dispose();
});
