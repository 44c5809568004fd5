/**
 * A training session: what one run shares between its operators — the backend, the model, the
 * optimizer, the data RNG streams, where training starts (0, or a checkpoint's position) and the
 * interrupt signal. Pipelines open one with `withSession`, which disposes it when the event stream
 * ends, errors or is unsubscribed.
 *
 * Tensor ownership: the session owns the model and the optimizer's slots; `dispose()` frees them.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { from, merge, NEVER, Observable, Subject, type Subscriber, type Subscription } from 'rxjs';
import { initBackend, type BackendInfo, type BackendName } from '../backend/index.js';
import { buildModel, type ModelOptions } from '../models/index.js';
import { readWeights, readLatestCheckpoint, restoreWeights, type Checkpoint, type EpochTotals } from '../checkpoint.js';
import type { Position, TrainEvent } from '../events.js';
import { describeConfig, sameConfig, TrainOptimizer, type OptimizerConfig, type ConfigChange, type ScheduledSwap } from './optimizer.js';
import { RngBank } from './rngs.js';
import { Replicas } from './replicas.js';
import { trainableVariables } from './step.js';
import { UsageError } from '../usage.js';
import { log } from '../log.js';
import type { PullObservable } from '../pull.js';

export interface SessionOptions {
  /** A model of the zoo (src/models: 'cnn-small', 'resnet20', ...), or a builder (tests, experiments). */
  model: string | ((options: ModelOptions) => tf.LayersModel);
  inputShape: [number, number, number];
  numClasses: number;
  seed: number;
  /** 'auto' (default), 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'; `null` keeps the active one. */
  backend?: BackendName | null;
  optimizer: OptimizerConfig;
  batchSize: number;
  epochs: number;
  maxSteps?: number;
  /** Output directory (metrics, checkpoints, report). */
  out?: string;
  /** Directory holding a checkpoint to continue from. */
  resume?: string;
  /** Hot-swaps: each value becomes the optimizer configuration at the next step boundary. */
  configs?: Observable<ConfigChange>;
  /** Scheduled hot-swaps (`--swap STEP:...`), each applied after its step. */
  swaps?: readonly ScheduledSwap[];
  /** Emits when the run must stop at the next step boundary, with a final checkpoint (Ctrl-C). */
  interrupt?: Observable<string>;
  /**
   * Model replicas for data-parallel training (src/train/replicas.ts), this thread's included;
   * default 1 (no worker threads). More than 1 needs a zoo model and the wasm or onednn backend.
   * 'auto': one per core where the run can have replicas, else 1 (logged, with the reason), and
   * no more than leave `MIN_AUTO_SHARD` images to each; the number used is `Session.workers`, and
   * checkpoints record it.
   */
  workers?: number | 'auto';
  /** Anything else worth recording in checkpoints (pipeline name, data dir, ...); JSON-safe. */
  run?: Record<string, unknown>;
}

export class Session {
  private readonly interrupts = new Subject<string>();
  /** Emits (once per request) when the run should stop at the next step boundary. */
  readonly interrupt$: Observable<string>;
  /**
   * Hot-swap configurations (never completes when none were given), for one subscriber at a time:
   * values sent while none is subscribed (between epochs) wait for the next one.
   */
  readonly configs: Observable<ConfigChange>;
  private readonly swaps?: SwapMailbox;
  /**
   * The current epoch's running sums, kept by `fit` and saved with mid-epoch checkpoints, so that a
   * resumed epoch's train loss and accuracy cover the whole epoch. Starts from the checkpoint's.
   */
  epochTotals: EpochTotals;

  constructor(
    readonly options: SessionOptions,
    readonly backend: BackendInfo | undefined,
    readonly model: tf.LayersModel,
    readonly optimizer: TrainOptimizer,
    readonly rngs: RngBank,
    readonly start: Position,
    readonly resumedFrom?: string,
    startTotals?: EpochTotals,
    /** The worker replicas of a data-parallel run (`workers` > 1). */
    readonly replicas?: Replicas,
  ) {
    this.epochTotals = startTotals && start.sampleIndex > 0 ? { ...startTotals } : { lossSum: 0, correctSum: 0, images: 0 };
    this.interrupt$ = merge(this.interrupts, options.interrupt ?? NEVER);
    this.swaps = options.configs ? new SwapMailbox(options.configs) : undefined;
    // Scheduled swaps are given again to every subscriber: manifoldStep applies each when its step
    // comes and drops those whose step has passed.
    this.configs = merge(from(options.swaps ?? []), this.swaps?.stream ?? NEVER);
  }

