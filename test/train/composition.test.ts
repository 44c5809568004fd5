/**
 * Demand-preserving composition is a matter of types: `fit`'s data and step, and the event stream
 * a pipeline builds in `withSession`, must be pull-through streams. A plain RxJS operator in any
 * of those places does not compile (the `@ts-expect-error` lines below fail `tsc` if it ever
 * does). At run time: a step operator that answers asynchronously is fine (it is pulled), and a
 * pipe of pull operators stays pull-capable while one plain operator makes it push-only.
 */
import t from 'tap';
import { delay, filter, lastValueFrom, map, of, pipe, toArray } from 'rxjs';
import { useBackend } from '../helpers/backend.js';
import { assertNoLeak } from '../helpers/leak.js';
import { makeSamples, testBatches, trainBatches } from './fixtures.js';
import { defaults } from './tiny-pipeline.js';
import { fit, type PositionedBatch } from '../../src/train/fit.js';
import { withSession, type Session } from '../../src/train/session.js';
import { sessionOptions } from '../../src/train/run.js';
import { isPullable, onDemand, passThrough, pullable } from '../../src/pull.js';
import { forwardBackward } from '../../operators/forwardBackward.js';
import { manifoldStep } from '../../operators/manifoldStep.js';
import { renormalize } from '../../operators/renormalize.js';
import { evaluate } from '../../operators/evaluate.js';
import { batch } from '../../operators/batch.js';
import type { TensorBatch } from '../../src/data/types.js';
import type { TrainEvent } from '../../src/events.js';

await useBackend('wasm');

const options = (over: Partial<Parameters<typeof sessionOptions>[0]> = {}) => ({ ...sessionOptions({ out: '', seed: 1, ...over }, defaults), backend: null });
const samples = makeSamples(32);
const step = (s: Session) => pipe(forwardBackward({ model: s.model }), manifoldStep({ optimizer: s.optimizer }));

/** Never called: what must and must not compile. */
export function compositions(s: Session): void {
  const batches = trainBatches(samples, 8);
  // Fine: pull operators all the way.
  withSession(options(), (s) => fit({ session: s, batches, step: step(s) }).pipe(renormalize({ optimizer: s.optimizer }), passThrough()));
  withSession(options(), (s) =>
    // @ts-expect-error a plain RxJS operator after fit makes the event stream push-only
    fit({ session: s, batches, step: step(s) }).pipe(renormalize({ optimizer: s.optimizer }), map((e) => e)),
  );
  // @ts-expect-error a plain operator in the step
  fit({ session: s, batches, step: pipe(forwardBackward({ model: s.model }), manifoldStep({ optimizer: s.optimizer }), filter(() => true)) });
  // @ts-expect-error a plain operator on the data side
  fit({ session: s, batches: (plan) => batches(plan).pipe(filter(() => true)), step: step(s) });
}

t.test('pipe of pull operators stays pull-capable; one plain operator makes it push-only', async (t) => {
  const source = pullable(async function* () {
    yield* [1, 2, 3, 4];
  });
  const pulled = source.pipe(batch({ size: 2 }), passThrough());
  const pushed = source.pipe(batch({ size: 2 }), map((b) => b));
  t.ok(isPullable(pulled), 'pull operators');
  t.notOk(isPullable(pushed), 'with map');
  t.same(await lastValueFrom(pulled.pipe(toArray())), [[1, 2], [3, 4]]);
});

t.test('a step operator that answers asynchronously trains, and the data side is pulled one batch per step', async (t) => {
  await assertNoLeak(t, 'async step', async () => {
    let pulls = 0;
    let delivered = 0;
    const counted = (plan: Parameters<ReturnType<typeof trainBatches>>[0]) =>
      trainBatches(samples, 8)(plan).pipe(
        onDemand<TensorBatch, TensorBatch>(() => ({
          handle: (b) => {
            pulls++;
            return [b];
          },
        })),
      );
    // An asynchronous stage in the step: each batch's events come a few ms later.
    const slow = onDemand<PositionedBatch<TensorBatch>, PositionedBatch<TensorBatch>>(() => ({
      handle: (b) => of(b).pipe(delay(3)),
    }));
    const events = await lastValueFrom(
      withSession(options({ epochs: 2 }), (s) =>
        fit({ session: s, batches: counted, step: pipe(slow, step(s)), samplesPerEpoch: samples.length }).pipe(
          evaluate({ model: s.model, batches: testBatches(samples) }),
          onDemand<TrainEvent, TrainEvent>(() => ({
            handle: (e) => {
              // When a batch's events arrive, the data side has handed out exactly that many batches.
              if (e.type === 'batchEnd') t.equal(pulls, ++delivered, `step ${e.step}: ${pulls} batches pulled`);
              return [e];
            },
          })),
        ),
      ).pipe(toArray()),
    );
    t.match(events.at(-1), { type: 'fitEnd', reason: 'completed', steps: 8 });
    t.ok(events.some((e) => e.type === 'evalEnd'));
  });
});
