/**
 * Checkpoint and resume: a run stopped mid-epoch (by --max-steps, or by an interrupt) and resumed
 * ends with the same weights digest as an uninterrupted run with the same seed, for SGD and for
 * FG-SGD (whose state includes momentum, λ, ℜ statistics and the step count).
 */
import t from 'tap';
import { lastValueFrom, Subject, tap as rxTap, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import tinyPipeline from './tiny-pipeline.js';
import { readCheckpoint } from '../../src/checkpoint.js';
import type { BatchEnd, EpochEnd, FitEnd, TrainEvent } from '../../src/events.js';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveResume, type RunOptions } from '../../src/train/run.js';
import { tempDir } from '../helpers/tmp.js';

await useBackend('wasm');

const run = (o: RunOptions) => lastValueFrom(tinyPipeline(o).pipe(toArray()));
const fitEnd = (events: TrainEvent[]) => events.find((e): e is FitEnd => e.type === 'fitEnd')!;

for (const optimizer of ['sgd', 'fgsgd'] as const) {
  t.test(`${optimizer}: stopped mid-epoch and resumed = uninterrupted`, async (t) => {
    const dir = tempDir(t);
    const base: Omit<RunOptions, 'out'> = { seed: 5, epochs: 3, optimizer, lr: 0.05 };
    await assertNoLeak(t, 'three runs', async () => {
      const whole = fitEnd(await run({ ...base, out: `${dir}/whole` }));
      t.equal(whole.reason, 'completed');
      t.equal(whole.steps, 36);

      // Stop at step 17: epoch 1, sample 40 of 96.
      const first = fitEnd(await run({ ...base, maxSteps: 17, out: `${dir}/cut` }));
      t.equal(first.reason, 'maxSteps');
      t.same(first.position, { epoch: 1, sampleIndex: 40, step: 17 });
      const ckpt = await readCheckpoint(`${dir}/cut`);
      t.same(ckpt.position, first.position, 'the final checkpoint holds the stop position');
      t.not(first.weightsDigest, whole.weightsDigest);

      const resumed = await run(await resolveResume({ resume: `${dir}/cut`, maxSteps: undefined }));
      const start = resumed.find((e) => e.type === 'fitStart');
      t.match(start, { type: 'fitStart', start: { epoch: 1, sampleIndex: 40, step: 17 } });
      const steps = resumed.filter((e) => e.type === 'batchEnd').map((e) => (e as { step: number }).step);
      t.same(steps, Array.from({ length: 19 }, (_, i) => 18 + i), 'steps 18..36, each once');
      const end = fitEnd(resumed);
      t.equal(end.reason, 'completed');
      t.equal(end.epochs, 3);
      t.equal(end.weightsDigest, whole.weightsDigest, 'same weights digest as the uninterrupted run');
    });
  });
}

t.test('interrupted between steps: final checkpoint, then resume = uninterrupted', async (t) => {
  const dir = tempDir(t);
  const base: Omit<RunOptions, 'out'> = { seed: 9, epochs: 2, optimizer: 'fgsgd', lr: 0.05 };
  await assertNoLeak(t, 'runs', async () => {
    const whole = fitEnd(await run({ ...base, out: `${dir}/whole` }));
    const interrupt = new Subject<string>();
    const cut = await lastValueFrom(
      tinyPipeline({ ...base, out: `${dir}/cut`, interrupt }).pipe(
        // Ctrl-C arrives while step 5 is being handled downstream: training stops before step 6.
        rxTap((e) => e.type === 'batchEnd' && e.step === 5 && interrupt.next('SIGINT')),
        toArray(),
      ),
    );
    const end = fitEnd(cut);
    t.equal(end.reason, 'interrupted');
    t.equal(end.steps, 5);
    t.ok(cut.some((e) => e.type === 'checkpointSaved' && e.position.step === 5), 'final checkpoint at step 5');
    t.notOk(cut.some((e) => e.type === 'evalEnd'), 'no evaluation after an interrupt');
    const resumed = fitEnd(await run(await resolveResume({ resume: `${dir}/cut` })));
    t.equal(resumed.weightsDigest, whole.weightsDigest);
  });
});

