/**
 * `image-folder`: `--data` holds one sub-folder of images per class, or `train/` and `test/` (or
 * `val/`) folders that each do; or `--data` names tar shards on disk or over HTTP(S), with
 * WebDataset brace patterns (`'http://host/data/train-{0000..0099}.tar'`; the test shards are the
 * shards and the class names come from `shards.json` beside them, as `fgsgd make-shards` writes
 * them). Without a test split, every tenth image (by a hash of its key)
 * is held out for testing. Images are decoded with sharp and resized to the model's input (32×32
 * RGB by default; `d.inputShape` sets height, width and 1 or 3 channels); unreadable images are
 * skipped and counted (`--strict` fails instead). ResNet-20, FG-SGD by default.
 */
import { createHash } from 'node:crypto';
import { from, switchMap, type Observable } from 'rxjs';
import type { TrainEvent } from '../src/events.js';
import { createSkipCounter, type EncodedSample, type SkipCounter } from '../src/data/types.js';
import { isShardSpec, locateImageFolder, locateShards } from '../src/train/datasets.js';
import type { PipelineDefaults, RunOptions } from '../src/train/run.js';
import { UsageError } from '../src/usage.js';
import { readTarShards } from '../operators/readTarShards.js';
import { readImageFolder } from '../operators/readImageFolder.js';
import { shuffle } from '../operators/shuffle.js';
import { filterOnDemand } from '../operators/filterOnDemand.js';
import { decodeImages } from '../operators/decodeImages.js';
import { batch } from '../operators/batch.js';
import { toTensors } from '../operators/toTensors.js';
import { prefetch } from '../operators/prefetch.js';
import { supervised } from './common/supervised.js';

const SIZE = 32;

export const defaults: Omit<PipelineDefaults, 'numClasses'> = {
  model: 'resnet20',
  inputShape: [SIZE, SIZE, 3],
  epochs: 10,
  batch: 64,
  // FG-SGD with its default grouping and collection (PIO, Sp+Ob+St+Euc).
  optimizer: { optimizer: 'fgsgd', lr: 0.05, momentum: 0.9 },
};

/**
 * Decoding runs on a worker thread, so that it goes on while the synchronous training step (wasm)
 * blocks the main thread. With sharp called from the main thread (4 in flight), cnn-small on 28×28
 * PNGs stalled for 26–29% of its step time; on a worker, 2–4% (bench section `pipeline`).
 */
export const DECODE_WORKERS = 1;
/**
 * Images being decoded at once, in training batches: the worker can only decode during a step what
 * was requested before the step began (the main thread is blocked until it ends), so keep two
 * batches' worth requested.
 */
export const DECODE_AHEAD_BATCHES = 2;
/** Batches ready ahead of the trainer. */
export const PREFETCH_BATCHES = 2;
const EVAL_BATCH = 128;

/** Held out for testing when the data has no test folder: one image in ten, by path hash. */
const heldOut = (s: EncodedSample) => createHash('sha1').update(s.key).digest()[0]! % 10 === 0;

export default function imageFolder(o: RunOptions, d: Omit<PipelineDefaults, 'numClasses'> = defaults): Observable<TrainEvent> {
  if (!o.data) throw new UsageError(`pipeline 'image-folder': --data must name a folder with one sub-folder of images per class, or tar shards`);
  const data = o.data;
  if (o.validation !== undefined) throw new UsageError(`pipeline 'image-folder' does not support --validation (it is implemented for fashion-mnist, idx and default)`);
  const [height, width, channels] = d.inputShape;
  if (channels !== 1 && channels !== 3) throw new RangeError(`pipeline 'image-folder': inputShape must have 1 or 3 channels (got ${channels})`);
  // Counted per epoch (each epoch meets the same unreadable files again); test skips apart.
  let skipped = createSkipCounter();
  let testSkipped = createSkipCounter();
  const decode = (counter: SkipCounter, batchSize: number) =>
    decodeImages({ concurrent: DECODE_AHEAD_BATCHES * batchSize, workers: DECODE_WORKERS, size: [height, width], channels, strict: o.strict, skipped: counter });
  // Either source gives encoded samples (paths or bytes) with class ids; the rest is the same.
  const locate = async () => {
    if (isShardSpec(data)) {
      const { train, test, classes, trainSamples } = await locateShards(data);
      return { classes, hasTest: test !== undefined, trainSamples: test ? trainSamples : undefined, read: (split: 'train' | 'test') => readTarShards(split === 'test' && test ? test : train) };
    }
    const { train, test, classes } = await locateImageFolder(data);
    return { classes, hasTest: test !== undefined, trainSamples: undefined, read: (split: 'train' | 'test') => readImageFolder({ root: split === 'test' && test ? test : train, classes }) };
  };
  return from(locate()).pipe(
    switchMap(({ read, hasTest: test, classes, trainSamples }) =>
      supervised({
        options: o,
        defaults: { ...d, numClasses: classes.length },
        trainSamples,
        train: (plan, s) => {
          skipped = createSkipCounter();
          return read('train').pipe(
            filterOnDemand((x) => test || !heldOut(x)),
            shuffle({ bufferSize: 1_000_000, rng: plan.rng('shuffle') }),
            decode(skipped, s.batchSize),
            batch({ size: s.batchSize }),
            toTensors(),
            prefetch({ size: PREFETCH_BATCHES }),
          );
        },
        skippedSamples: () => skipped.count,
        evaluated: [
          {
            batches: () => {
              testSkipped = createSkipCounter();
              return read('test').pipe(filterOnDemand((x) => test || heldOut(x)), decode(testSkipped, EVAL_BATCH), batch({ size: EVAL_BATCH }), toTensors());
            },
            skippedSamples: () => testSkipped.count,
          },
        ],
      }),
    ),
  );
}