  get batchSize(): number {
    return this.options.batchSize;
  }

  get out(): string | undefined {
    return this.options.out;
  }

  /** The model's name (zoo name or the built model's). */
  get modelName(): string {
    return typeof this.options.model === 'string' ? this.options.model : this.model.name;
  }

  /** The backend's name as tfjs reports it. */
  get backendName(): string {
    return this.backend?.name ?? tf.getBackend();
  }

  /** Model replicas in use, this thread's included: 1 without worker threads. */
  get workers(): number {
    return this.replicas?.count ?? 1;
  }

  /** Ask the run to stop at the next step boundary (it then writes a final checkpoint). */
  interrupt(reason = 'interrupted'): void {
    this.interrupts.next(reason);
  }

  /**
   * Everything needed to continue from `position`. Every part is taken when it is called, so that
   * it is consistent with the step that produced `position`; the tensors' values are read back
   * asynchronously (every backend can, WebGPU included) before the promise resolves.
   */
  async capture(position: Position): Promise<Checkpoint> {
    const o = this.options;
    const weights = readWeights(this.model);
    const optimizer = this.optimizer.getState();
    const rng = this.rngs.statesAt(position);
    const epochTotals = { ...this.epochTotals };
    return {
      position,
      rng,
      run: {
        ...o.run,
        model: typeof o.model === 'string' ? o.model : o.model.name,
        inputShape: o.inputShape,
        numClasses: o.numClasses,
        seed: o.seed,
        batchSize: o.batchSize,
        // The number used ('auto' resolved), which --resume keeps.
        workers: this.workers,
        epochs: o.epochs,
        maxSteps: o.maxSteps,
      },
      weights: await weights,
      optimizer: await optimizer,
      // The epoch's sums up to `position` (fit updates them before it emits the step's event).
      ...(position.sampleIndex > 0 ? { epochTotals } : {}),
    };
  }

  private disposed = false;

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.swaps?.dispose();
    this.interrupts.complete();
    void this.replicas?.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/**
 * A run's hot-swap values for a consumer that subscribes once per epoch (`manifoldStep` inside
 * `fit`'s step): the source is subscribed for the whole run, and a value that arrives while no
 * consumer is subscribed (between two epochs, during an evaluation) is held and delivered, in
 * order, to the next subscriber, so that it is applied at the next step instead of lost.
 */
class SwapMailbox {
  private held: ConfigChange[] = [];
  private consumer?: Subscriber<ConfigChange>;
  private readonly sub: Subscription;
  readonly stream = new Observable<ConfigChange>((subscriber) => {
    const held = this.held;
    this.held = [];
    for (const v of held) subscriber.next(v);
    this.consumer = subscriber;
    return () => {
      if (this.consumer === subscriber) this.consumer = undefined;
    };
  });

  constructor(source: Observable<ConfigChange>) {
    this.sub = source.subscribe((v) => (this.consumer ? this.consumer.next(v) : this.held.push(v)));
  }

