/**
 * Data-parallel training over worker threads (src/train/replicas.ts, `--workers N`):
 * - the gradient summed over replicas equals the whole batch's gradient (a model without
 *   BatchNorm), with odd shard sizes, on wasm and on onednn;
 * - a whole run with 2 replicas (the default pipeline: cnn-small, FG-SGD) is deterministic, and a
 *   run stopped and resumed lands on the uninterrupted run's weights;
 * - with 2 replicas a scheduled hot-swap, an interrupt (Ctrl-C) and resume, and a non-finite loss
 *   keep their contracts;
 * - what cannot work is refused with the way out; a replica that dies fails the step clearly;
 * - no tensor leaks on this thread.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { tempDir } from '../helpers/tmp.js';
import { buildModel } from '../../src/models/index.js';
import { Replicas } from '../../src/train/replicas.js';
import { loadOnednnBinding } from '../../src/backend/onednn.js';
import { lossAndGrads, trainableVariables } from '../../src/train/step.js';
import type { FitEnd, TrainEvent } from '../../src/events.js';
import { resolveResume, runPipeline, type RunOptions } from '../../src/train/run.js';
import defaultPipeline from '../../pipelines/default.js';
import tinyPipeline, { defaults as tinyDefaults, TRAIN } from './tiny-pipeline.js';
import { pipe, Subject, tap as rxTap } from 'rxjs';
import { onDemand } from '../../src/pull.js';
import { autoWorkers, withSession } from '../../src/train/session.js';
import { sessionOptions } from '../../src/train/run.js';
import { fit } from '../../src/train/fit.js';
import { forwardBackward } from '../../operators/forwardBackward.js';
import { manifoldStep } from '../../operators/manifoldStep.js';
import { checkpoint } from '../../operators/checkpoint.js';
import { readCheckpoint, writeCheckpoint } from '../../src/checkpoint.js';
import { trainBatches } from './fixtures.js';
import { blobData } from '../fgsgd/helpers.js';

await useBackend('wasm');

const modelOptions = { inputShape: [8, 8, 1] as [number, number, number], numClasses: 4, seed: 3 };

// Replicas run on wasm, or on onednn (wasm with native convolutions) where its binding is built.
let onednnMissing = '';
try {
  loadOnednnBinding();
} catch (e) {
  onednnMissing = (e as Error).message;
}
for (const backend of ['wasm', 'onednn'] as const) {
  t.test(`the gradient summed over 3 replicas equals the whole batch’s (shards of 4, 3, 3), on ${backend}`, { skip: backend === 'onednn' && onednnMissing || false }, async (t) => {
    await useBackend(backend);
    t.teardown(() => useBackend('wasm'));
    await assertNoLeak(t, 'replicas', async () => {
      const model = buildModel('cnn-small', modelOptions);
      const variables = trainableVariables(model);
      const replicas = await Replicas.open(3, 'cnn-small', modelOptions, model, variables, backend);
      t.same(replicas.shards(10), [4, 3, 3]);
      t.same(replicas.shards(2), [1, 1, 0], 'a batch smaller than the replicas leaves some idle');
      const { x, y } = blobData(10, [8, 8, 1], 4);
      const whole = lossAndGrads(model, x, y, variables);
      const par = await replicas.lossAndGrads(x, y);
      t.ok(Math.abs(par.loss - whole.value.dataSync()[0]!) < 1e-5, `loss ${par.loss} = ${whole.value.dataSync()[0]}`);
      let worst = 0;
      for (const v of variables) {
        const [a, b] = [par.grads[v.name]!.dataSync(), whole.grads[v.name]!.dataSync()];
        const scale = Math.max(...Array.from(b, Math.abs), 1e-12);
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
      }
      t.ok(worst < 1e-5, `every gradient within 1e-5 of the largest entry (worst ${worst.toExponential(2)})`);
      t.ok(par.correct >= 0 && par.correct <= 10 && Number.isInteger(par.correct), `correct count ${par.correct}`);
      tf.dispose([x, y, whole.value, ...Object.values(whole.grads), ...Object.values(par.grads)]);
      await replicas.dispose();
      model.dispose();
    });
  });
}

t.test('a replica that dies fails the next step with a clear error', async (t) => {
  const model = buildModel('cnn-small', modelOptions);
  const replicas = await Replicas.open(2, 'cnn-small', modelOptions, model, trainableVariables(model));
  await (replicas as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots[0]!.worker.terminate();
  const { x, y } = blobData(4, [8, 8, 1], 4);
  await t.rejects(replicas.lossAndGrads(x, y), { name: 'ReplicaError', message: /training replica 1 exited .*cannot go on without it/ });
  tf.dispose([x, y]);
  await replicas.dispose();
  model.dispose();
});

const run = async (o: RunOptions) => (await lastValueFrom(defaultPipeline(o).pipe(toArray()))).find((e: TrainEvent): e is FitEnd => e.type === 'fitEnd')!;

t.test('2 replicas: a run is deterministic, and stopped and resumed it lands on the same weights', async (t) => {
  const dir = tempDir(t);
  const base: Omit<RunOptions, 'out'> = { backend: 'wasm', workers: 2, batch: 15, maxSteps: 6, epochs: 1, seed: 2, progress: false };
  await assertNoLeak(t, 'four runs with 2 replicas', async () => {
    const a = await run({ ...base, out: `${dir}/a` });
    const b = await run({ ...base, out: `${dir}/b` });
    t.equal(a.steps, 6);
    t.equal(b.weightsDigest, a.weightsDigest, 'the same run twice: the same weights');
    const one = await run({ ...base, workers: 1, out: `${dir}/one` });
    t.not(one.weightsDigest, a.weightsDigest, 'one replica sums in another order: another (equally valid) run');
    await run({ ...base, maxSteps: 3, out: `${dir}/cut` });
    t.equal((await resolveResume({ resume: `${dir}/cut` })).workers, 2, '--resume keeps the run\'s --workers');
    const resumed = await run({ ...base, out: `${dir}/cut`, resume: `${dir}/cut` });
    t.equal(resumed.steps, 6);
    t.equal(resumed.weightsDigest, a.weightsDigest, 'resumed = uninterrupted, bit for bit');
  });
});

t.test('2 replicas keep the run contracts: a scheduled swap, an interrupt with resume, a non-finite loss', async (t) => {
  const dir = tempDir(t);
  const base: Omit<RunOptions, 'out'> = { backend: 'wasm', workers: 2, batch: 15, maxSteps: 8, epochs: 1, seed: 5, progress: false, optimizer: 'sgd' };
  const swaps = [{ step: 3, changes: { optimizer: 'fgsgd' as const, manifolds: 'Sp+Ob+St+Euc' } }];
  await assertNoLeak(t, 'swap, interrupt and NaN runs with 2 replicas', async () => {
    const events = async (o: RunOptions) => lastValueFrom(defaultPipeline(o).pipe(toArray()));
    const end = (es: TrainEvent[]) => es.find((e): e is FitEnd => e.type === 'fitEnd')!;
    const whole = await events({ ...base, swaps, out: `${dir}/whole` });
    t.same(whole.filter((e) => e.type === 'optimizerSwapped').map((e) => e.step), [4], 'the swap to FG-SGD is applied once, after step 3');
    t.equal(end(whole).steps, 8);

    // Interrupted after step 5 (as Ctrl-C does), then resumed: the uninterrupted run's weights.
    const interrupt = new Subject<string>();
    const cut = await lastValueFrom(
      defaultPipeline({ ...base, swaps, out: `${dir}/cut`, interrupt }).pipe(
        rxTap((e) => e.type === 'batchEnd' && e.step === 5 && interrupt.next('SIGINT')),
        toArray(),
      ),
    );
    t.match(end(cut), { reason: 'interrupted' }, 'the interrupt ends the run');
    const saved = (await readCheckpoint(`${dir}/cut`)).position.step;
    t.ok(saved >= 5 && saved < 8, `a final checkpoint at step ${saved}`);
    const resumed = end(await events({ ...base, swaps, out: `${dir}/cut`, resume: `${dir}/cut` }));
    t.equal(resumed.steps, 8);
    t.equal(resumed.weightsDigest, end(whole).weightsDigest, 'interrupted and resumed = uninterrupted, bit for bit');

    // A diverging run stops on its non-finite loss, as with one replica.
    const nan = end(await events({ ...base, lr: 1e30, out: `${dir}/nan` }));
    t.equal(nan.reason, 'nonFiniteLoss', 'a non-finite loss stops the run');
    t.ok(nan.steps < 8, `stopped at step ${nan.steps}`);
  });
});

t.test('what replicas cannot do is refused, with the way out', async (t) => {
  const dir = tempDir(t);
  await t.rejects(lastValueFrom(tinyPipeline({ out: `${dir}/tiny`, workers: 2 })), { name: 'UsageError', message: /--workers 2: .*model is built in code; give --model NAME, or --workers 1/ });
  await t.rejects(run({ out: `${dir}/cpu`, workers: 2, backend: 'cpu', maxSteps: 1 }), { name: 'UsageError', message: /--workers 2: the replicas run on wasm or onednn, and this run is on 'cpu'; give --backend wasm \(or onednn\), or --workers 1/ });
  await useBackend('wasm');
});

t.test("workers 'auto': one replica per core where the run can have them, else 1; checkpoints record the number, which --resume keeps", async (t) => {
  const dir = tempDir(t);
  t.same([autoWorkers(64, 2), autoWorkers(64, 16), autoWorkers(128, 16), autoWorkers(15, 2), autoWorkers(16, 2), autoWorkers(256, 1)], [2, 8, 16, 1, 2, 1], 'one per core, each with at least 8 images of the batch');
  // The tiny pipeline with a model of the zoo: cnn-small at 8×8, batches of 16.
  const cores = autoWorkers(16);
  const base: Omit<RunOptions, 'out'> = { model: 'cnn-small', backend: 'wasm', workers: 'auto', batch: 16, maxSteps: 2, epochs: 1, progress: false };
  await assertNoLeak(t, "runs with workers 'auto'", async () => {
    const { summary } = await runPipeline(tinyPipeline, { ...base, out: `${dir}/auto` });
    t.equal(summary.workers, cores, `a zoo model on wasm: one replica per core, up to 2 for a batch of 16 (${cores}), as summary.json says`);
    t.equal((await readCheckpoint(`${dir}/auto`)).run.workers, cores, 'the checkpoint records the number used');
    t.equal((await resolveResume({ resume: `${dir}/auto` })).workers, cores, "--resume keeps it, not 'auto'");
    t.equal((await runPipeline(tinyPipeline, { ...base, batch: 8, out: `${dir}/small` })).summary.workers, 1, 'a batch of 8: 1 replica');
    t.equal((await runPipeline(tinyPipeline, { ...base, backend: 'cpu', out: `${dir}/cpu` })).summary.workers, 1, 'on cpu: 1 replica, not an error');
    await useBackend('wasm');
    t.equal((await runPipeline(tinyPipeline, { ...base, model: undefined, out: `${dir}/tiny` })).summary.workers, 1, 'a model built in code: 1 replica');
  });
  // A checkpoint written before runs recorded their replicas was trained on one: it resumes with 1.
  const ckpt = await readCheckpoint(`${dir}/auto`);
  const { workers: _recorded, ...run } = ckpt.run;
  const { workers: _given, ...options } = run.options as Record<string, unknown>;
  await writeCheckpoint(`${dir}/old`, { ...ckpt, run: { ...run, options } });
  t.equal((await resolveResume({ resume: `${dir}/old` })).workers, 1, 'an older checkpoint without the number resumes with 1');
});

t.test('a replica that dies mid-run stops the run with a clear error, and the last checkpoint is intact and resumable', async (t) => {
  const dir = tempDir(t);
  // The tiny pipeline's composition on a zoo model, with a replica killed after step 4.
  const runKilling = (o: RunOptions, killAfter?: number) =>
    lastValueFrom(
      withSession({ ...sessionOptions(o, tinyDefaults), backend: 'wasm' }, (s) =>
        fit({
          session: s,
          batches: trainBatches(TRAIN, s.batchSize),
          step: pipe(forwardBackward({ model: s.model, replicas: s.replicas }), manifoldStep({ optimizer: s.optimizer })),
          samplesPerEpoch: TRAIN.length,
        }).pipe(
          checkpoint({ dir: o.out, capture: (p) => s.capture(p), every: { steps: 2 } }),
          onDemand<TrainEvent, TrainEvent>(() => ({
            *handle(e) {
              if (e.type === 'batchEnd' && e.step === killAfter) void (s.replicas as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots[0]!.worker.terminate();
              yield e;
            },
          })),
        ),
      ).pipe(toArray()),
    );
  const o: RunOptions = { out: `${dir}/run`, model: 'cnn-small', workers: 2, epochs: 1, seed: 4, optimizer: 'fgsgd' };
  await t.rejects(runKilling(o, 4), { name: 'ReplicaError', message: /training replica 1 exited .*cannot go on without it/ });
  const ckpt = await readCheckpoint(`${dir}/run`);
  t.equal(ckpt.position.step, 4, 'the checkpoint of step 4 is there');
  const resumed = (await runKilling({ ...o, resume: `${dir}/run` })).find((e): e is FitEnd => e.type === 'fitEnd')!;
  const whole = (await runKilling({ ...o, out: `${dir}/whole` })).find((e): e is FitEnd => e.type === 'fitEnd')!;
  t.equal(resumed.steps, 12);
  t.equal(resumed.weightsDigest, whole.weightsDigest, 'resumed from it = uninterrupted');
});
