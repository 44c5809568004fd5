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
import type { FitEnd, TrainEvent } from '../../src/events.js';
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
