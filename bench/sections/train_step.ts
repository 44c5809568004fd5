/**
 * Section `train-step`: images/s of one supervised training step (forward, softmax cross-entropy,
 * backward, plain SGD lr 0.01, random data) per model and backend, printed beside PyTorch's figure
 * for the same model, batch and thread count, measured in the same run (`torch_step.py`).
 *
 * Each (model, backend) gets a time budget (`--budget`, 60 s by default). A probe step on a small
 * batch warms the kernels up and estimates the cost of a full step; a pair whose single full step
 * would exceed twice the budget is skipped with that estimate as its reason, and slow pairs drop their
 * warm-up steps and time fewer steps (at least one). An error (e.g. a kernel the backend lacks)
 * marks that pair failed with its message, and the section goes on.
 *
 * Each timed step ends when its loss has been read back asynchronously, so on an asynchronous
 * backend (webgpu) the time is the device's, not the time to queue the work.
 *
 * On wasm, each model is measured a second time with `--workers N` data-parallel replicas (default:
 * every core; src/train/replicas.ts), against PyTorch at N threads: the step is then the replicas'
 * summed gradient and one SGD update on the main thread's model. onednn (wasm with oneDNN
 * convolutions, src/backend/onednn.ts) is measured the same two ways, its replicas on onednn.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type ConcreteBackend } from '../../src/backend/index.js';
import { buildModel } from '../../src/models/index.js';
import { lossAndGrads, trainableVariables } from '../../src/train/step.js';
import { Replicas } from '../../src/train/replicas.js';
import type { TorchResult } from '../torch.js';
import type { BenchContext, SectionResult } from './index.js';

export interface TrainStepModel {
  name: string;
  batch: number;
  input: [number, number, number];
  /** Target ratio ours/torch at one thread each. */
  target: number;
  /** Target ratio with N data-parallel replicas against torch at N threads. */
  parallelTarget: number;
  /** Timed steps for the torch reference (cheap; enough for a steady figure). */
  torchSteps: number;
}

/** The models this section measures, as `torch_step.py` names them. */
export const TRAIN_STEP_MODELS: readonly TrainStepModel[] = [
  { name: 'cnn-small', batch: 64, input: [28, 28, 1], target: 0.5, parallelTarget: 0.7, torchSteps: 20 },
  { name: 'resnet20', batch: 128, input: [32, 32, 3], target: 0.3, parallelTarget: 0.35, torchSteps: 10 },
];

/** Torch thread counts always measured (one thread is the target's comparison; two is extra). */
const TORCH_THREADS = [1, 2];
const PROBE_BATCH = 2;

export interface TrainStepRow {
  model: string;
  batch: number;
  backend: ConcreteBackend;
  /** tfjs's name of the active backend, when it loaded. */
  tfBackend?: string;
  /** Compute threads the backend uses (wasm, onednn and cpu: 1; native TensorFlow: all cores; replicas: one each). */
  threads: number;
  /** Data-parallel replicas (wasm, onednn), when more than one. */
  replicas?: number;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  imagesPerSecond?: number;
  msPerStep?: number;
  warmupSteps?: number;
  timedSteps?: number;
  probe?: { batch: number; seconds: number; estimatedFullStepSeconds: number };
  /** CPU seconds this process used per wall second while timing: well under `threads` means the machine was busy. */
  cpuShare?: number;
  /** Growth of tf.memory().numTensors per timed step (0 when nothing leaks). */
  tensorsLeakedPerStep?: number;
  torchImagesPerSecond?: number;
  ratio?: number;
  target?: number;
  meetsTarget?: boolean;
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0]!;
}

function threadsOf(backend: ConcreteBackend): number {
  return backend === 'wasm' || backend === 'onednn' || backend === 'cpu' ? 1 : os.availableParallelism();
}

/** The replica counts a backend is measured with: 1, and `workers` for the backends replicas run on. */
export function replicaCounts(backend: ConcreteBackend, workers: number): number[] {
  return (backend === 'wasm' || backend === 'onednn') && workers > 1 ? [1, workers] : [1];
}

const now = () => performance.now() / 1000;

