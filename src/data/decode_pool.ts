/**
 * Decoding on worker threads. Why: with sharp on the main thread, every image costs the main
 * thread its share of the call (building the sharp pipeline, submitting it, taking the result:
 * about 0.2–0.5 ms per small PNG on the project's machines), and a synchronous training step
 * (wasm) blocks that thread for hundreds of milliseconds, so decoding cannot overlap the step: the
 * trainer waits while the next batch is decoded. In a worker, the main thread only posts a path
 * (or bytes) and receives the pixels (transferred, not copied); the worker keeps decoding while
 * the main thread trains. Measured by the benchmark's `pipeline` section.
 *
 * A pool belongs to one stream (`decodeImages({ workers })` opens one per subscription and closes
 * it when the stream ends). Its workers hold the process open only while a request is pending.
 */
import { Worker } from 'node:worker_threads';
// sharp's documentation: on glibc Linux the main thread must load sharp before worker threads do,
// so that its shared libraries stay loaded until every thread has finished.
import 'sharp';
import type { RawImage, SharpDecodeOptions } from './decode_sharp.mjs';

/** The pool itself failed (a worker died, or the pool was closed): not a bad image, never skipped. */
export class DecodeWorkerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DecodeWorkerError';
  }
}

interface Job {
  resolve(image: RawImage): void;
  reject(error: Error): void;
  slot: Slot;
}

interface Slot {
  worker: Worker;
  pending: number;
}

type Reply = { id: number; data: Uint8Array; info: RawImage['info']; error?: undefined } | { id: number; error: string };

const WORKER_URL = new URL('./decode_worker.mjs', import.meta.url);

export class DecodePool {
  private readonly slots: Slot[];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`DecodePool: size must be an integer ≥ 1 (got ${size})`);
    this.slots = Array.from({ length: size }, () => this.spawn());
  }

  private spawn(): Slot {
    // No inherited execArgv: the worker is plain JavaScript, and the parent's loaders (tsx, tap's
    // TypeScript hooks) would only slow its start by seconds.
    const worker = new Worker(WORKER_URL, { execArgv: [] });
    const slot: Slot = { worker, pending: 0 };
    worker.unref(); // referenced only while it has work (see `decode`)
    worker.on('message', (reply: Reply) => {
      const job = this.jobs.get(reply.id);
      if (!job) return;
      this.settle(reply.id, job);
      if (reply.error !== undefined) job.reject(new Error(reply.error));
      else job.resolve({ data: reply.data, info: reply.info });
    });
    worker.on('error', (e) => this.fail(new DecodeWorkerError(`decode worker failed: ${e.message}`, { cause: e })));
    worker.on('exit', (code) => this.fail(new DecodeWorkerError(`decode worker exited (code ${code})`)));
    return slot;
  }

  /**
   * Decode `input` on the least busy worker. Rejects with sharp's error for a bad image (as
   * `sharpDecode` does), with `DecodeWorkerError` if the pool failed or was closed.
   */
  decode(input: Uint8Array | string, options: SharpDecodeOptions): Promise<RawImage> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.slots.reduce((a, b) => (b.pending < a.pending ? b : a));
    const id = this.nextId++;
    return new Promise<RawImage>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, slot });
      if (slot.pending++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, input, options });
    });
  }

  private settle(id: number, job: Job): void {
    this.jobs.delete(id);
    if (--job.slot.pending === 0) job.slot.worker.unref();
  }

  /** Reject every pending request and refuse new ones. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const [id, job] of [...this.jobs]) {
      this.settle(id, job);
      job.reject(this.failure);
    }
  }

  /** Stop the workers; pending requests reject with `DecodeWorkerError`. */
  async close(): Promise<void> {
    this.fail(new DecodeWorkerError('decode pool closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
