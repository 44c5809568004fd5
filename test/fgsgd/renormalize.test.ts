/**
 * Renormalization: the radius policies (init: the initializer's norm; data: γ/λ from captured
 * layer inputs, clamped to a band; bound: every norm B) through stage (i)/(ii) and training, the spectral norms against an independent
 * eigen-solver, and the norms report.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { fgsgdParts } from './helpers.js';
import { maxNormByGroupKind, normsReport, Renormalizer, spectralNorms, type NormsReport } from '../../src/fgsgd/renormalize.js';
import { buildModel } from '../../src/models/index.js';
import { trainStep } from '../../src/train/step.js';
import { Rng } from '../../src/random.js';
import { blobData, jacobiEigenvalues } from './helpers.js';

await useBackend('wasm');

/** Norms are computed in float32: allow this much above the bound. */
const NORM_TOL = 1e-5;

/** Largest Frobenius and spectral norm over the constrained (non-Euclidean) groups. */
function constrainedMax(r: NormsReport): { frobenius: number; spectral: number } {
  let frobenius = 0;
  let spectral = 0;
  for (const l of r.layers) {
    for (const g of l.groups) {
      if (g.tag === 'Euc') continue;
      frobenius = Math.max(frobenius, g.frobenius);
      spectral = Math.max(spectral, g.spectral);
    }
  }
  return { frobenius, spectral };
}

t.test('spectral norms match an independent float64 Jacobi eigen-decomposition', async (t) => {
  await assertNoLeak(t, 'spectral norms', () => {
    const rng = Rng.create(1, 'test/spectral');
    for (const [r, c] of [[3, 3], [2, 2], [8, 4], [4, 8], [5, 1], [2, 3], [9, 9]] as const) {
      const B = 6;
      const data = Float32Array.from({ length: B * r * c }, () => 2 * rng.float() - 1);
      const got = tf.tidy(() => spectralNorms(tf.tensor3d(data, [B, r, c])).dataSync());
      for (let b = 0; b < B; b++) {
        const k = Math.min(r, c);
        const gram = new Float64Array(k * k);
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) {
            let s = 0;
            for (let e = 0; e < Math.max(r, c); e++) {
              const a = r >= c ? data[b * r * c + e * c + i]! : data[b * r * c + i * c + e]!;
              const d = r >= c ? data[b * r * c + e * c + j]! : data[b * r * c + j * c + e]!;
              s += a * d;
            }
            gram[i * k + j] = s;
          }
        }
        const want = Math.sqrt(Math.max(...jacobiEigenvalues(gram, k)));
        t.ok(Math.abs(got[b]! - want) <= 1e-4 * Math.max(1, want), `${r}×${c} #${b}: ${got[b]} vs ${want}`);
      }
    }
  });
});

t.test('bound:B: every constrained norm is B after stages (i)/(ii), and ≤ B through training', async (t) => {
  for (const bound of [1, 0.5]) {
    await assertNoLeak(t, `bound ${bound}`, async () => {
      const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 1 });
      const { x, y } = blobData(32, [8, 8, 1], 1);
      const { grouping, optimizer, renormalizer } = await fgsgdParts(model, {
        grouping: { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 1 },
        optimizer: { lr: 0.05, momentum: 0.9, radius: `bound:${bound}` },
        renormalize: { refreshEvery: { steps: 3 } },
        firstBatch: x,
      });
      const check = async (when: string) => {
        const m = constrainedMax(await normsReport(grouping));
        t.ok(m.frobenius <= bound + NORM_TOL, `B = ${bound}, ${when}: Frobenius ${m.frobenius.toFixed(6)} ≤ B`);
        t.ok(m.spectral <= bound + NORM_TOL, `B = ${bound}, ${when}: spectral ${m.spectral.toFixed(6)} ≤ B`);
        return m;
      };
      const m0 = await check('after stages (i) and (ii)');
      t.ok(m0.frobenius > bound - 1e-4, `B = ${bound}: the bound is reached (tight)`);
      for (let step = 1; step <= 6; step++) {
        trainStep(model, optimizer, x, y);
        renormalizer.observe(x);
        await renormalizer.onStep(step);
      }
      await check('after 6 steps and 2 refreshes');
      t.equal(await optimizer.skippedGroupUpdates(), 0, 'no group update was skipped');
      renormalizer.dispose();
      optimizer.dispose();
      model.dispose();
      tf.dispose([x, y]);
    });
  }
});

/** ‖ω‖_F of every component of a layer's kernel, in component order n = c·cout + d. */
function componentNorms(model: tf.LayersModel, layer: string): Float32Array {
  return tf.tidy(() => tf.norm(tf.transpose(model.getLayer(layer).getWeights()[0]!, [2, 3, 0, 1]), 'euclidean', [2, 3]).reshape([-1]).dataSync() as Float32Array);
}

