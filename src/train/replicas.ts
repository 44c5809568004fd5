/**
 * Data-parallel training over worker threads: `--workers N` runs N model replicas, this thread's
 * model and N − 1 others, each on its own tfjs engine (wasm) in a worker thread
 * (src/train/replica.ts).
 *
 * One step: the main thread publishes every weight of its model (trainable ones and BatchNorm's
 * moving statistics) into shared memory; the batch is cut into N contiguous shards (sizes differ by
 * at most one, the first ones larger); each replica loads the weights, takes the loss and the
 * gradients of its shard, and writes the gradients into its own region of shared memory; the main
 * thread sums them, each weighted by its shard's share of the batch, in replica order, so that the
 * result is the gradient of the batch's mean loss and a given N is deterministic. The optimizer
 * (FG-SGD included) then applies one update to the main model, which every replica loads at the
 * next step.
 *
 * BatchNorm: each replica normalises its shard with the shard's own statistics, and the moving
 * statistics are the main replica's (shard 0's), broadcast to the others every step; this is
 * PyTorch's DistributedDataParallel without SyncBatchNorm (its default `broadcast_buffers`).
 *
 * Tensor ownership: the gradients returned belong to the caller; everything else is freed here.
 * The worker threads end with `dispose()`.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from '../models/index.js';
import { lossAndGrads } from './step.js';

const WORKER_URL = new URL('./replica_worker.mjs', import.meta.url);

/** What a replica worker is started with. */
export interface ReplicaInit {
  /** A model of the zoo, built with `modelOptions` (its initial weights are overwritten every step). */
  model: string;
  modelOptions: ModelOptions;
  /** Every weight of the model, in `model.weights` order, as float32. */
  weights: SharedArrayBuffer;
  /** This replica's gradients, in trainable-weight order, as float32. */
  grads: SharedArrayBuffer;
  /** The backend each replica runs, as the main thread's. */
  backend: 'wasm' | 'onednn';
}

export interface ReplicaStep {
  id: number;
  x: Float32Array;
  xShape: number[];
  y: Int32Array;
}

export interface ReplicaReply {
  id: number;
  ready?: boolean;
  weights?: unknown;
  loss?: number;
  correct?: number;
  error?: string;
}

export class ReplicaError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReplicaError';
  }
}

interface Slot {
  worker: Worker;
  grads: Float32Array;
  pending?: { resolve(r: ReplicaReply): void; reject(e: Error): void };
}

/** The result of one data-parallel forward and backward pass. */
export interface ParallelPass {
  /** Gradient of the batch's mean loss per tfjs variable name (the caller owns them). */
  grads: tf.NamedTensorMap;
  loss: number;
  /** Samples of the batch classified correctly. */
  correct: number;
}

const sizeOf = (shape: readonly (number | null)[]) => shape.reduce((a: number, b) => a * (b ?? 1), 1);

/** The parent's log level if it is warn or quieter, else warn. */
function replicaLogLevel(): string {
  const level = process.env.FGSGD_LOG_LEVEL;
  return level === 'silent' || level === 'fatal' || level === 'error' ? level : 'warn';
}

