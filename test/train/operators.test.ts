/**
 * Stream tests of the trainer's operators: values, completion, errors, unsubscribe, tensor
 * ownership. Small batches on the wasm backend.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom, NEVER, Observable, of, Subject, tap as rxTap, throwError, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { CLASSES, makeSamples, SIDE, tinyNet } from './fixtures.js';
import { samplesToTensors } from '../../operators/toTensors.js';
import { forwardBackward, type Gradients } from '../../operators/forwardBackward.js';
import { manifoldStep } from '../../operators/manifoldStep.js';
import { renormalize } from '../../operators/renormalize.js';
import { evaluate } from '../../operators/evaluate.js';
import { checkpoint } from '../../operators/checkpoint.js';
import { logMetrics } from '../../operators/logMetrics.js';
import { formatEta, progress } from '../../operators/progress.js';
import { TrainOptimizer, type OptimizerConfig } from '../../src/train/optimizer.js';
import { readCheckpoint, weightsDigest } from '../../src/checkpoint.js';
import { pullable } from '../../src/pull.js';
import type { BatchEnd, EpochEnd, FitEnd, TrainEvent } from '../../src/events.js';
import { readFile } from 'node:fs/promises';
import { tempDir } from '../helpers/tmp.js';

await useBackend('wasm');

const events$ = (...es: TrainEvent[]) => from(es);

const SGD: OptimizerConfig = { optimizer: 'sgd', lr: 0.05, momentum: 0.9 };
const FGSGD: OptimizerConfig = { optimizer: 'fgsgd', lr: 0.05, momentum: 0.9, grouping: 'PIO', manifolds: 'Sp+Ob+St+Euc' };

const samples = makeSamples(64);
const batchAt = (i: number, size = 8) => samplesToTensors(samples.slice(i * size, (i + 1) * size));
const tagged = (i: number) => Object.assign(batchAt(i), { epoch: 0, sampleIndex: (i + 1) * 8, stallMs: 1 });

function withModel<T>(fn: (model: tf.LayersModel) => Promise<T>): Promise<T> {
  const model = tinyNet({ inputShape: [SIDE, SIDE, 1], numClasses: CLASSES, seed: 1 });
  return fn(model).finally(() => model.dispose());
}

const epochEnd = (epoch: number, step: number): EpochEnd => ({
  type: 'epochEnd', epoch, step, trainLoss: 1, trainAccuracy: 0.5, images: 8, ms: 1, skippedSamples: 0,
});
const batchEnd = (step: number, epoch = 0): BatchEnd => ({
  type: 'batchEnd', epoch, step, sampleIndex: step * 8, loss: 1, accuracy: 0.5, lr: 0.05, images: 8, stallMs: 0, stepMs: 1,
});
const fitEndEvent = (steps: number, reason: FitEnd['reason'] = 'completed'): FitEnd => ({
  type: 'fitEnd', reason, message: '', position: { epoch: 1, sampleIndex: 0, step: steps }, epochs: 1, steps, images: 8, ms: 1,
  skippedSamples: 0, weightsDigest: '', maxNormByGroupKind: {},
});

t.test('forwardBackward: gradients per variable, finite loss, batches disposed', async (t) => {
  await assertNoLeak(t, 'forwardBackward', () =>
    withModel(async (model) => {
      const batches = [tagged(0), tagged(1)];
      const out = await lastValueFrom(from(batches).pipe(forwardBackward({ model }), toArray()));
      t.equal(out.length, 2);
      for (const g of out) {
        t.same(Object.keys(g.grads).sort(), model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val.name).sort());
        t.ok(Number.isFinite(g.loss) && g.loss > 0, 'finite positive loss');
        t.ok(g.accuracy >= 0 && g.accuracy <= 1);
        t.equal(g.images, 8);
        t.equal(g.stallMs, 1, 'stall passed through');
        tf.dispose(g.grads);
      }
      t.equal(out[1]!.sampleIndex, 16);
      for (const b of batches) t.ok(b.x.isDisposed && b.y.isDisposed, 'the batch is disposed');
    }),
  );
});

t.test('forwardBackward: an error errors the stream and still disposes the batch', async (t) => {
  await assertNoLeak(t, 'error', () =>
    withModel(async (model) => {
      const bad = { x: tf.zeros([2, 5, 5, 3]) as tf.Tensor4D, y: tf.tensor1d([0, 1], 'int32') };
      await t.rejects(lastValueFrom(of(bad).pipe(forwardBackward({ model }))));
      t.ok(bad.x.isDisposed && bad.y.isDisposed);
      // An upstream error passes through.
      await t.rejects(lastValueFrom(throwError(() => new Error('boom')).pipe(forwardBackward({ model }))), /boom/);
    }),
  );
});

t.test('forwardBackward + manifoldStep: one step per batch, grads disposed, no growth per step', async (t) => {
  await assertNoLeak(t, 'steps', () =>
    withModel(async (model) => {
      const optimizer = new TrainOptimizer(model, FGSGD, 1);
      // Batches made only when pulled; the tensor count seen at each step's event.
      const input = pullable(async function* () {
        for (let i = 0; i < 6; i++) yield tagged(i);
      });
      const counts: number[] = [];
      const events = await lastValueFrom(
        input.pipe(forwardBackward({ model, observe: (x) => optimizer.observe(x) }), manifoldStep({ optimizer })).pipe(
          rxTap(() => counts.push(tf.memory().numTensors)),
          toArray(),
        ),
      );
      // Step 1 creates the optimizer's slots; from then on the count is flat.
      t.equal(new Set(counts.slice(1)).size, 1, `tensor count does not grow from step to step (${counts.join(', ')})`);
      t.same(events.map((e) => (e as BatchEnd).step), [1, 2, 3, 4, 5, 6]);
      t.ok(events.every((e) => e.type === 'batchEnd' && e.lr === 0.05 && e.stepMs > 0));
      t.equal(optimizer.step, 6);
      optimizer.dispose();
    }),
  );
});

t.test('manifoldStep: a non-finite loss is not applied', async (t) => {
  await assertNoLeak(t, 'nan', () =>
    withModel(async (model) => {
      const optimizer = new TrainOptimizer(model, SGD, 1);
      const digest = await weightsDigest(model);
      const grads = Object.fromEntries(model.trainableWeights.map((w) => [(w as unknown as { val: tf.Variable }).val.name, tf.onesLike(w.read())]));
      const g: Gradients = { grads, loss: NaN, accuracy: 0, images: 8, ms: 1, epoch: 0, sampleIndex: 8, stallMs: 0 };
      const out = await lastValueFrom(of(g).pipe(manifoldStep({ optimizer }), toArray()));
      t.match(out, [{ type: 'lossNonFinite', step: 1, epoch: 0 }]);
      t.equal(await weightsDigest(model), digest, 'weights unchanged');
      t.equal(optimizer.step, 0);
      t.ok(Object.values(grads).every((x) => x.isDisposed), 'gradients disposed');
      optimizer.dispose();
    }),
  );
});

t.test('manifoldStep: unsubscribing stops listening to configs', async (t) => {
  await withModel(async (model) => {
    const optimizer = new TrainOptimizer(model, SGD, 1);
    const configs = new Subject<OptimizerConfig>();
    const sub = (NEVER as Observable<Gradients>).pipe(manifoldStep({ optimizer, configs })).subscribe();
    t.ok(configs.observed, 'configs subscribed while running');
    sub.unsubscribe();
    // The stream's iteration ends on the abort, a turn of the event loop later.
    await new Promise((r) => setImmediate(r));
    t.notOk(configs.observed, 'configs unsubscribed with the stream');
    optimizer.dispose();
  });
});

t.test('renormalize: refreshes ℜ after epochEnd (FG-SGD), nothing for SGD, every N steps', async (t) => {
  await assertNoLeak(t, 'renormalize', () =>
    withModel(async (model) => {
      const fg = new TrainOptimizer(model, FGSGD, 1);
      const b = batchAt(0);
      await fg.observe(b.x);
      tf.dispose([b.x, b.y]);
      const out = await lastValueFrom(events$(batchEnd(1), epochEnd(0, 1)).pipe(renormalize({ optimizer: fg }), toArray()));
      t.same(out.map((e) => e.type), ['batchEnd', 'epochEnd', 'renormalized']);
      const r = out[2] as Extract<TrainEvent, { type: 'renormalized' }>;
      t.same(Object.keys(r.maxNormByGroupKind).sort(), ['Euc', 'Ob', 'Sp', 'St']);
      const steps = await lastValueFrom(events$(batchEnd(1), batchEnd(2), batchEnd(3), batchEnd(4)).pipe(renormalize({ optimizer: fg, every: { epochs: 0, steps: 2 } }), toArray()));
      t.same(steps.map((e) => e.type), ['batchEnd', 'batchEnd', 'renormalized', 'batchEnd', 'batchEnd', 'renormalized']);
      fg.dispose();
      const sgd = new TrainOptimizer(model, SGD, 1);
      const none = await lastValueFrom(events$(epochEnd(0, 1)).pipe(renormalize({ optimizer: sgd }), toArray()));
      t.same(none.map((e) => e.type), ['epochEnd']);
      sgd.dispose();
    }),
  );
});

t.test('evaluate: after each epoch and at a normal end, never twice for one step', async (t) => {
  await assertNoLeak(t, 'evaluate', () =>
    withModel(async (model) => {
      const test = makeSamples(20, 3);
      const served: tf.Tensor[] = [];
      const batches = () =>
        pullable(async function* () {
          for (let i = 0; i < test.length; i += 8) {
            const b = samplesToTensors(test.slice(i, i + 8));
            served.push(b.x, b.y);
            yield b;
          }
        });
      const out = await lastValueFrom(
        events$(epochEnd(0, 3), fitEndEvent(3), fitEndEvent(5, 'maxSteps'), fitEndEvent(6, 'interrupted')).pipe(evaluate({ model, batches }), toArray()),
      );
      t.same(out.map((e) => e.type), ['epochEnd', 'evalEnd', 'fitEnd', 'fitEnd', 'evalEnd', 'fitEnd']);
      const ev = out[1] as Extract<TrainEvent, { type: 'evalEnd' }>;
      t.equal(ev.images, 20);
      t.ok(ev.testAccuracy >= 0 && ev.testAccuracy <= 1 && Number.isFinite(ev.testLoss));
      t.ok(served.every((x) => x.isDisposed), 'test batches disposed');
    }),
  );
});

t.test('evaluate: an error of the test data errors the stream', async (t) => {
  await withModel(async (model) => {
    const batches = () => throwError(() => new Error('test data unreadable'));
    await t.rejects(lastValueFrom(events$(epochEnd(0, 1)).pipe(evaluate({ model, batches }))), /unreadable/);
  });
});

t.test('checkpoint: saves at epoch ends, every N steps and at the end; never after a non-finite loss', async (t) => {
  const dir = tempDir(t);
  await withModel(async (model) => {
    const optimizer = new TrainOptimizer(model, SGD, 1);
    const capture = async (position: { epoch: number; sampleIndex: number; step: number }) => ({
      position, rng: {}, run: {}, weights: {}, optimizer: await optimizer.getState(),
    });
    const out = await lastValueFrom(
      events$(batchEnd(1), batchEnd(2), epochEnd(0, 2), fitEndEvent(2)).pipe(checkpoint({ dir, capture, every: { steps: 2 } }), toArray()),
    );
    const saved = out.filter((e) => e.type === 'checkpointSaved').map((e) => (e as { position: unknown }).position);
    t.same(saved, [{ epoch: 0, sampleIndex: 16, step: 2 }, { epoch: 1, sampleIndex: 0, step: 2 }], 'the fitEnd at the same position is not saved twice');
    t.same(out.map((e) => e.type), ['batchEnd', 'batchEnd', 'checkpointSaved', 'epochEnd', 'checkpointSaved', 'fitEnd']);

    const nan: TrainEvent = { type: 'lossNonFinite', epoch: 1, step: 3, loss: NaN, message: '' };
    const after = await lastValueFrom(events$(nan, epochEnd(1, 3), fitEndEvent(3, 'nonFiniteLoss')).pipe(checkpoint({ dir, capture }), toArray()));
    t.notOk(after.some((e) => e.type === 'checkpointSaved'));
    t.same((await readCheckpoint(dir)).position, { epoch: 1, sampleIndex: 0, step: 2 }, 'the last good checkpoint is kept');
    optimizer.dispose();
  });
});

t.test('logMetrics: one JSON line per event, appended on resume', async (t) => {
  const dir = tempDir(t);
  const events: TrainEvent[] = [batchEnd(1), epochEnd(0, 1)];
  const passed = await lastValueFrom(from(events).pipe(logMetrics({ dir }), toArray()));
  t.same(passed, events, 'events pass through');
  await lastValueFrom(events$(batchEnd(2)).pipe(logMetrics({ dir, append: true }), toArray()));
  const lines = (await readFile(`${dir}/metrics.jsonl`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.same(lines.map((l) => l.type), ['batchEnd', 'epochEnd', 'batchEnd']);
  t.match(lines[0], { level: 30, time: Number, type: 'batchEnd', step: 1, loss: 1 });
  await lastValueFrom(events$(batchEnd(3)).pipe(logMetrics({ dir })));
  t.equal((await readFile(`${dir}/metrics.jsonl`, 'utf8')).trim().split('\n').length, 1, 'a fresh run starts the log afresh');
});

t.test('progress: silent without a TTY, draws on one', async (t) => {
  const writes: string[] = [];
  const fake = Object.assign(Object.create(process.stdout) as NodeJS.WriteStream, {
    isTTY: false,
    columns: 100,
    write: (s: string) => (writes.push(String(s)), true),
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  });
  const start: TrainEvent = {
    type: 'fitStart', epochs: 1, start: { epoch: 0, sampleIndex: 0, step: 0 }, samplesPerEpoch: 16, batchSize: 8,
    backend: 'wasm', workers: 1, model: 'tiny', optimizer: 'sgd', seed: 1, startedAt: 0,
  };
  const events = [start, batchEnd(1), batchEnd(2), fitEndEvent(2)];
  t.same(await lastValueFrom(from(events).pipe(progress({ stream: fake }), toArray())), events);
  t.equal(writes.length, 0, 'nothing written when the stream is not a TTY');
  fake.isTTY = true;
  await lastValueFrom(from(events).pipe(progress({ stream: fake }), toArray()));
  t.match(writes.join(''), /2\/2 steps/);
  t.match(writes.join(''), /epoch 1\/1 /, 'epochs counted from 1, with their total');
});

t.test('progress: the ETA is formatted from whole seconds', async (t) => {
  t.equal(formatEta(119.6), '2m00s', 'not 1m60s');
  t.equal(formatEta(59.5), '1m00s');
  t.equal(formatEta(45.2), '45s');
  t.equal(formatEta(3725), '1h02m');
  t.equal(formatEta(Infinity), '-');
});

t.test('operators keep the demand: upstream is pulled only when the consumer is done', async (t) => {
  let pulled = 0;
  const source = pullable<TrainEvent>(async function* () {
    for (let i = 1; i <= 3; i++) {
      pulled++;
      yield epochEnd(i - 1, i);
    }
  });
  const model = tinyNet({ inputShape: [SIDE, SIDE, 1], numClasses: CLASSES, seed: 1 });
  const seen: number[] = [];
  let release!: () => void;
  let onRead: (() => void) | undefined;
  // A test set that takes until `release()` to read.
  const slowBatches = () =>
    new Observable<never>((subscriber) => {
      seen.push(pulled);
      release = () => subscriber.complete();
      onRead?.();
    });
  /** Resolves once the `n`-th evaluation has started reading its test set (no wall-clock guess). */
  const evaluating = (n: number) =>
    new Promise<void>((resolve) => {
      onRead = () => seen.length >= n && resolve();
      onRead();
    });
  const done = lastValueFrom(source.pipe(evaluate({ model, batches: slowBatches }), logMetrics({ dir: tempDir(t) }), toArray()));
  await evaluating(1);
  // Give a source that runs ahead time to be pulled: nothing may be, however long we wait.
  await new Promise((r) => setTimeout(r, 50));
  t.equal(pulled, 1, 'the source is not pulled while the first evaluation runs');
  release();
  await evaluating(2);
  release();
  await evaluating(3);
  release();
  const out = await done;
  t.same(seen, [1, 2, 3], 'each evaluation ran before the next event was pulled');
  t.equal(out.filter((e) => e.type === 'evalEnd').length, 3);
  model.dispose();
});