  dispose(): void {
    this.sub.unsubscribe();
  }
}

/**
 * Initialise the backend, build the model (seeded), the optimizer and the RNG bank, and restore
 * them from `options.resume` when given.
 */
export async function openSession(options: SessionOptions): Promise<Session> {
  const backend = options.backend === null ? undefined : await initBackend(options.backend ?? 'auto');
  const latest = options.resume ? await readLatestCheckpoint(options.resume) : undefined;
  if (latest?.warning) log.warn({ checkpoint: latest.path }, latest.warning);
  const ckpt = latest?.checkpoint;
  const modelOptions: ModelOptions = { inputShape: options.inputShape, numClasses: options.numClasses, seed: options.seed };
  const model = typeof options.model === 'string' ? buildModel(options.model, modelOptions) : options.model(modelOptions);
  let optimizer: TrainOptimizer | undefined;
  try {
    optimizer = new TrainOptimizer(model, options.optimizer, options.seed);
    let start: Position = { epoch: 0, sampleIndex: 0, step: 0 };
    let rngs = new RngBank(options.seed);
    if (ckpt) {
      restoreWeights(model, ckpt.weights);
      optimizer.setState(ckpt.optimizer);
      if (!sameConfig(ckpt.optimizer.config, options.optimizer)) {
        // The checkpoint's optimizer wins: a resumed run continues the one that was saved. A new
        // configuration can still be swapped in through `configs`.
        // Warn: options given with --resume (--lr, --schedule, --epochs for a schedule's length) do
        // not change the saved optimizer, and a user who gave them must hear so.
        log.warn(
          { saved: describeConfig(ckpt.optimizer.config), given: describeConfig(options.optimizer) },
          'resume: the checkpoint\'s optimizer configuration is used, not the one given; start a new run (without --resume) to train with other optimizer options',
        );
      }
      start = ckpt.position;
      rngs = new RngBank(options.seed, { epoch: start.epoch, states: ckpt.rng });
      log.info({ from: options.resume, position: start }, 'resume: continuing from checkpoint');
    }
    const replicas = await openReplicas(options, backend, model, modelOptions);
    return new Session(options, backend, model, optimizer, rngs, start, options.resume, ckpt?.epochTotals, replicas);
  } catch (e) {
    optimizer?.dispose();
    model.dispose();
    throw e;
  }
}

/**
 * Images per replica below which 'auto' adds no replica: BatchNorm normalises each shard with its
 * own statistics, and its error grows quickly below 8 images per worker (Wu & He, "Group
 * Normalization", 2018, Fig. 1).
 */
export const MIN_AUTO_SHARD = 8;

/** 'auto': one replica per core, as long as each gets at least `MIN_AUTO_SHARD` images of a batch. */
export function autoWorkers(batchSize: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(cores, Math.floor(batchSize / MIN_AUTO_SHARD)));
}

/**
 * The worker replicas for `options.workers` > 1, after checking that the run can have them. A
 * number above 1 that the run cannot have is an error; 'auto' then falls back to 1, and says why.
 */
async function openReplicas(options: SessionOptions, backend: BackendInfo | undefined, main: tf.LayersModel, modelOptions: ModelOptions): Promise<Replicas | undefined> {
  const auto = options.workers === 'auto';
  const n = options.workers === 'auto' ? autoWorkers(options.batchSize) : (options.workers ?? 1);
  if (auto && n < os.availableParallelism()) {
    log.info({ workers: n, batch: options.batchSize }, `data-parallel: ${n} replica${n > 1 ? 's' : ''}, not one per core: each takes at least ${MIN_AUTO_SHARD} images of the batch of ${options.batchSize}`);
  }
  if (n <= 1) return undefined;
  const name = backend?.name ?? tf.getBackend();
  const model = options.model;
  if (typeof model === 'string' && (name === 'wasm' || name === 'onednn')) {
    const replicas = await Replicas.open(n, model, modelOptions, main, trainableVariables(main), name);
    log.info({ workers: n }, `data-parallel: ${n} replicas (this thread and ${n - 1} worker thread${n > 2 ? 's' : ''})`);
    return replicas;
  }
  const [why, fix] =
    typeof model !== 'string'
      ? ["the replicas are built in worker threads from a model of the zoo, and this pipeline's model is built in code", 'give --model NAME']
      : [`the replicas run on wasm or onednn, and this run is on '${name}'`, 'give --backend wasm (or onednn)'];
  if (!auto) throw new UsageError(`--workers ${n}: ${why}; ${fix}, or --workers 1`);
  log.info({ workers: 1 }, `data-parallel: 1 replica, not one per core: ${why}; to use every core, ${fix}`);
  return undefined;
}

/**
 * Open a session, build the run's event stream with it, and dispose the session when that stream
 * completes, errors or is unsubscribed.
 */
export function withSession(options: SessionOptions, build: (session: Session) => PullObservable<TrainEvent>): Observable<TrainEvent> {
  return new Observable<TrainEvent>((subscriber) => {
    let session: Session | undefined;
    let inner: Subscription | undefined;
    let closed = false;
    openSession(options).then(
      (s) => {
        // Unsubscribed while the session was opening: nobody will use it.
        if (closed) return s.dispose();
        session = s;
        try {
          inner = build(s).subscribe(subscriber);
        } catch (e) {
          subscriber.error(e);
        }
      },
      (e) => subscriber.error(e),
    );
    return () => {
      closed = true;
      inner?.unsubscribe();
      session?.dispose();
    };
  });
}
