/**
 * Hot-swapping the optimizer while a run goes on: the new configuration takes effect at a step
 * boundary, no batch is lost or applied twice, the learning-rate schedule continues, and the
 * momentum is carried over onto the tangent spaces of the new manifolds.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, Subject, tap as rxTap, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { CLASSES, samples$, SIDE, tinyNet } from './fixtures.js';
import tinyPipeline, { TRAIN } from './tiny-pipeline.js';
import { shuffle } from '../../operators/shuffle.js';
import { batch } from '../../operators/batch.js';
import { toTensors } from '../../operators/toTensors.js';
import { Rng } from '../../src/random.js';
import { pullFrom } from '../../src/pull.js';
import { applySwap, parseSwap, TrainOptimizer, type OptimizerConfig } from '../../src/train/optimizer.js';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { timeLeftMs } from '../helpers/budget.js';
import { weightsDigest } from '../../src/checkpoint.js';
import { planKernel } from '../../src/fgsgd/grouping.js';
import { manifoldByTag } from '../../src/manifolds/index.js';
import { scheduleAt, type ScheduleConfig } from '../../src/fgsgd/schedules.js';
import type { BatchEnd, FitEnd, TrainEvent } from '../../src/events.js';
import { tempDir } from '../helpers/tmp.js';

await useBackend('wasm');

/** Largest tangency residual a carried momentum may have (float32 projections). */
const TANGENT_TOL = 1e-4;
const SEED = 4;
const SWAP_AFTER = 5;
const SCHEDULE: ScheduleConfig = { name: 'step', lr: 0.05, every: 4, factor: 0.5 };
/** The tiny pipeline's SGD (its defaults), then FG-SGD with a step schedule. */
const SGD: OptimizerConfig = { optimizer: 'sgd', lr: 0.05, momentum: 0.9 };
const FGSGD: OptimizerConfig = { optimizer: 'fgsgd', lr: SCHEDULE, momentum: 0.9, grouping: 'PIO', manifolds: 'Sp+Ob+St+Euc' };

/** Largest tangency residual of FG-SGD's momentum buffers over the constrained kernel slices. */
async function maxTangentResidual(opt: TrainOptimizer): Promise<{ residual: number; norm: number }> {
  const state = await opt.inner.getState();
  let residual = 0;
  let norm = 0;
  try {
    for (const k of opt.inner.currentGrouping.kernels) {
      const buffer = state.tensors[`${k.weightName}/momentum`];
      if (!buffer) continue;
      const plan = planKernel(k);
      const variable = tf.engine().registeredVariables[k.variableName] as tf.Variable;
      tf.tidy(() => {
        const idx = tf.tensor1d(plan.flatIndex, 'int32');
        const X = tf.gather(variable.reshape([-1]), idx).reshape([-1, k.rows, k.cols]);
        const B = tf.gather(buffer.reshape([-1]), idx).reshape([-1, k.rows, k.cols]);
        norm = Math.max(norm, tf.norm(B).dataSync()[0]!);
        for (const s of plan.slices) {
          if (s.tag === 'Euc') continue;
          const m = manifoldByTag(s.tag).create();
          const x = X.slice([s.start, 0, 0], [s.count, k.rows, k.cols]);
          const u = B.slice([s.start, 0, 0], [s.count, k.rows, k.cols]);
          residual = Math.max(residual, tf.max(m.tangentResidual(m.projx(x), u)).dataSync()[0]!);
        }
      });
    }
  } finally {
    tf.dispose(Object.values(state.tensors));
  }
  return { residual, norm };
}