t.test('init: stage (i) puts every constrained kernel at its initializer’s expected norm √(rows·cols·E[w²])', async (t) => {
  await assertNoLeak(t, 'init policy', async () => {
    // cnn-small: He-uniform convs (E[w²] = 2/fan_in), Glorot-uniform dense (2/(fan_in+fan_out)).
    const model = buildModel('cnn-small', { inputShape: [8, 8, 3], numClasses: 4, seed: 4 });
    const { optimizer, renormalizer, grouping } = await fgsgdParts(model, {
      grouping: { strategy: 'PIO', manifolds: 'Sp+Ob+St', seed: 4 },
      optimizer: { lr: 0.05 },
    });
    const want: Record<string, number> = {
      conv1: Math.sqrt(9 * (2 / (9 * 3))), // 3×3 components, fan_in 27
      conv2: Math.sqrt(9 * (2 / (9 * 32))),
    };
    for (const layer of ['conv1', 'conv2']) {
      const norms = componentNorms(model, layer);
      const worst = norms.reduce((w, v) => Math.max(w, Math.abs(v - want[layer]!)), 0);
      t.ok(worst <= 1e-5, `${layer}: every component's ‖ω‖_F = ${want[layer]!.toFixed(6)} (worst deviation ${worst.toExponential(2)})`);
    }
    // fc: [2·2·64 = 256, 4] in blocks of 8×4; Glorot-uniform: E[w²] = 2/(256 + 4).
    const fc = grouping.kernels.find((k) => k.layerName === 'fc')!;
    const blockNorm = Math.sqrt(fc.rows * fc.cols * (2 / (256 + 4)));
    const w = tf.tidy(() => tf.norm(model.getLayer('fc').getWeights()[0]!.reshape([fc.inUnits, fc.rows, fc.outUnits, fc.cols]).transpose([0, 2, 1, 3]), 'euclidean', [2, 3]).dataSync());
    t.ok(w.every((v) => Math.abs(v - blockNorm) <= 1e-5), `fc: every ${fc.rows}×${fc.cols} block has ‖ω‖_F = ${blockNorm.toFixed(6)}`);
    // A control: bound:1 gives other norms, so the check above is not vacuous.
    t.ok(Math.abs(1 - want.conv1!) > 0.1, 'the init norm differs from bound:1');
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
  });
});

t.test('data: an all-zero (dead) input channel keeps ℜ inside its band and training finite', async (t) => {
  await assertNoLeak(t, 'data policy, dead channel', async () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 2], numClasses: 4, seed: 5 });
    const { x, y } = tf.tidy(() => {
      const b = blobData(32, [8, 8, 2], 5);
      return { x: tf.mul(b.x, tf.tensor1d([1, 0])), y: b.y }; // channel 1 is all zero: λ = 0
    });
    const band = 2;
    const { optimizer, renormalizer, grouping } = await fgsgdParts(model, {
      grouping: { strategy: 'PI', manifolds: 'Sp', seed: 5 },
      optimizer: { lr: 0.05, momentum: 0.9, radius: `data:${band}` },
      renormalize: { refreshEvery: { steps: 2 } },
      firstBatch: x,
    });
    const conv1 = grouping.kernels.find((k) => k.layerName === 'conv1')!;
    const init = Math.sqrt(9 * (2 / (9 * 2)));
    t.equal((await renormalizer.lambdas())['conv1/kernel']![1], 0, 'λ of the dead channel is 0');
    const radii = optimizer.radii('conv1/kernel')!;
    const dead = radii.filter((_, n) => Math.floor(n / conv1.outUnits) === 1);
    t.ok(dead.every((r) => Math.abs(r - band * init) < 1e-5), `the dead channel's kernels sit at the band's top, ${(band * init).toFixed(4)} (not 1/λ_floor = 1e6)`);
    t.ok(radii.every((r) => r >= init / band - 1e-6 && r <= init * band + 1e-6), 'every ℜ lies in [init/band, init·band]');
    for (let step = 1; step <= 6; step++) {
      const loss = trainStep(model, optimizer, x, y);
      t.ok(Number.isFinite(loss), `step ${step}: finite loss ${loss.toFixed(4)}`);
      renormalizer.observe(x);
      await renormalizer.onStep(step);
    }
    const norms = componentNorms(model, 'conv1');
    t.ok(norms.every((v) => Number.isFinite(v) && v <= band * init + 1e-4), 'conv1 norms stay finite and within the band after refreshes');
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });
});

