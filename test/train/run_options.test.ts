/**
 * The CLI's run options as a pipeline's session sees them (`sessionOptions`, `runSchedule`), and
 * the summary fields the sweep reads (`wallSeconds`, `updateShare`). Pure functions: no tensors.
 */
import t from 'tap';
import { runSchedule, sessionOptions, type PipelineDefaults } from '../../src/train/run.js';
import { summarize } from '../../src/train/summary.js';
import { describeConfig } from '../../src/train/optimizer.js';
import { scheduleAt } from '../../src/fgsgd/schedules.js';
import type { TrainEvent } from '../../src/events.js';
import { defaults as fashionMnist } from '../../pipelines/fashion-mnist.js';

const sgd: PipelineDefaults = {
  model: 'resnet20',
  inputShape: [32, 32, 3],
  numClasses: 10,
  epochs: 4,
  batch: 100,
  optimizer: { optimizer: 'sgd', lr: 0.1, momentum: 0.9 },
};

t.test('--model, --weight-decay and the FG-SGD options (--radius, --bound, ...) reach the session', async (t) => {
  const s = sessionOptions({ out: 'x', model: 'wrn-16-4', weightDecay: 5e-4, bound: 0.5, optimizer: 'fgsgd' }, sgd);
  t.equal(s.model, 'wrn-16-4');
  t.equal(s.optimizer.weightDecay, 5e-4);
  t.same(s.optimizer.fgsgd, { radius: 'bound:0.5' }, '--bound B is --radius bound:B');
  t.match(s.optimizer, { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp+Ob+St+Euc' });
  const d = sessionOptions({ out: 'x' }, fashionMnist, { trainSamples: 640 });
  t.equal(d.model, 'cnn-small', "the pipeline's model by default");
  t.equal(d.optimizer.fgsgd, undefined, "FG-SGD's own defaults (radius init, adaptive step) by default");
  t.equal(d.optimizer.weightDecay, 5e-4, "the baseline's weight decay by default, for FG-SGD's Euclidean parameters too");
  const all = sessionOptions(
    { out: 'x', radius: 'data:3', radiusLayers: { conv1: '1.41' }, stepRule: 'fixed', groupSize: 4, lambdaFloor: 1e-3, lambdaEvery: 5 },
    fashionMnist,
    { trainSamples: 640 },
  );
  t.same(all.optimizer.fgsgd, { radius: 'data:3', radiusLayers: { conv1: '1.41' }, step: 'fixed', lambdaFloor: 1e-3 });
  t.match(all.optimizer, { groupSize: 4, lambdaEvery: 5 });
  t.throws(() => sessionOptions({ out: 'x', bound: 0.1, radius: 'init' }, fashionMnist, { trainSamples: 640 }), /give one of --bound and --radius/);
  t.same(sessionOptions({ out: 'x', model: 'cnn-small', bound: 2 }, sgd).run, { options: { model: 'cnn-small', bound: 2 } }, 'recorded for --resume');
  t.same(sessionOptions({ out: 'x', radius: 'data', stepRule: 'fixed' }, sgd).run, { options: { radius: 'data', stepRule: 'fixed' } }, 'recorded for --resume');
  // The one-line description (logs, fitStart, summary.json's `optimizer`) names them too.
  t.equal(describeConfig(s.optimizer), 'fgsgd PIO Sp+Ob+St+Euc lr=0.1 momentum=0.9 weightDecay=0.0005 (Euclidean parameters) radius=bound:0.5 step=fixed');
  t.equal(
    describeConfig(all.optimizer),
    'fgsgd PIO Sp+Ob+St+Euc lr=cosine(0.1) momentum=0.9 weightDecay=0.0005 (Euclidean parameters) radius=data:3,conv1=1.41 step=fixed groupSize=4',
  );
  t.equal(describeConfig(sessionOptions({ out: 'x', weightDecay: 1e-4 }, sgd).optimizer), 'sgd lr=0.1 momentum=0.9 weightDecay=0.0001', 'no FG-SGD settings for plain SGD');
});

t.test('--schedule and --lr: the kind, its peak, and its length over the run', async (t) => {
  const run = { epochs: 4, batchSize: 100, trainSamples: 1000 }; // 10 steps per epoch, 40 in all
  t.equal(runSchedule(0.1, {}, run), 0.1, 'a constant rate stays a number');
  t.equal(runSchedule(0.1, { lr: 0.3 }, run), 0.3);
  t.same(runSchedule(0.1, { schedule: 'cosine' }, run), { name: 'cosine', lr: 0.1, totalSteps: 40 });
  t.same(runSchedule(0.1, { schedule: 'step', lr: 0.2 }, run), { name: 'step', lr: 0.2, factor: 0.1, milestones: [20, 30] });
  t.same(runSchedule(0.1, { schedule: 'robbins-monro' }, run), { name: 'robbins-monro', lr: 0.1, tau: 10 });
  t.same(runSchedule({ name: 'cosine', lr: 0.1, totalSteps: 0 }, { schedule: 'constant', lr: 0.05 }, run), { name: 'constant', lr: 0.05 });
  t.same(runSchedule({ name: 'cosine', lr: 0.1, totalSteps: 0, minLr: 0.001 }, { lr: 0.2 }, run), { name: 'cosine', lr: 0.2, totalSteps: 40, minLr: 0.001 }, 'same kind: the default keeps its settings');
  t.same(runSchedule({ name: 'step', lr: 0.1, every: 7 }, {}, run), { name: 'step', lr: 0.1, every: 7 }, 'an explicit period is kept');
  t.throws(() => runSchedule(0.1, { schedule: 'cosine' }, { epochs: 1, batchSize: 8 }), /needs the number of training samples/);
  const step = runSchedule(0.1, { schedule: 'step' }, run);
  t.same([0, 19, 20, 29, 30, 39].map((s) => +scheduleAt(step, s).toPrecision(6)), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], '×0.1 at 50% and 75%');
  const s = sessionOptions({ out: 'x', schedule: 'cosine', lr: 0.05, epochs: 2 }, sgd, { trainSamples: 1000 });
  t.same(s.optimizer.lr, { name: 'cosine', lr: 0.05, totalSteps: 20 });
});

const batchEnd = (step: number, stepMs: number, updateMs?: number): TrainEvent => ({
  type: 'batchEnd', epoch: 0, step, sampleIndex: step * 8, loss: 1, accuracy: 0.5, lr: 0.1, images: 8, stallMs: 5, stepMs, ...(updateMs === undefined ? {} : { updateMs }),
});
const position = { epoch: 0, sampleIndex: 16, step: 2 };
const fitEnd: TrainEvent = {
  type: 'fitEnd', reason: 'maxSteps', message: 'stopped', position, epochs: 0, steps: 2, images: 16, ms: 3000, skippedSamples: 0, weightsDigest: 'd', maxNormByGroupKind: {},
};
const evalEnd = (ms: number): TrainEvent => ({ type: 'evalEnd', epoch: 0, step: 2, testLoss: 0.5, testAccuracy: 0.8, images: 30, ms });

t.test('summary: updateShare from the timed updates, wallSeconds with the evaluations after fitEnd', async (t) => {
  const s = summarize([batchEnd(1, 100, 20), batchEnd(2, 300, 60), evalEnd(250), fitEnd, evalEnd(500)], undefined, 'p');
  t.equal(s.updateShare, 80 / 400);
  t.equal(s.wallSeconds, 3.5, 'fitEnd.ms + the final evaluation; the earlier one is inside fitEnd.ms');
  t.equal(summarize([batchEnd(1, 100, 20), batchEnd(2, 300)], undefined, 'p').updateShare, null, 'unknown when a step did not time its update');
  t.equal(summarize([fitEnd], { images: 16, ms: 410, stepMs: 400, updateMs: 100 }, 'p').updateShare, 0.25, 'from the totals runPipeline keeps');
  t.equal(summarize([fitEnd], { images: 16, ms: 410 }, 'p').updateShare, null);
});

t.test('summary: testAccuracy from the last test evaluation, validation and dead channels beside it', async (t) => {
  const dead = { layer: 'conv1', dead: 3, channels: 32 };
  const test: TrainEvent = { type: 'evalEnd', epoch: 0, step: 2, split: 'test', testLoss: 0.5, testAccuracy: 0.8, images: 30, ms: 1, deadChannels: dead };
  const validation: TrainEvent = { type: 'evalEnd', epoch: 0, step: 2, split: 'validation', testLoss: 0.7, testAccuracy: 0.6, images: 10, ms: 1 };
  // The validation evaluation comes last, as in fashion-mnist's order of events.
  const s = summarize([fitEnd, test, validation], undefined, 'p');
  t.match(s, { testAccuracy: 0.8, testLoss: 0.5, validationAccuracy: 0.6, validationLoss: 0.7, deadChannels: dead });
  const old = summarize([fitEnd, evalEnd(1)], undefined, 'p');
  t.match(old, { testAccuracy: 0.8, validationAccuracy: null, validationLoss: null, deadChannels: null }, 'an evalEnd without split is a test evaluation');
  t.match(summarize([fitEnd, validation], undefined, 'p'), { testAccuracy: null, validationAccuracy: 0.6 }, 'a validation evaluation is never the test accuracy');
});
