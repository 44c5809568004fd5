import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { tap } from 'rxjs';
import { initBackend } from '../../src/backend/index.js';
import { analyseSoak, RSS_TARGET_MB, soak, type SoakSample } from '../../bench/sections/soak.js';
import { assertNoLeak } from '../helpers/leak.js';

const series = (n: number, f: (i: number) => Partial<SoakSample>): SoakSample[] =>
  Array.from({ length: n }, (_, i) => ({ step: (i + 1) * 10, tensors: 40, rssMB: 300, heapMB: 50, tensorMB: 5, ...f(i) }));

t.test('analyseSoak judges the series', (t) => {
  const flat = analyseSoak(series(100, (i) => ({ tensors: 40 + (i % 3), rssMB: 300 + (i % 7) })), 1000);
  t.match(flat, { tensorsFlat: true, ok: true, warmupSteps: 100, tensorsMin: 40, tensorsMax: 42 }, 'bounded wobble is flat');
  const leak = analyseSoak(series(100, (i) => ({ tensors: 40 + Math.floor(i / 10) })), 1000);
  t.match(leak, { tensorsFlat: false, ok: false }, 'one tensor more every 100 steps is a leak');
  const rss = analyseSoak(series(100, (i) => ({ rssMB: 300 + i * 0.6 })), 1000);
  t.ok(rss.rssGrowthMB >= RSS_TARGET_MB && !rss.ok, `RSS growing by ${rss.rssGrowthMB} MB misses the target`);
  t.ok(rss.tensorsFlat, 'the tensors are judged apart from RSS');
  t.throws(() => analyseSoak(series(5, () => ({})), 1000), /too few to judge/);
  t.end();
});

t.test('a short soak of the real default pipeline is flat, and an injected leak is caught', async (t) => {
  await initBackend('wasm');
  const clean = await assertNoLeak(t, 'soak', () => soak({ steps: 200, sampleEvery: 10 }));
  t.equal(clean.samples.length, 20, 'one sample every 10 steps');
  t.ok(clean.analysis.tensorsFlat, `tensors alive between steps: ${clean.analysis.tensorsMin}–${clean.analysis.tensorsMax}`);
  const leaked: tf.Tensor[] = [];
  const leaky = await soak({ steps: 200, sampleEvery: 10, inspect: tap((e) => e.type === 'batchEnd' && leaked.push(tf.scalar(e.loss))) });
  t.notOk(leaky.analysis.tensorsFlat, `a tensor kept per step shows: ${leaky.analysis.tensorsFirstQuarterMax} → ${leaky.analysis.tensorsLastQuarterMax}`);
  tf.dispose(leaked);
});
