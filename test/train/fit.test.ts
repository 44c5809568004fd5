/**
 * The epoch loop (`fit`) as a stream: event framing and order, tensor counts across epochs,
 * unsubscribe and errors mid-run, and the stall measurement.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, pipe, Subject, take, tap as rxTap, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { makeSamples } from './fixtures.js';
import tinyPipeline, { defaults } from './tiny-pipeline.js';
import { fit } from '../../src/train/fit.js';
import { withSession } from '../../src/train/session.js';
import { sessionOptions } from '../../src/train/run.js';
import { pullable } from '../../src/pull.js';
import { samplesToTensors } from '../../operators/toTensors.js';
import { forwardBackward } from '../../operators/forwardBackward.js';
import { manifoldStep } from '../../operators/manifoldStep.js';
import { checkpoint } from '../../operators/checkpoint.js';
import type { BatchEnd, TrainEvent } from '../../src/events.js';
import { tempDir } from '../helpers/tmp.js';

await useBackend('wasm');

const session = (over: Partial<Parameters<typeof sessionOptions>[0]> = {}) => ({ ...sessionOptions({ out: '', seed: 1, ...over }, defaults), backend: null });
const step = (s: { model: tf.LayersModel; optimizer: { observe(x: tf.Tensor): void } } & Parameters<typeof manifoldStep>[0]) =>
  pipe(forwardBackward({ model: s.model, observe: (x) => s.optimizer.observe(x) }), manifoldStep({ optimizer: s.optimizer }));

t.test('events are framed by fitStart/epochStart/epochEnd/fitEnd, and the tensor count does not grow across epochs', async (t) => {
  const counts: number[] = [];
  await assertNoLeak(t, 'three epochs', async () => {
    const events = await lastValueFrom(
      tinyPipeline({ out: tempDir(t), seed: 2, epochs: 3, optimizer: 'fgsgd' }).pipe(
        rxTap((e) => e.type === 'epochEnd' && counts.push(tf.memory().numTensors)),
        toArray(),
      ),
    );
    const types = events.map((e) => e.type).filter((x) => x !== 'batchEnd');
    t.same(types, [
      'fitStart',
      'epochStart', 'epochEnd', 'checkpointSaved', 'evalEnd', 'renormalized',
      'epochStart', 'epochEnd', 'checkpointSaved', 'evalEnd', 'renormalized',
      'epochStart', 'epochEnd', 'checkpointSaved', 'evalEnd', 'renormalized',
      'fitEnd', 'modelSaved',
    ]);
    t.equal(events.filter((e) => e.type === 'batchEnd').length, 36);
    t.match(events.at(-2), { type: 'fitEnd', reason: 'completed', epochs: 3, steps: 36, position: { epoch: 3, sampleIndex: 0, step: 36 } });
    t.match(events.at(-1), { type: 'modelSaved', step: 36 }, 'then the trained model is saved');
  });
  t.equal(new Set(counts).size, 1, `same tensor count at every epoch end (${counts.join(', ')})`);
});

t.test('unsubscribing mid-epoch frees everything (session, prefetched batches)', async (t) => {
  await assertNoLeak(t, 'unsubscribe', async () => {
    const events = await lastValueFrom(tinyPipeline({ out: tempDir(t), seed: 2, epochs: 3 }).pipe(take(7), toArray()));
    t.equal(events.length, 7);
    // Teardown of the session runs on unsubscribe; give the data side's abort a turn.
    await new Promise((r) => setTimeout(r, 20));
  });
});

t.test('a data error mid-epoch errors the stream and frees everything', async (t) => {
  const samples = makeSamples(40);
  const failing = () =>
    pullable(async function* () {
      for (let i = 0; i < 3; i++) yield samplesToTensors(samples.slice(i * 8, i * 8 + 8));
      throw new Error('disk on fire');
    });
  await assertNoLeak(t, 'error', async () => {
    const seen: TrainEvent[] = [];
    await t.rejects(
      lastValueFrom(withSession(session(), (s) => fit({ session: s, batches: failing, step: step(s) })).pipe(rxTap((e) => seen.push(e)))),
      /disk on fire/,
    );
    t.equal(seen.filter((e) => e.type === 'batchEnd').length, 3, 'the batches before the error were trained');
  });
});

t.test('stallMs measures the wait for data; --max-steps stops without pulling more', async (t) => {
  const samples = makeSamples(48);
  const DELAY = 40;
  let pulled = 0;
  const slow = () =>
    pullable(async function* () {
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, DELAY));
        pulled++;
        yield samplesToTensors(samples.slice(i * 8, i * 8 + 8));
      }
    });
  await assertNoLeak(t, 'slow data', async () => {
    const events = await lastValueFrom(withSession(session({ maxSteps: 3 }), (s) => fit({ session: s, batches: slow, step: step(s) })).pipe(toArray()));
    const steps = events.filter((e): e is BatchEnd => e.type === 'batchEnd');
    t.equal(steps.length, 3);
    t.ok(steps.every((e) => e.stallMs >= DELAY * 0.8), `stalls ${steps.map((e) => e.stallMs.toFixed(0)).join(', ')} ms`);
    t.equal(pulled, 3, 'no batch pulled past --max-steps');
    t.match(events.at(-1), { type: 'fitEnd', reason: 'maxSteps', steps: 3, epochs: 0 });
  });
});

t.test('--max-steps on the last batch of an epoch: the epoch ends (epochEnd, counted), still without pulling more', async (t) => {
  const samples = makeSamples(48);
  let pulled = 0;
  const batches = () =>
    pullable(async function* () {
      for (let i = 0; i < 6; i++) {
        pulled++;
        yield samplesToTensors(samples.slice(i * 8, i * 8 + 8));
      }
    });
  await assertNoLeak(t, 'max-steps at an epoch end', async () => {
    // 6 batches an epoch: the limit falls on the first epoch's last batch.
    const events = await lastValueFrom(
      withSession(session({ maxSteps: 6, epochs: 2 }), (s) => fit({ session: s, batches, step: step(s), samplesPerEpoch: 48 })).pipe(toArray()),
    );
    t.equal(pulled, 6, 'no batch pulled past --max-steps');
    t.match(events.find((e) => e.type === 'epochEnd'), { type: 'epochEnd', epoch: 0, step: 6 });
    t.match(events.at(-1), { type: 'fitEnd', reason: 'maxSteps', steps: 6, epochs: 1, position: { epoch: 1, sampleIndex: 0, step: 6 } });
    pulled = 0;
    const mid = await lastValueFrom(
      withSession(session({ maxSteps: 5, epochs: 2 }), (s) => fit({ session: s, batches, step: step(s), samplesPerEpoch: 48 })).pipe(toArray()),
    );
    t.notOk(mid.some((e) => e.type === 'epochEnd'), 'a limit before the last batch cuts the epoch short');
    t.match(mid.at(-1), { type: 'fitEnd', reason: 'maxSteps', steps: 5, epochs: 0 });
    const whole = await lastValueFrom(
      withSession(session({ maxSteps: 6, epochs: 1 }), (s) => fit({ session: s, batches, step: step(s), samplesPerEpoch: 48 })).pipe(toArray()),
    );
    t.match(whole.at(-1), { type: 'fitEnd', reason: 'completed', epochs: 1 }, 'a limit equal to the whole run completes it');
  });
});

t.test('an interrupt while the data side is stalled ends the run within 2 s, with a final checkpoint; the source is told to stop', async (t) => {
  const samples = makeSamples(40);
  const dir = tempDir(t);
  let aborted = false;
  // Three batches, then a read that takes a minute (a slow shard) unless its signal aborts... and
  // one source that ignores its signal altogether: neither may hold the run up.
  const stalled = (honour: boolean) => () =>
    pullable(async function* (signal) {
      for (let i = 0; i < 3; i++) yield samplesToTensors(samples.slice(i * 8, i * 8 + 8));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 60_000);
        timer.unref();
        if (honour) signal.addEventListener('abort', () => ((aborted = true), clearTimeout(timer), resolve()), { once: true });
      });
      yield samplesToTensors(samples.slice(24, 32));
    });
  for (const honour of [true, false]) {
    await assertNoLeak(t, `stalled source (${honour ? 'honours' : 'ignores'} its signal)`, async () => {
      const interrupt = new Subject<string>();
      let askedAt = 0;
      const events = await lastValueFrom(
        withSession({ ...session(), out: dir, interrupt }, (s) =>
          fit({ session: s, batches: stalled(honour), step: step(s) }).pipe(checkpoint({ dir, capture: (p) => s.capture(p) })),
        ).pipe(
          rxTap((e) => {
            if (e.type === 'batchEnd' && e.step === 3) {
              // The stall begins once step 3's events are consumed; interrupt a little later.
              setTimeout(() => ((askedAt = performance.now()), interrupt.next('SIGINT')), 200);
            }
          }),
          toArray(),
        ),
      );
      const ms = performance.now() - askedAt;
      t.ok(ms < 2000, `ended ${ms.toFixed(0)} ms after the interrupt`);
      t.match(events.at(-2), { type: 'fitEnd', reason: 'interrupted', steps: 3 });
      t.match(events.at(-1), { type: 'checkpointSaved', position: { step: 3 } }, 'with a final checkpoint');
    });
  }
  t.ok(aborted, 'the source that listens was aborted');
});
