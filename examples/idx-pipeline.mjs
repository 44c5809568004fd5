// A training pipeline of your own, from IDX files to a trained, evaluated and saved model.
//
//   node examples/idx-pipeline.mjs [OUT_DIR] [IDX_DIR]
//
// IDX_DIR holds the four (Fashion-)MNIST files; by default the subset that ships with the package.
// MAX_STEPS (environment) stops early, for a quick try.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { from, pipe, switchMap } from 'rxjs';
import {
  batch, checkpoint, evaluate, fit, forwardBackward, locateIdx, logMetrics, manifoldStep, prefetch,
  readIdx, renormalize, runPipeline, saveModel, sessionOptions, shuffle, toTensors, withSession,
} from 'fgsgd';

const packageDir = dirname(fileURLToPath(import.meta.resolve('fgsgd/package.json')));
const out = process.argv[2] ?? 'runs/idx-example';
const data = process.argv[3] ?? join(packageDir, 'data', 'fashion-mnist-subset');

/** What this pipeline fixes; every RunOptions field (CLI option) can override it. */
const defaults = {
  model: 'cnn-small',
  inputShape: [28, 28, 1],
  numClasses: 10,
  epochs: 1,
  batch: 64,
  optimizer: { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp+Ob+St+Euc', lr: { name: 'cosine', lr: 0.1, totalSteps: 0 }, momentum: 0.9, weightDecay: 5e-4 },
};

/** The pipeline: options in, an Observable of training events out, read top to bottom. */
function myPipeline(o) {
  return from(locateIdx(o.data)).pipe(
    switchMap(({ train, test, trainSamples }) =>
      withSession(sessionOptions(o, defaults, { trainSamples }), (s) =>
        fit({
          session: s,
          batches: (plan) => readIdx(train).pipe(shuffle({ bufferSize: 10_000, rng: plan.rng('shuffle') }), batch({ size: s.batchSize }), toTensors(), prefetch({ size: 2 })),
          step: pipe(forwardBackward({ model: s.model, observe: (x) => s.optimizer.observe(x) }), manifoldStep({ optimizer: s.optimizer, configs: s.configs })),
          samplesPerEpoch: trainSamples,
        }).pipe(
          renormalize({ optimizer: s.optimizer }),
          evaluate({ model: s.model, batches: () => readIdx(test).pipe(batch({ size: 500 }), toTensors()) }),
          checkpoint({ dir: o.out, capture: (p) => s.capture(p) }),
          saveModel({ model: s.model, dir: join(o.out, 'model') }),
          logMetrics({ dir: o.out }),
        ),
      ),
    ),
  );
}

// runPipeline subscribes, then writes summary.json and report.md. backend 'auto': the native
// TensorFlow backend where it is installed, else WebAssembly.
const maxSteps = process.env.MAX_STEPS ? Number(process.env.MAX_STEPS) : undefined;
const { summary, exitCode } = await runPipeline(myPipeline, { data, out, maxSteps, backend: 'auto', pipeline: 'idx-example' });
console.log(`test accuracy ${summary.testAccuracy} after ${summary.steps} steps on ${summary.backend}; model in ${summary.modelPath}`);
process.exit(exitCode);
