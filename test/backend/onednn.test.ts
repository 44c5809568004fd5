/**
 * The `onednn` backend (src/backend/onednn.ts): wasm with its convolutions on oneDNN.
 * - `initBackend('onednn')` reports itself and oneDNN's version; 'auto' never picks it; another
 *   backend turns the native convolutions off;
 * - a step routes every convolution to the binding (counted), and its loss and gradients equal the
 *   wasm step's within float32 tolerance;
 * - cnn-small and resnet20 train (the loss falls) without leaking, and a run is deterministic for a
 *   given machine;
 * - bad arguments to the binding and a failed build are reported with what to do.
 *
 * Kernel-level parity with the cpu backend is in wasm_kernels.test.ts, and replicas on onednn in
 * test/train/replicas.test.ts (both engines each).
 * Where the binding is not built, the file is skipped with the reason; `.ci/run` builds it.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../src/backend/index.js';
import { activeOnednn, loadOnednnBinding, setOnednn } from '../../src/backend/onednn.js';
import { buildModel } from '../../src/models/index.js';
import { lossAndGrads, trainableVariables, trainStep } from '../../src/train/step.js';
import { assertNoLeak, assertStepsDoNotLeak } from '../helpers/leak.js';
import { blobData } from '../fgsgd/helpers.js';

process.env.FGSGD_LOG_LEVEL ??= 'silent';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

let missing = '';
try {
  loadOnednnBinding();
} catch (e) {
  missing = (e as Error).message;
}

t.test('a failed build says what to install and does not fail the install; --strict fails', async (t) => {
  // A compiler that does not exist: the script stops before touching build/onednn.node.
  const env = { ...process.env, CXX: '/nonexistent/c++' };
  const soft = spawnSync(process.execPath, [join(ROOT, 'native/build.mjs')], { env, encoding: 'utf8' });
  t.equal(soft.status, 0, 'npm ci goes on');
  t.match(soft.stdout, /onednn binding not built: .*--backend onednn will be unavailable.*apt-get install libdnnl-dev g\+\+.*npm run build:native/);
  const strict = spawnSync(process.execPath, [join(ROOT, 'native/build.mjs'), '--strict'], { env, encoding: 'utf8' });
  t.equal(strict.status, 1, '--strict (npm run build:native) fails');
  t.match(strict.stderr, /onednn binding not built/);
});

t.test('onednn', { skip: missing || false }, async (t) => {
  t.test('initBackend reports onednn on wasm and its version; auto and other backends leave it off', async (t) => {
    const info = await initBackend('onednn');
    t.equal(info.name, 'onednn');
    t.equal(info.tfBackend, 'wasm');
    t.match(info.onednn, /^\d+\.\d+\.\d+ /);
    t.ok(activeOnednn(), 'native convolutions on');
    await initBackend('wasm');
    t.equal(activeOnednn(), undefined, "'wasm' turns them off");
    const auto = await initBackend('auto');
    t.not(auto.name, 'onednn', "'auto' never picks onednn");
    t.equal(activeOnednn(), undefined);
  });

  t.test('a step routes every convolution to oneDNN and equals the wasm step', async (t) => {
    const run = async (backend: 'wasm' | 'onednn') => {
      await initBackend(backend);
      const native = activeOnednn();
      const kinds = [0, 0, 0];
      const conv = native?.conv;
      if (native && conv) native.conv = (kind, ...rest) => { kinds[kind]!++; conv.call(native, kind, ...rest); };
      try {
        return await assertNoLeak(t, `${backend} step`, () => {
          const model = buildModel('resnet20', { inputShape: [16, 16, 3], numClasses: 4, seed: 5 });
          const { x, y } = blobData(6, [16, 16, 3], 4);
          const { value, grads } = lossAndGrads(model, x, y);
          // In variable order: the two models' variables have different names.
          const out = { loss: value.dataSync()[0]!, grads: trainableVariables(model).map((v) => grads[v.name]!.dataSync().slice()), kinds };
          tf.dispose([x, y, value, ...Object.values(grads)]);
          model.dispose();
          return out;
        });
      } finally {
        if (native && conv) native.conv = conv;
      }
    };
    const wasm = await run('wasm');
    const onednn = await run('onednn');
    t.same(wasm.kinds, [0, 0, 0], 'wasm calls no native convolution');
    // resnet20: 21 convolutions (19 3×3 and 2 projections), all FusedConv2D (linear, no bias), whose
    // gradient in tfjs takes the input's gradient too, even the first layer's.
    t.same(onednn.kinds, [21, 21, 21], 'onednn: every forward, input-gradient and filter-gradient convolution is native');
    t.ok(Math.abs(onednn.loss - wasm.loss) <= 1e-5 * Math.abs(wasm.loss), `loss ${onednn.loss} = ${wasm.loss}`);
    let worst = 0;
    t.equal(onednn.grads.length, wasm.grads.length);
    for (const [k, g] of wasm.grads.entries()) {
      const o = onednn.grads[k]!;
      const scale = Math.max(...Array.from(g, Math.abs), 1e-12);
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(o[i]! - g[i]!) / scale);
    }
    t.ok(worst < 1e-4, `every gradient within 1e-4 of its largest entry (worst ${worst.toExponential(2)})`);
  });

  t.test('cnn-small and resnet20 train on onednn, without leaks, deterministically', async (t) => {
    await initBackend('onednn');
    for (const [name, shape] of [['cnn-small', [28, 28, 1]], ['resnet20', [16, 16, 3]]] as const) {
      const train = () => assertNoLeak(t, `${name}: build, train, dispose`, async () => {
        const model = buildModel(name, { inputShape: [...shape], numClasses: 4, seed: 2 });
        const optimizer = tf.train.sgd(0.05);
        const { x, y } = blobData(16, [...shape], 9);
        const losses: number[] = [];
        await assertStepsDoNotLeak(t, `${name} trainStep`, 7, () => losses.push(trainStep(model, optimizer, x, y)));
        const weights = model.getWeights().map((w) => w.dataSync().slice());
        tf.dispose([x, y]);
        optimizer.dispose();
        model.dispose();
        return { losses, weights };
      });
      const a = await train();
      t.ok(a.losses.every(Number.isFinite), `${name}: finite losses`);
      t.ok(a.losses.at(-1)! < a.losses[0]!, `${name}: the loss falls (${a.losses[0]!.toFixed(3)} → ${a.losses.at(-1)!.toFixed(3)})`);
      const b = await train();
      t.same(b.losses, a.losses, `${name}: the same losses, run again`);
      t.ok(b.weights.every((w, i) => w.every((v, j) => Object.is(v, a.weights[i]![j]))), `${name}: bit-identical weights, run again`);
    }
  });

  t.test('the binding checks what it is given', async (t) => {
    const b = loadOnednnBinding();
    const p = Int32Array.of(1, 4, 4, 1, 3, 3, 2, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1);
    const f = (n: number) => new Float32Array(n);
    t.throws(() => b.conv(0, f(16), f(18), f(31), p), /argument 4 holds 31 floats, the shape needs 32/);
    t.throws(() => b.conv(3 as 0, f(16), f(18), f(32), p), /kind must be 0/);
    t.throws(() => b.conv(0, f(16), f(18), f(32), Int32Array.of(1, 2)), /params must be an Int32Array of 17/);
    t.doesNotThrow(() => b.conv(0, f(16), f(18), f(32), p), 'a well-formed call');
  });

  t.teardown(() => setOnednn(false));
});

t.test('the CLI takes --backend onednn', async (t) => {
  const help = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bin/fgsgd.js'), 'train', '--help'], { encoding: 'utf8' });
  t.match(help, /--backend NAME +auto\|tensorflow-gpu\|tensorflow\|webgpu\|onednn\|wasm\|cpu/);
});