t.test('SGD → FG-SGD mid-epoch in a running pipeline: at the next update, no batch lost or applied twice', async (t) => {
  const dir = tempDir(t);
  await assertNoLeak(t, 'hot-swap run', async () => {
    const configs = new Subject<OptimizerConfig>();
    const events = await lastValueFrom(
      tinyPipeline({ out: dir, seed: SEED, epochs: 2, optimizer: 'sgd', configs }).pipe(
        // The swap is requested while step 5's events are being handled downstream.
        rxTap((e) => e.type === 'batchEnd' && e.step === SWAP_AFTER && configs.next(FGSGD)),
        toArray(),
      ),
    );
    const steps = events.filter((e): e is BatchEnd => e.type === 'batchEnd');
    t.same(steps.map((e) => e.step), Array.from({ length: 24 }, (_, i) => i + 1), 'steps 1..24, each once');
    t.same(steps.slice(0, 12).map((e) => e.sampleIndex), Array.from({ length: 12 }, (_, i) => 8 * (i + 1)), 'every batch of epoch 0 trained');
    const swapAt = events.findIndex((e) => e.type === 'optimizerSwapped');
    t.match(events[swapAt], { type: 'optimizerSwapped', step: SWAP_AFTER + 1, from: /^sgd/, to: /^fgsgd PIO Sp\+Ob\+St\+Euc/ });
    t.match(events[swapAt + 1], { type: 'batchEnd', step: SWAP_AFTER + 1 }, 'the swap takes effect at the next step');
    t.equal(events.filter((e) => e.type === 'optimizerSwapped').length, 1);
    t.same(
      steps.map((e) => e.lr),
      steps.map((e) => (e.step <= SWAP_AFTER ? 0.05 : scheduleAt(SCHEDULE, e.step - 1))),
      'the schedule of the new configuration continues from the global step',
    );
    t.same(events.filter((e) => e.type === 'epochEnd').map((e) => (e as { images: number }).images), [96, 96]);
    const end = events.find((e): e is FitEnd => e.type === 'fitEnd')!;
    t.same(Object.keys(end.maxNormByGroupKind).sort(), ['Euc', 'Ob', 'Sp', 'St'], 'FG-SGD groups after the swap');

    // Reference: the same batches, stepped by hand; the gradients of batch SWAP_AFTER + 1 are the
    // first applied with the new configuration.
    const model = tinyNet({ inputShape: [SIDE, SIDE, 1], numClasses: CLASSES, seed: SEED });
    const opt = new TrainOptimizer(model, SGD, SEED);
    const rng = Rng.create(SEED, 'shuffle');
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    let step = 0;
    for (let epoch = 0; epoch < 2; epoch++) {
      for await (const b of pullFrom(samples$(TRAIN).pipe(shuffle({ bufferSize: TRAIN.length, rng }), batch({ size: 8 }), toTensors()), new AbortController().signal)) {
        await opt.observe(b.x);
        const { value, grads } = tf.variableGrads(() => {
          const logits = model.apply(b.x, { training: true }) as tf.Tensor;
          return tf.losses.softmaxCrossEntropy(tf.oneHot(b.y, CLASSES), logits) as tf.Scalar;
        }, vars);
        if (step === SWAP_AFTER) opt.reconfigure(FGSGD);
        opt.applyGradients(grads);
        tf.dispose([value, b.x, b.y, ...Object.values(grads)]);
        step++;
      }
    }
    t.equal(end.weightsDigest, await weightsDigest(model), 'bit-identical to stepping by hand with the swap after step 5');
    opt.dispose();
    model.dispose();
  });
});

t.test('a swap sent between epochs is applied at the first step of the next epoch, not lost', async (t) => {
  const dir = tempDir(t);
  await assertNoLeak(t, 'swap between epochs', async () => {
    const configs = new Subject<OptimizerConfig>();
    const events = await lastValueFrom(
      tinyPipeline({ out: dir, seed: SEED, epochs: 2, optimizer: 'sgd', configs }).pipe(
        // At epoch 0's end no step operator is subscribed: epoch 1's is not yet running.
        rxTap((e) => e.type === 'epochEnd' && e.epoch === 0 && configs.next(FGSGD)),
        toArray(),
      ),
    );
    const swaps = events.filter((e) => e.type === 'optimizerSwapped');
    t.equal(swaps.length, 1, 'the swap is applied once');
    t.match(swaps[0], { type: 'optimizerSwapped', step: 13, to: /^fgsgd/ }, 'at the first step of epoch 1');
  });
});