t.test('resume from an epoch-end checkpoint continues with the next epoch', async (t) => {
  const dir = tempDir(t);
  await assertNoLeak(t, 'epoch-end resume', async () => {
    const base: Omit<RunOptions, 'out'> = { seed: 2, epochs: 2, optimizer: 'sgd' };
    const whole = fitEnd(await run({ ...base, out: `${dir}/whole` }));
    const first = fitEnd(await run({ ...base, epochs: 1, out: `${dir}/cut` }));
    t.same(first.position, { epoch: 1, sampleIndex: 0, step: 12 });
    await t.rejects(resolveResume({ resume: `${dir}/cut`, batch: 99 }), /--batch 99 differs from the checkpoint's batch size \d+; leave --batch out/, 'another batch size is refused');
    const resumed = await run(await resolveResume({ resume: `${dir}/cut`, epochs: 2 }));
    t.match(resumed[1], { type: 'epochStart', epoch: 1, sampleIndex: 0 });
    t.equal(fitEnd(resumed).weightsDigest, whole.weightsDigest);
  });
});

t.test('after a resume from a mid-epoch checkpoint: every step is logged once, and the epoch’s train loss and accuracy cover the whole epoch, per sample', async (t) => {
  const dir = tempDir(t);
  await assertNoLeak(t, 'metrics across a resume', async () => {
    const base = { seed: 4, epochs: 2, optimizer: 'fgsgd' as const };
    const whole = await lastValueFrom(tinyPipeline({ ...base, out: `${dir}/whole` }).pipe(toArray()));
    // A checkpoint at step 5, the run stopped at 7 (with its final checkpoint): removing that one
    // leaves the run as if killed at step 7, its log going to step 7, its last checkpoint at 5.
    const out = `${dir}/cut`;
    await lastValueFrom(tinyPipeline({ ...base, out, maxSteps: 7, checkpointEvery: 5 }).pipe(toArray()));
    await rm(join(out, 'checkpoint.ckpt'));
    const logged = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number });
    t.same(logged.filter((e) => e.type === 'batchEnd').map((e) => e.step), [1, 2, 3, 4, 5, 6, 7], 'the control: steps 6 and 7 were logged past the checkpoint');
    // (--max-steps 7 stays recorded, and step 5 has not reached it: a larger limit lets it finish.)
    const resumed = await lastValueFrom(tinyPipeline({ ...base, out, resume: out, maxSteps: 1000 }).pipe(toArray()));
    const end = resumed.find((e): e is FitEnd => e.type === 'fitEnd')!;
    t.equal(end.weightsDigest, whole.find((e): e is FitEnd => e.type === 'fitEnd')!.weightsDigest, 'same weights as the uninterrupted run');
    const lines = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number });
    const steps = lines.filter((e) => e.type === 'batchEnd').map((e) => e.step);
    t.same(steps, Array.from({ length: 24 }, (_, i) => i + 1), 'each step logged once, in order');
    const epochs = (es: TrainEvent[]) => es.filter((e): e is EpochEnd => e.type === 'epochEnd').map((e) => [e.epoch, e.trainLoss, e.trainAccuracy]);
    t.same(epochs(resumed), epochs(whole), 'epoch train loss and accuracy equal the uninterrupted run’s');
    // Per sample: the mean over the epoch's samples of the per-batch means weighted by batch size.
    const batches = whole.filter((e): e is BatchEnd => e.type === 'batchEnd' && e.epoch === 0);
    const n = batches.reduce((a, e) => a + e.images, 0);
    const wantLoss = batches.reduce((a, e) => a + e.loss * e.images, 0) / n;
    t.ok(Math.abs((whole.find((e): e is EpochEnd => e.type === 'epochEnd')!.trainLoss) - wantLoss) < 1e-9, 'trainLoss is the per-sample mean');
  });
});