/** Measure one (model, backend) on the active backend, with `row.replicas` replicas. Frees everything it creates. */
async function measure(m: TrainStepModel, row: TrainStepRow, ctx: BenchContext): Promise<void> {
  const { steps, warmup, budgetSeconds: budget } = ctx.options;
  const model = buildModel(m.name, { inputShape: m.input, seed: 0 });
  const optimizer = tf.train.sgd(0.01);
  const replicas = row.replicas
    ? await Replicas.open(row.replicas, m.name, { inputShape: m.input, seed: 0 }, model, trainableVariables(model), row.backend === 'onednn' ? 'onednn' : 'wasm')
    : undefined;
  const trainStep = async (_model: tf.LayersModel, opt: tf.Optimizer, x: tf.Tensor, y: tf.Tensor): Promise<void> => {
    if (!replicas) {
      // The step is timed until its loss has been read back (asynchronously, as webgpu requires),
      // which waits for the backend to finish the step's work.
      const { value, grads } = lossAndGrads(model, x, y);
      opt.applyGradients(grads);
      tf.dispose(grads);
      await value.data();
      value.dispose();
      return;
    }
    const { grads } = await replicas.lossAndGrads(x, y);
    opt.applyGradients(grads);
    tf.dispose(Object.values(grads));
  };
  const x = tf.randomNormal([m.batch, ...m.input], 0, 1, 'float32', 1);
  const labels = tf.randomUniform([m.batch], 0, 10, 'int32', 2);
  const probeBatch = Math.min(PROBE_BATCH, m.batch);
  const px = x.slice(0, probeBatch);
  const pl = labels.slice(0, probeBatch);
  try {
    const start = now();
    // Probe: warms the kernels up (optimizer state, wasm/XNNPACK set-up) on a small batch and
    // estimates a full step. A second probe call gives a steadier figure when the first was cheap.
    let t = now();
    await trainStep(model, optimizer, px, pl);
    let probeSeconds = now() - t;
    if (probeSeconds < budget / 4) {
      t = now();
      await trainStep(model, optimizer, px, pl);
      probeSeconds = now() - t;
    }
    const estimate = (probeSeconds * m.batch) / probeBatch;
    row.probe = { batch: probeBatch, seconds: round(probeSeconds, 3), estimatedFullStepSeconds: round(estimate, 2) };
    // The budget is soft: one timed step is always taken, unless it would overrun it twice over.
    if (estimate > 2 * budget) {
      row.status = 'skipped';
      row.reason = `one step estimated at ${estimate.toFixed(0)} s (batch-${probeBatch} probe ${probeSeconds.toFixed(1)} s), over twice the ${budget} s budget (raise --budget to run it)`;
      return;
    }
    // Full-batch warm-up, unless it would eat the budget (the probe has already warmed up).
    let est = estimate;
    let w = 0;
    while (w < warmup && now() - start + est * 2 <= budget) {
      t = now();
      await trainStep(model, optimizer, x, labels);
      est = now() - t;
      w++;
    }
    const left = budget - (now() - start);
    const n = Math.max(1, Math.min(steps, Math.floor(left / est)));
    const tensorsBefore = tf.memory().numTensors;
    const cpuBefore = process.cpuUsage();
    t = now();
    for (let i = 0; i < n; i++) await trainStep(model, optimizer, x, labels);
    const el = now() - t;
    const cpu = process.cpuUsage(cpuBefore);
    row.cpuShare = round((cpu.user + cpu.system) / 1e6 / el, 2);
    row.status = 'ok';
    row.warmupSteps = w;
    row.timedSteps = n;
    row.msPerStep = round((el / n) * 1000, 1);
    row.imagesPerSecond = round((m.batch * n) / el, 1);
    row.tensorsLeakedPerStep = (tf.memory().numTensors - tensorsBefore) / n;
  } finally {
    tf.dispose([x, labels, px, pl]);
    await replicas?.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function fmt(v: number | undefined, digits = 1): string {
  return v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export async function benchTrainStep(ctx: BenchContext): Promise<SectionResult> {
  const names = ctx.options.models ?? TRAIN_STEP_MODELS.map((m) => m.name);
  const models = names.map((n) => {
    const m = TRAIN_STEP_MODELS.find((e) => e.name === n);
    if (!m) throw new Error(`unknown model '${n}'; valid models: ${TRAIN_STEP_MODELS.map((e) => e.name).join(', ')}`);
    return m;
  });
  const { torch } = ctx;

  // Every torch run made, in order: first the thread counts always reported, then one right after
  // each of our measurements, at its thread count, which its ratio uses (the machine's load drifts).
  const torchRuns: TorchResult[] = [];
  const torchFor = async (m: TrainStepModel, threads: number): Promise<TorchResult> => {
    ctx.progress(`torch ${m.name} batch ${m.batch}, ${threads} thread(s)`);
    const r = await torch.measure({ model: m.name, batch: m.batch, threads, steps: m.torchSteps });
    torchRuns.push(r);
    ctx.progress(r.ok ? `  ${r.imagesPerSecond} img/s` : `  failed: ${r.error}`);
    return r;
  };
  if (torch.available) for (const m of models) for (const th of TORCH_THREADS) await torchFor(m, th);

  const rows: TrainStepRow[] = [];
  const skippedBackends: { backend: ConcreteBackend; reason: string }[] = [];
  for (const backend of ctx.options.backends) {
    let tfBackend: string;
    try {
      tfBackend = (await initBackend(backend)).tfBackend;
    } catch (e) {
      skippedBackends.push({ backend, reason: firstLine(e) });
      ctx.progress(`backend ${backend} skipped: ${firstLine(e)}`);
      continue;
    }
    for (const m of models) for (const n of replicaCounts(backend, ctx.options.workers)) {
      const row: TrainStepRow = { model: m.name, batch: m.batch, backend, tfBackend, threads: n > 1 ? n : threadsOf(backend), status: 'failed', ...(n > 1 ? { replicas: n } : {}) };
      ctx.progress(`${m.name} batch ${m.batch} on ${backend}${n > 1 ? ` ×${n} replicas` : ''}: measuring (budget ${ctx.options.budgetSeconds} s)`);
      try {
        await measure(m, row, ctx);
      } catch (e) {
        row.status = 'failed';
        row.reason = firstLine(e);
      }
      ctx.progress(row.status === 'ok' ? `  ${row.imagesPerSecond} img/s (${row.timedSteps} timed steps)` : `  ${row.status}: ${row.reason}`);
      if (torch.available && row.status === 'ok') {
        const ref = await torchFor(m, row.threads);
        if (ref.ok) row.torchImagesPerSecond = ref.imagesPerSecond;
      }
      // Targets: one thread against torch's one thread, on training backends (cpu is a correctness reference).
      if (row.threads === 1 && backend !== 'cpu') row.target = m.target;
      if (row.replicas) row.target = m.parallelTarget;
      if (row.imagesPerSecond !== undefined && row.torchImagesPerSecond !== undefined) {
        row.ratio = round(row.imagesPerSecond / row.torchImagesPerSecond, 3);
        if (row.target !== undefined) row.meetsTarget = row.ratio >= row.target;
      }
      rows.push(row);
    }
  }

  // Text: the table, then the reasons, the backends skipped and torch's figures.
  const header = ['model', 'batch', 'backend', 'threads', 'ours img/s', 'torch img/s', 'ratio', 'target'];
  const notes: string[] = [];
  const body = rows.map((r) => {
    let ours = fmt(r.imagesPerSecond);
    if (r.status !== 'ok') {
      notes.push(`[${notes.length + 1}] ${r.model} on ${r.backend} ${r.status}: ${r.reason}`);
      ours = `${r.status} [${notes.length}]`;
    }
    const target = r.target === undefined ? '—' : `≥${r.target.toFixed(2)}×${r.meetsTarget === undefined ? '' : r.meetsTarget ? ' ok' : ' MISS'}`;
    return [r.model, String(r.batch), r.replicas ? `${r.backend}×${r.replicas}` : r.backend, String(r.threads), ours, fmt(r.torchImagesPerSecond),
      r.ratio === undefined ? '—' : `${r.ratio.toFixed(3)}×`, target];
  });
  const text: string[] = [rows.length ? table(header, body) : '(no backend loaded)'];
  const busy = rows.filter((r) => r.cpuShare !== undefined && r.cpuShare < 0.8 * r.threads);
  if (busy.length) {
    notes.push(`note: the machine was busy: ${busy.map((r) => `${r.model} on ${r.backend}${r.replicas ? `×${r.replicas}` : ""} got ${r.cpuShare} CPU-s per s`).join('; ')}; ratios (torch measured right after) are steadier than the absolute figures.`);
  }
  if (notes.length) text.push('', ...notes);
  if (skippedBackends.length) text.push('', 'backends skipped:', ...skippedBackends.map((s) => `  ${s.backend}: ${s.reason}`));
  text.push('');
  if (!torch.available) {
    text.push(`no PyTorch reference: ${torch.reason}`);
  } else {
    text.push(`PyTorch ${torch.version} reference (same model, batch, random data, SGD lr 0.01; each row's ratio uses the run right after it):`);
    for (const r of torchRuns) {
      text.push(`  ${r.model} batch ${r.batch}, ${r.threads} thread(s): ${r.ok ? `${r.imagesPerSecond} img/s (${r.msPerStep} ms/step, ${r.steps} steps)` : `failed: ${r.error}`}`);
    }
  }
  text.push(`targets, one thread vs torch one thread (not for the pure-JS cpu reference backend): ${models.map((m) => `${m.name} ≥ ${m.target}×`).join(', ')}; wasm and onednn with N replicas vs torch N threads: ${models.map((m) => `${m.name} ≥ ${m.parallelTarget}×`).join(', ')}.`);

  return {
    name: 'train-step',
    text: text.join('\n'),
    ok: rows.every((r) => r.status !== 'failed') && torchRuns.every((r) => r.ok),
    data: { rows, skippedBackends, torch: torchRuns, models: models.map((m) => ({ ...m })) },
  };
}