t.test('scheduled swaps are applied once each, also across epochs, and a later live swap is not undone', async (t) => {
  const dir = tempDir(t);
  await assertNoLeak(t, 'scheduled swaps', async () => {
    const configs = new Subject<OptimizerConfig>();
    const events = await lastValueFrom(
      tinyPipeline({
        out: dir,
        seed: SEED,
        epochs: 3,
        optimizer: 'sgd',
        configs,
        // One in epoch 0, one in epoch 2 (12 steps per epoch).
        swaps: [
          { step: 3, changes: { optimizer: 'fgsgd', manifolds: 'Sp+Ob+St+Euc' } },
          { step: 30, changes: { momentum: 0.5 } },
        ],
      }).pipe(
        // A live swap back to SGD in epoch 1: the step-3 swap, given again at epoch 2, must not undo it.
        rxTap((e) => e.type === 'batchEnd' && e.step === 16 && configs.next({ ...SGD })),
        toArray(),
      ),
    );
    const swaps = events.filter((e): e is Extract<TrainEvent, { type: 'optimizerSwapped' }> => e.type === 'optimizerSwapped');
    t.same(swaps.map((e) => e.step), [4, 17, 31], 'step 3 (scheduled), 16 (live), 30 (scheduled), each once');
    t.match(swaps[2], { from: /^sgd/, to: /^sgd .*momentum=0\.5/ }, 'the step-30 swap applies to SGD, the configuration in use');
  });
});

t.test('hot-swap buffer rules: Euclidean parameters keep their momentum exactly; momentum 0 drops every buffer', async (t) => {
  await assertNoLeak(t, 'buffer rules', async () => {
    const { model, opt, x, y, train } = optimizerOnOneBatch(2, 4);
    const momentum = async () => Object.fromEntries(Object.entries((await opt.getState()).tensors).filter(([k]) => k.endsWith('/momentum')).map(([k, v]) => [k, Array.from(v.data)]));
    await train(3);
    const sgd = await momentum();
    const biases = Object.keys(sgd).filter((k) => k.includes('bias'));
    t.ok(biases.length > 0 && biases.every((k) => sgd[k]!.some((v) => v !== 0)), `SGD has bias momentum (${biases.join(', ')})`);
    opt.reconfigure({ ...FGSGD, manifolds: 'Sp+Ob+St' });
    const fg = await momentum();
    for (const k of biases) t.same(fg[k], sgd[k], `${k}: the Euclidean parameter's momentum is kept bit for bit`);
    const kernels = Object.keys(sgd).filter((k) => !k.includes('bias'));
    t.ok(kernels.some((k) => fg[k] && fg[k]!.some((v, i) => v !== sgd[k]![i])), 'the constrained kernels’ momentum is projected (the control: it changes)');
    opt.reconfigure({ ...FGSGD, manifolds: 'Sp+Ob+St', momentum: 0 });
    t.same(await momentum(), {}, 'momentum 0: no buffer is kept');
    await train(1);
    t.same(await momentum(), {}, 'and none is made while it stays 0');
    opt.reconfigure({ ...FGSGD, manifolds: 'Sp+Ob+St' });
    await train(1);
    const restarted = await momentum();
    t.ok(Object.keys(restarted).length > 0, 'momentum back on: buffers start again from the next gradient');
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
  });
});

t.test('the momentum is carried over and tangent after a swap', async (t) => {
  await assertNoLeak(t, 'swaps', async () => {
    const { model, opt, x, y, train } = optimizerOnOneBatch(1, 3);
    await train(3);
    opt.reconfigure({ ...FGSGD, manifolds: 'Sp+Ob+St' });
    const afterSgd = await maxTangentResidual(opt);
    t.ok(afterSgd.norm > 0, 'SGD → FG-SGD: momentum carried over (non-zero)');
    t.ok(afterSgd.residual < TANGENT_TOL, `SGD → FG-SGD: momentum tangent (residual ${afterSgd.residual})`);
    t.equal(opt.step, 3, 'the step count carries over');
    await train(3);
    opt.reconfigure(FGSGD);
    const afterMix = await maxTangentResidual(opt);
    t.ok(afterMix.norm > 0 && afterMix.residual < TANGENT_TOL, `Sp+Ob+St → Sp+Ob+St+Euc: momentum tangent (residual ${afterMix.residual})`);
    t.same(Object.keys(await opt.norms()).sort(), ['Euc', 'Ob', 'Sp', 'St']);
    await train(2);
    t.equal(opt.step, 8);
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
  });
});