export class Replicas {
  private readonly weights: Float32Array;
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly model: tf.LayersModel,
    private readonly variables: tf.Variable[],
    private readonly slots: Slot[],
    weights: SharedArrayBuffer,
  ) {
    this.weights = new Float32Array(weights);
  }

  /**
   * Start `count − 1` worker replicas of `model` (the zoo model `name`, built with `modelOptions`);
   * `count` counts this thread's model too. Resolves once every replica has built its model.
   */
  static async open(
    count: number, name: string, modelOptions: ModelOptions, model: tf.LayersModel, variables: tf.Variable[],
    backend: 'wasm' | 'onednn' = 'wasm',
  ): Promise<Replicas> {
    if (!Number.isInteger(count) || count < 2) throw new RangeError(`Replicas: count must be an integer ≥ 2 (got ${count})`);
    const weights = new SharedArrayBuffer(4 * model.weights.reduce((a, w) => a + sizeOf(w.shape), 0));
    const gradSize = 4 * variables.reduce((a, v) => a + v.size, 0);
    const slots: Slot[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 1; i < count; i++) {
      const grads = new SharedArrayBuffer(gradSize);
      const init: ReplicaInit = { model: name, modelOptions, weights, grads, backend };
      // The worker loads its own loaders (replica_worker.mjs); the parent's would only slow it.
      // A replica logs warnings and errors only (its info lines would repeat the main thread's);
      // its logger reads the level when it is imported, so the level is set in its environment.
      const worker = new Worker(WORKER_URL, { workerData: init, execArgv: [], env: { ...process.env, FGSGD_LOG_LEVEL: replicaLogLevel() } });
      const slot: Slot = { worker, grads: new Float32Array(grads) };
      slots.push(slot);
      ready.push(
        new Promise<void>((resolve, reject) => {
          slot.pending = { resolve: (r) => (r.error ? reject(new ReplicaError(`replica ${i}: ${r.error}`)) : resolve()), reject };
        }),
      );
    }
    const replicas = new Replicas(model, variables, slots, weights);
    slots.forEach((slot, i) => replicas.listen(slot, i + 1));
    try {
      await Promise.all(ready);
    } catch (e) {
      await replicas.dispose();
      throw e;
    }
    return replicas;
  }

  /** Replicas in all, this thread's included. */
  get count(): number {
    return this.slots.length + 1;
  }

  private listen(slot: Slot, index: number): void {
    slot.worker.on('message', (r: ReplicaReply) => {
      const p = slot.pending;
      slot.pending = undefined;
      p?.resolve(r);
    });
    const fail = (e: Error) => {
      if (this.closed) return;
      this.failure ??= e;
      const p = slot.pending;
      slot.pending = undefined;
      p?.reject(e);
    };
    slot.worker.on('error', (e) => fail(new ReplicaError(`training replica ${index} failed: ${e.message}`, { cause: e })));
    slot.worker.on('exit', (code) => fail(new ReplicaError(`training replica ${index} exited (code ${code}); the run cannot go on without it`)));
  }

  /** Shard sizes of a batch of `n`: as equal as can be, the first ones larger. */
  shards(n: number): number[] {
    const k = this.count;
    return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
  }

  /**
   * Loss and gradients of the batch (`x` `[n, ...]`, `y` int32 class ids `[n]`) over every replica.
   * `x` and `y` are not disposed.
   */
  async lossAndGrads(x: tf.Tensor, y: tf.Tensor): Promise<ParallelPass> {
    if (this.failure) throw this.failure;
    const n = x.shape[0]!;
    const sizes = this.shards(n);
    // Publish the weights the replicas load: every weight, BatchNorm's moving statistics included.
    let offset = 0;
    for (const w of this.model.weights) {
      const data = (await w.read().data()) as Float32Array;
      this.weights.set(data, offset);
      offset += data.length;
    }
    const [xs, ys] = (await Promise.all([x.data(), y.data()])) as [Float32Array, Int32Array];
    const feature = sizeOf(x.shape.slice(1));
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const replies = this.slots.map((slot, j) => {
      const i = j + 1;
      if (sizes[i] === 0) return Promise.resolve(undefined);
      const [a, b] = [starts[i]!, starts[i]! + sizes[i]!];
      const id = this.nextId++;
      const step: ReplicaStep = { id, x: xs.slice(a * feature, b * feature), xShape: [sizes[i]!, ...x.shape.slice(1)], y: Int32Array.from(ys.subarray(a, b)) };
      return new Promise<ReplicaReply>((resolve, reject) => {
        slot.pending = { resolve, reject };
        slot.worker.postMessage(step, [step.x.buffer as ArrayBuffer, step.y.buffer as ArrayBuffer]);
      });
    });
    // This thread's shard, on its own model, meanwhile.
    const x0 = x.slice(0, sizes[0]);
    const y0 = y.slice(0, sizes[0]);
    let correct0: tf.Scalar | undefined;
    const own = lossAndGrads(this.model, x0, y0, this.variables, (logits) => {
      correct0 = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), y0.toInt()), 'float32')) as tf.Scalar);
    });
    tf.dispose([x0, y0]);
    let settled: (ReplicaReply | undefined)[];
    let lossCorrect: Float32Array;
    try {
      settled = await Promise.all(replies);
      const failed = settled.find((r) => r?.error !== undefined);
      if (failed) throw new ReplicaError(`a training replica failed: ${failed.error}`);
      const both = tf.stack([own.value, correct0!]);
      lossCorrect = (await both.data()) as Float32Array;
      both.dispose();
    } catch (e) {
      tf.dispose([own.value, correct0!, ...Object.values(own.grads)]);
      throw e;
    }
    tf.dispose([own.value, correct0!]);
    let loss = (lossCorrect[0]! * sizes[0]!) / n;
    let correct = lossCorrect[1]!;
    settled.forEach((r, j) => {
      if (!r) return;
      loss += (r.loss! * sizes[j + 1]!) / n;
      correct += r.correct!;
    });
    // Σ over replicas, in replica order, of (shard share) · (shard gradient).
    const grads: tf.NamedTensorMap = {};
    let at = 0;
    for (const v of this.variables) {
      const size = v.size;
      const g0 = own.grads[v.name]!;
      grads[v.name] = tf.tidy(() => {
        let sum = tf.mul(g0, sizes[0]! / n);
        this.slots.forEach((slot, j) => {
          if (sizes[j + 1] === 0) return;
          sum = tf.add(sum, tf.mul(tf.tensor(slot.grads.slice(at, at + size), v.shape), sizes[j + 1]! / n));
        });
        return sum;
      });
      g0.dispose();
      at += size;
    }
    return { grads, loss, correct };
  }

  /** End the worker threads. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
