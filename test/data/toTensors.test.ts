import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { from, range, map, take, firstValueFrom, concat, throwError } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import type { Sample, TensorBatch } from '../../src/data/types.js';
import { batch } from '../../operators/batch.js';
import { toTensors } from '../../operators/toTensors.js';
import { prefetch } from '../../operators/prefetch.js';
import { concatMapOnDemand } from '../../operators/concatMapOnDemand.js';
import { collect, streamError } from './fixtures.js';

await useBackend('cpu');

const sample = (i: number, shape: [number, number, number] = [2, 2, 1]): Sample => ({
  key: `k${i}`,
  image: Uint8Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, j) => (i * 10 + j) % 256),
  shape,
  label: i % 10,
});
const samples = (n: number) => range(0, n).pipe(map((i) => sample(i)));
const dispose = (b: TensorBatch) => tf.dispose([b.x, b.y]);

t.test('toTensors: shapes, dtypes, values; the consumer disposes', async (t) => {
  await assertNoLeak(t, 'toTensors', async () => {
    const batches = await collect(samples(5).pipe(batch({ size: 2 }), toTensors()));
    t.same(batches.map((b) => b.x.shape), [[2, 2, 2, 1], [2, 2, 2, 1], [1, 2, 2, 1]]);
    t.equal(batches[0]!.x.dtype, 'float32');
    t.equal(batches[0]!.y.dtype, 'int32');
    t.same(Array.from(batches[1]!.y.dataSync()), [2, 3]);
    t.same(batches[1]!.keys, ['k2', 'k3']);
    const x = batches[0]!.x.dataSync();
    t.ok(Math.abs(x[5]! - 11 / 255) < 1e-6, 'bytes scaled to [0, 1]');
    batches.forEach(dispose);
  });
  await assertNoLeak(t, 'float images and uint8Scale', async () => {
    const f: Sample = { key: 'f', image: Float32Array.from([-1, 0.5, 2, 3]), shape: [2, 2, 1], label: 4 };
    const [b] = await collect(from([[f]]).pipe(toTensors()));
    t.same(Array.from(b!.x.dataSync()), [-1, 0.5, 2, 3], 'floats as they are');
    dispose(b!);
    const [c] = await collect(from([[sample(1)]]).pipe(toTensors({ uint8Scale: 1 })));
    t.same(Array.from(c!.x.dataSync()), [10, 11, 12, 13]);
    dispose(c!);
  });
});

t.test('toTensors: mismatched shapes are a clear error, and nothing leaks', async (t) => {
  await assertNoLeak(t, 'mismatch', async () => {
    const e = await streamError(from([[sample(0), sample(1, [3, 2, 1])]]).pipe(toTensors()));
    t.match(e.message, 'toTensors: sample k1 has shape [3, 2, 1], the batch has [2, 2, 1]; give decodeImages a size');
  });
});

t.test('unsubscribing early disposes what was made but not delivered', async (t) => {
  await assertNoLeak(t, 'take(1) after prefetch', async () => {
    const first = await firstValueFrom(samples(100).pipe(batch({ size: 4 }), toTensors(), prefetch({ size: 3 })));
    dispose(first);
    await new Promise((r) => setTimeout(r, 20)); // let prefetch's outstanding pulls settle and be discarded
  });
  await assertNoLeak(t, 'concatMapOnDemand consumer, take(2)', async () => {
    const steps = await collect(
      samples(100).pipe(
        batch({ size: 4 }),
        toTensors(),
        prefetch({ size: 2 }),
        concatMapOnDemand(async (b) => {
          try {
            return b.y.shape[0];
          } finally {
            dispose(b);
          }
        }),
        take(2),
      ),
    );
    t.same(steps, [4, 4]);
    await new Promise((r) => setTimeout(r, 20));
  });
  await assertNoLeak(t, 'upstream error with batches held by prefetch', async () => {
    const boom = new Error('boom');
    const got: TensorBatch[] = [];
    const e = await streamError(
      concat(samples(8), throwError(() => boom)).pipe(batch({ size: 2 }), toTensors(), prefetch({ size: 3 }), map((b) => (got.push(b), b))),
    );
    t.equal(e, boom);
    got.forEach(dispose);
    await new Promise((r) => setTimeout(r, 20));
  });
});