t.test('a configuration equal to the current one is not a swap', async (t) => {
  const dir = tempDir(t);
  const configs = new Subject<OptimizerConfig>();
  const events: TrainEvent[] = await lastValueFrom(
    tinyPipeline({ out: dir, seed: 1, epochs: 1, maxSteps: 4, optimizer: 'sgd', lr: 0.05, momentum: 0.9, configs }).pipe(
      rxTap((e) => e.type === 'batchEnd' && e.step === 2 && configs.next({ optimizer: 'sgd', lr: 0.05, momentum: 0.9, grouping: undefined, manifolds: undefined })),
      toArray(),
    ),
  );
  t.notOk(events.some((e) => e.type === 'optimizerSwapped'));
  t.equal(events.filter((e) => e.type === 'batchEnd').length, 4);
});

t.test('--swap STEP:key=value from the CLI equals the same swap made from code, and is recorded', async (t) => {
  const cliDir = tempDir(t);
  const r = spawnSync(
    process.execPath,
    ['bin/fgsgd.js', 'train', 'test/train/tiny-pipeline.ts', '--seed', String(SEED), '--max-steps', '10', '--backend', 'wasm', '--out', cliDir, '--swap', `${SWAP_AFTER}:optimizer=fgsgd,manifolds=Sp+Ob+St,momentum=0.8`],
    { encoding: 'utf8', env: { ...process.env, FGSGD_LOG_LEVEL: 'warn' }, timeout: timeLeftMs(), killSignal: 'SIGKILL' },
  );
  t.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(await readFile(`${cliDir}/summary.json`, 'utf8'));
  t.match(summary.swaps, [{ step: SWAP_AFTER + 1, from: /^sgd lr=0\.05 momentum=0\.9/, to: /^fgsgd PIO Sp\+Ob\+St lr=0\.05 momentum=0\.8/ }], 'summary.json lists the swap with its step');
  t.match(summary.optimizer, /^fgsgd PIO Sp\+Ob\+St /, "summary.json's optimizer is the one in use at the end");
  t.match(await readFile(`${cliDir}/report.md`, 'utf8'), /## Hot-swaps[\s\S]*\| 6 \| sgd [^|]*\| fgsgd PIO Sp\+Ob\+St /, 'report.md lists it');

  // From code: the whole configuration, pushed while step SWAP_AFTER's events are handled.
  const configs = new Subject<OptimizerConfig>();
  const events = await lastValueFrom(
    tinyPipeline({ out: tempDir(t), seed: SEED, maxSteps: 10, backend: 'wasm', configs }).pipe(
      rxTap((e) => e.type === 'batchEnd' && e.step === SWAP_AFTER && configs.next({ ...SGD, optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp+Ob+St', momentum: 0.8 })),
      toArray(),
    ),
  );
  const end = events.find((e): e is FitEnd => e.type === 'fitEnd')!;
  t.equal(summary.weightsDigest, end.weightsDigest, 'the same weights, bit for bit');

  t.throws(() => parseSwap('x:lr=1'), /--swap x:lr=1: expected STEP:key=value/);
  t.throws(() => parseSwap('5:speed=2'), /unknown setting 'speed'; valid: optimizer, grouping, manifolds, lr/);
  t.throws(() => parseSwap('5:lr=-1'), /lr must be a positive number, got '-1'/);
  t.same(applySwap({ optimizer: 'sgd', lr: SCHEDULE, momentum: 0.9 }, { lr: 0.2 }).lr, { ...SCHEDULE, lr: 0.2 }, 'lr sets the peak; the schedule is kept');
});

/** An SGD TrainOptimizer on a tiny net, and `train(n)`: n steps on one fixed batch. */
function optimizerOnOneBatch(modelSeed: number, dataSeed: number) {
  const model = tinyNet({ inputShape: [SIDE, SIDE, 1], numClasses: CLASSES, seed: modelSeed });
  const opt = new TrainOptimizer(model, SGD, 1);
  const x = tf.randomNormal([8, SIDE, SIDE, 1], 0, 1, 'float32', dataSeed);
  const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const train = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await opt.observe(x);
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, CLASSES), model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
      opt.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    }
  };
  return { model, opt, x, y, train };
}
