/**
 * Renormalization: λ from captured layer inputs, ℜ = γ·min(1/λ, B), every constrained group's
 * norms ≤ B after stage (i)/(ii) and through training, the spectral norms against an independent
 * eigen-solver, and the norms report.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { fgsgd } from '../../src/fgsgd/setup.js';
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

t.test('after renormalization every constrained group’s norms are ≤ B, and stay there through training', async (t) => {
  for (const bound of [1, 0.5]) {
    await assertNoLeak(t, `bound ${bound}`, () => {
      const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 1 });
      const { x, y } = blobData(32, [8, 8, 1], 1);
      // Scale the inputs down so that 1/λ is large and the cap at B is what bounds the norms.
      const small = tf.mul(x, 0.1);
      const { grouping, optimizer, renormalizer } = fgsgd(model, {
        grouping: { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 1 },
        optimizer: { lr: 0.05, momentum: 0.9, bound },
        renormalize: { refreshEvery: { steps: 3 } },
        firstBatch: small,
      });
      const check = (when: string) => {
        const m = constrainedMax(normsReport(grouping));
        t.ok(m.frobenius <= bound + NORM_TOL, `B = ${bound}, ${when}: Frobenius ${m.frobenius.toFixed(6)} ≤ B`);
        t.ok(m.spectral <= bound + NORM_TOL, `B = ${bound}, ${when}: spectral ${m.spectral.toFixed(6)} ≤ B`);
        return m;
      };
      const m0 = check('after stages (i) and (ii)');
      t.ok(m0.frobenius > bound - 1e-4, `B = ${bound}: the cap is reached (tight bound)`);
      for (let step = 1; step <= 6; step++) {
        trainStep(model, optimizer, small, y);
        renormalizer.observe(small);
        renormalizer.onStep(step);
      }
      check('after 6 steps and 2 refreshes');
      t.equal(optimizer.skippedGroupUpdates, 0, 'no group update was skipped');
      renormalizer.dispose();
      optimizer.dispose();
      model.dispose();
      tf.dispose([x, y, small]);
    });
  }
});

t.test('without the cap, ℜ = γ/λ exceeds B for small inputs (the cap is what bounds the norms)', async (t) => {
  await assertNoLeak(t, 'no cap', () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 1 });
    const { x, y } = blobData(32, [8, 8, 1], 1);
    const small = tf.mul(x, 0.1);
    const { grouping, optimizer, renormalizer } = fgsgd(model, {
      grouping: { manifolds: 'Sp', seed: 1 },
      optimizer: { lr: 0.05, cap: false },
      firstBatch: small,
    });
    t.ok(constrainedMax(normsReport(grouping)).frobenius > 1.5, 'some kernel norm is > 1 without the cap');
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y, small]);
  });
});

t.test('λ is the std of each input channel over batch × space; ℜ = γ·min(1/λ, B); weights follow ℜ', async (t) => {
  await assertNoLeak(t, 'lambda', () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 2], numClasses: 4, seed: 2 });
    const { x } = tf.tidy(() => {
      const b = blobData(16, [8, 8, 2], 2);
      b.y.dispose();
      return { x: tf.mul(b.x, tf.tensor1d([0.2, 3])) }; // channel 0: small std, channel 1: large
    });
    const { optimizer, renormalizer, grouping } = fgsgd(model, {
      grouping: { strategy: 'PI', manifolds: 'Sp', seed: 2 },
      optimizer: { lr: 0.05, bound: 2 },
      renormalize: { momentum: 0.9 },
      firstBatch: x,
    });
    const want = tf.tidy(() => tf.sqrt(tf.moments(x, [0, 1, 2]).variance).dataSync());
    const lam = renormalizer.lambdas()['conv1/kernel']!;
    t.ok(Math.abs(lam[0]! - want[0]!) < 1e-5 && Math.abs(lam[1]! - want[1]!) < 1e-5, `λ(conv1) = [${lam}] = std per channel [${want}]`);
    const conv1 = grouping.kernels.find((k) => k.layerName === 'conv1')!;
    const radii = optimizer.radii('conv1/kernel')!;
    const norms = tf.tidy(() => tf.norm(tf.transpose(model.getLayer('conv1').getWeights()[0]!, [2, 3, 0, 1]), 'euclidean', [2, 3]).reshape([-1]).dataSync());
    let ok = true;
    for (let n = 0; n < radii.length; n++) {
      const c = Math.floor(n / conv1.outUnits);
      const r = Math.min(1 / lam[c]!, 2);
      ok &&= Math.abs(radii[n]! - r) < 1e-5 && Math.abs(norms[n]! - r) < 1e-4;
    }
    t.ok(ok, 'every conv1 kernel has ‖ω‖ = ℜ = min(1/λ_c, B) (channel 0 capped at B = 2, channel 1 at 1/λ)');
    // A refresh with new statistics rescales by ℜnew/ℜold.
    const x2 = tf.mul(x, 2);
    renormalizer.observe(x2);
    renormalizer.refresh();
    const lam2 = renormalizer.lambdas()['conv1/kernel']!;
    const norms2 = tf.tidy(() => tf.norm(tf.transpose(model.getLayer('conv1').getWeights()[0]!, [2, 3, 0, 1]), 'euclidean', [2, 3]).reshape([-1]).dataSync());
    t.ok(Math.abs(lam2[1]! - Math.sqrt(0.9 * lam[1]! ** 2 + 0.1 * (2 * lam[1]!) ** 2)) < 1e-4, 'λ² is a moving average (momentum 0.9)');
    t.ok(Math.abs(norms2[1]! - Math.min(1 / lam2[0]!, 2)) < 1e-4, 'channel 0 kernels: ℜ = min(1/λ, B) after the refresh');
    t.ok(Math.abs(norms2[conv1.outUnits]! - 1 / lam2[1]!) < 1e-4, 'channel 1 kernels follow 1/λ');
    const report = normsReport(grouping);
    t.same(Object.keys(maxNormByGroupKind(report)), ['Sp'], 'maxNormByGroupKind has one entry per manifold type in use');
    t.ok(report.layers.every((l) => Number.isFinite(l.log10BoundProduct.frobenius)), 'bound products are reported per layer');
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, x2]);
  });
});

t.test('getState/setState: the running statistics round-trip exactly, as copies, and bad states are refused', async (t) => {
  await assertNoLeak(t, 'renormalizer state', () => {
    const model = buildModel('cnn-small', { inputShape: [8, 8, 1], numClasses: 4, seed: 3 });
    const { x, y } = blobData(16, [8, 8, 1], 3);
    const { optimizer, renormalizer } = fgsgd(model, {
      grouping: { strategy: 'PIO', manifolds: 'Sp+Ob+St+Euc', seed: 3 },
      optimizer: { lr: 0.05 },
      firstBatch: x,
    });
    const x2 = tf.mul(x, 1.7);
    renormalizer.observe(x2);
    const state = renormalizer.getState();
    t.ok(state.running.length > 0 && state.running.every((r) => r instanceof Float32Array), 'one typed array per captured input');

    const fresh = new Renormalizer(model, optimizer);
    t.notOk(fresh.hasStatistics, 'a new renormalizer has no statistics');
    t.same(fresh.getState().running, state.running.map(() => null), 'and its state says so, with the same count');
    fresh.setState(state);
    t.ok(fresh.hasStatistics);
    t.same(fresh.lambdas(), renormalizer.lambdas(), 'the same λ after setState');
    state.running[0]![0] = 1e6;
    t.same(fresh.getState(), renormalizer.getState(), 'setState copied its input, and getState returns copies');
    // The same update from the same statistics gives bit-identical results.
    renormalizer.observe(x);
    fresh.observe(x);
    t.same(fresh.getState(), renormalizer.getState(), 'the same statistics after one more batch');

    t.throws(() => fresh.setState({ running: [] }), /captures? \d+ inputs/, 'a wrong count is refused');
    const wrong = fresh.getState();
    wrong.running[0] = new Float32Array(wrong.running[0]!.length + 1);
    t.throws(() => fresh.setState(wrong), /channels/, 'a wrong channel count is refused');
    t.same(fresh.getState(), renormalizer.getState(), 'a refused state leaves the statistics as they were');

    fresh.dispose();
    renormalizer.dispose();
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y, x2]);
  });
});
