/**
 * The data side's memory bound (src/data/README.md): however fast the source, a pipeline
 * `source → decodeImages({ concurrent: c }) → prefetch({ size: p })` with a slow consumer holds at
 * most p + c items between the source and the end of the consumer's work on an item.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { concatMap, take, toArray, lastValueFrom } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { iterate, pullable } from '../../src/pull.js';
import type { EncodedSample } from '../../src/data/types.js';
import { decodeImages } from '../../operators/decodeImages.js';
import { prefetch } from '../../operators/prefetch.js';
import { batch } from '../../operators/batch.js';
import { toTensors } from '../../operators/toTensors.js';
import { concatMapOnDemand } from '../../operators/concatMapOnDemand.js';
import { encodeImage, pattern } from './fixtures.js';

await useBackend('cpu');

const SOURCE_ITEMS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A source that could produce 10 000 encoded images at once, instrumented. */
async function instrumented() {
  const png = await encodeImage(pattern(4, 4, 3), [4, 4, 3]);
  const m = { produced: 0, finished: 0, maxInFlight: 0 };
  const source = pullable<EncodedSample>(async function* () {
    for (let i = 0; i < SOURCE_ITEMS; i++) {
      m.produced++;
      m.maxInFlight = Math.max(m.maxInFlight, m.produced - m.finished);
      yield { key: `k${i}`, label: 0, bytes: png, source: `mem/${i}.png` };
    }
  });
  return { source, m };
}

for (const [c, p] of [[1, 1], [4, 2], [3, 8]] as const) {
  t.test(`decode(concurrent ${c}) → prefetch(${p}) → slow consumer: in flight ≤ ${p + c}`, async (t) => {
    const { source, m } = await instrumented();
    const consumed = await lastValueFrom(
      source.pipe(
        decodeImages({ concurrent: c }),
        prefetch({ size: p }),
        concatMapOnDemand(async (s) => {
          await sleep(3); // a training step, much slower than decoding
          m.finished++;
          return s.key;
        }),
        take(40),
        toArray(),
      ),
    );
    t.equal(consumed.length, 40);
    t.same(consumed.slice(0, 3), ['k0', 'k1', 'k2'], 'in order');
    t.ok(m.maxInFlight <= p + c, `max in flight ${m.maxInFlight} ≤ prefetch + concurrent = ${p + c}`);
    t.ok(m.maxInFlight >= p, `the prefetch was used (max in flight ${m.maxInFlight})`);
    await sleep(20);
    t.ok(m.produced <= 40 + p + c, `the source was not drained: ${m.produced} of ${SOURCE_ITEMS} produced`);
  });
}

t.test('for-await and synchronous subscribers are bounded the same way', async (t) => {
  const { source, m } = await instrumented();
  let n = 0;
  for await (const _ of iterate(source.pipe(decodeImages({ concurrent: 4 }), prefetch({ size: 2 })))) {
    await sleep(2);
    m.finished++;
    if (++n === 30) break;
  }
  t.ok(m.maxInFlight <= 6, `for await: max in flight ${m.maxInFlight} ≤ 6`);

  const s = await instrumented();
  await new Promise<void>((resolve) => {
    const sub = s.source.pipe(decodeImages({ concurrent: 4 }), prefetch({ size: 2 })).subscribe((v) => {
      s.m.finished++; // synchronous consumer: done when next returns
      if (v.key === 'k300') {
        sub.unsubscribe();
        resolve();
      }
    });
  });
  t.ok(s.m.maxInFlight <= 6, `sync subscriber: max in flight ${s.m.maxInFlight} ≤ 6`);
});

t.test('with batching and tensors: bounded by (prefetch + 1) · batch + concurrent; no leaks', async (t) => {
  const B = 8;
  const c = 4;
  const p = 2;
  await assertNoLeak(t, 'batched pipeline', async () => {
    const { source, m } = await instrumented();
    const steps = await lastValueFrom(
      source.pipe(
        decodeImages({ concurrent: c }),
        batch({ size: B }),
        toTensors(),
        prefetch({ size: p }),
        concatMapOnDemand(async (b) => {
          await sleep(5);
          m.finished += b.keys.length;
          tf.dispose([b.x, b.y]);
          return b.keys.length;
        }),
        take(10),
        toArray(),
      ),
    );
    t.same(steps, Array(10).fill(B));
    const bound = (p + 1) * B + c;
    t.ok(m.maxInFlight <= bound, `max in flight ${m.maxInFlight} samples ≤ ${bound}`);
    await sleep(30);
  });
});

t.test('the instrument can fail: a plain concatMap consumer lets the source run away', async (t) => {
  const { source, m } = await instrumented();
  await lastValueFrom(
    source.pipe(
      prefetch({ size: 2 }),
      concatMap(async (s) => {
        await sleep(5);
        m.finished++;
        return s;
      }),
      take(30),
      toArray(),
    ),
  );
  t.ok(m.maxInFlight > 1000, `unbounded without demand: ${m.maxInFlight} in flight`);
});