t.test('data: λ is the std of each input channel over batch × space; ℜ = γ·clamp(1/λ); weights follow ℜ', async (t) => {
  await assertNoLeak(t, 'lambda', async () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 2], numClasses: 4, seed: 2 });
    const { x } = tf.tidy(() => {
      const b = blobData(16, [8, 8, 2], 2);
      b.y.dispose();
      return { x: tf.mul(b.x, tf.tensor1d([0.2, 3])) }; // channel 0: small std, channel 1: large
    });
    const { optimizer, renormalizer, grouping } = await fgsgdParts(model, {
      grouping: { strategy: 'PI', manifolds: 'Sp', seed: 2 },
      // band 1e3 around the init norm √(9·2/18) = 1: [1e-3, 1e3] does not bind here.
      optimizer: { lr: 0.05, radius: 'data:1000' },
      renormalize: { momentum: 0.9 },
      firstBatch: x,
    });
    const want = tf.tidy(() => tf.sqrt(tf.moments(x, [0, 1, 2]).variance).dataSync());
    const lam = (await renormalizer.lambdas())['conv1/kernel']!;
    t.ok(Math.abs(lam[0]! - want[0]!) < 1e-5 && Math.abs(lam[1]! - want[1]!) < 1e-5, `λ(conv1) = [${lam}] = std per channel [${want}]`);
    const conv1 = grouping.kernels.find((k) => k.layerName === 'conv1')!;
    const radii = optimizer.radii('conv1/kernel')!;
    const norms = tf.tidy(() => tf.norm(tf.transpose(model.getLayer('conv1').getWeights()[0]!, [2, 3, 0, 1]), 'euclidean', [2, 3]).reshape([-1]).dataSync());
    let ok = true;
    for (let n = 0; n < radii.length; n++) {
      const c = Math.floor(n / conv1.outUnits);
      const r = 1 / lam[c]!;
      ok &&= Math.abs(radii[n]! - r) < 1e-5 && Math.abs(norms[n]! - r) < 1e-4;
    }
    t.ok(ok, 'every conv1 kernel has ‖ω‖ = ℜ = 1/λ_c');
    // A refresh with new statistics rescales by ℜnew/ℜold.
    const x2 = tf.mul(x, 2);
    renormalizer.observe(x2);
    await renormalizer.refresh();
    const lam2 = (await renormalizer.lambdas())['conv1/kernel']!;
    const norms2 = tf.tidy(() => tf.norm(tf.transpose(model.getLayer('conv1').getWeights()[0]!, [2, 3, 0, 1]), 'euclidean', [2, 3]).reshape([-1]).dataSync());
    t.ok(Math.abs(lam2[1]! - Math.sqrt(0.9 * lam[1]! ** 2 + 0.1 * (2 * lam[1]!) ** 2)) < 1e-4, 'λ² is a moving average (momentum 0.9)');
    t.ok(Math.abs(norms2[1]! - 1 / lam2[0]!) < 1e-4, 'channel 0 kernels: ℜ = 1/λ after the refresh');
    t.ok(Math.abs(norms2[conv1.outUnits]! - 1 / lam2[1]!) < 1e-4, 'channel 1 kernels follow 1/λ');
    const report = await normsReport(grouping);
    t.same(Object.keys(await maxNormByGroupKind(report)), ['Sp'], 'maxNormByGroupKind has one entry per manifold type in use');
    t.ok(report.layers.every((l) => Number.isFinite(l.log10BoundProduct.frobenius)), 'bound products are reported per layer');
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, x2]);
  });
});

t.test('getState/setState: the running statistics round-trip exactly, as copies, and bad states are refused', async (t) => {
  await assertNoLeak(t, 'renormalizer state', async () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 3 });
    const { x, y } = blobData(16, [8, 8, 1], 3);
    const { optimizer, renormalizer } = await fgsgdParts(model, {
      grouping: { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 3 },
      optimizer: { lr: 0.05, radius: 'data' },
      firstBatch: x,
    });
    const x2 = tf.mul(x, 1.7);
    renormalizer.observe(x2);
    const state = await renormalizer.getState();
    t.same(Object.keys(state.running), renormalizer.inputNames, 'one entry per captured input, by the name of the layer reading it');
    t.ok(renormalizer.inputNames.length > 0 && Object.values(state.running).every((r) => r instanceof Float32Array), 'typed arrays');

    const fresh = new Renormalizer(model, optimizer);
    t.notOk(fresh.hasStatistics, 'a new renormalizer has no statistics');
    t.same((await fresh.getState()).running, {}, 'and its state says so');
    fresh.setState(state);
    t.ok(fresh.hasStatistics);
    t.same(await fresh.lambdas(), await renormalizer.lambdas(), 'the same λ after setState');
    Object.values(state.running)[0]![0] = 1e6;
    t.same(await fresh.getState(), await renormalizer.getState(), 'setState copied its input, and getState returns copies');
    // The same update from the same statistics gives bit-identical results.
    renormalizer.observe(x);
    fresh.observe(x);
    t.same(await fresh.getState(), await renormalizer.getState(), 'the same statistics after one more batch');

    t.throws(() => fresh.setState({ running: { nope: new Float32Array(1) } }), /statistics of 'nope'; .* capture the inputs of/, 'an unknown input name is refused');
    const wrong = await fresh.getState();
    const first = renormalizer.inputNames[0]!;
    wrong.running[first] = new Float32Array(wrong.running[first]!.length + 1);
    t.throws(() => fresh.setState(wrong), /channels/, 'a wrong channel count is refused');
    t.same(await fresh.getState(), await renormalizer.getState(), 'a refused state leaves the statistics as they were');

    fresh.dispose();
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y, x2]);
  });
});
