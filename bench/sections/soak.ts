/**
 * Section `soak`: does a long run hold its memory? Trains the `default` pipeline (the embedded
 * Fashion-MNIST subset, cnn-small, FG-SGD with PIO Sp+Ob+St+Euc, wasm) in this process for
 * {@link SOAK_STEPS} steps at batch {@link SOAK_BATCH}, so that the run crosses many epoch ends
 * (test evaluation, checkpoint, metrics) besides its steps, and samples after every
 * {@link SAMPLE_EVERY}th step:
 *
 * - `tf.memory().numTensors`: the tensors alive between two steps;
 * - the process's resident set (RSS), V8's heap and the wasm backend's memory.
 *
 * The first {@link WARMUP_SHARE} of the run is warm-up (the wasm heap grows to its working size,
 * buffers fill, V8 compiles) and is left out. Targets: the tensor count is flat (the most tensors
 * alive in the last quarter of the run is no more than in the first quarter after warm-up) and RSS
 * grows by less than {@link RSS_TARGET_MB} MB from the end of warm-up to the end (medians of the
 * first and last {@link EDGE_SAMPLES} samples, so that one garbage collection's timing does not
 * decide it).
 *
 * `--sections soak` runs it (it is not in the default set: it takes several minutes); `--soak-steps`
 * shortens or lengthens it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, tap, type MonoTypeOperatorFunction } from 'rxjs';
import { initBackend } from '../../src/backend/index.js';
import type { TrainEvent } from '../../src/events.js';
import type { Pipeline } from '../../src/train/run.js';
import defaultPipeline from '../../pipelines/default.js';
import type { BenchContext, SectionResult } from './index.js';

export const SOAK_STEPS = 10_000;
/** Small batches: many steps (and epoch ends) in a few minutes; a leak is per step, not per image. */
export const SOAK_BATCH = 16;
export const SAMPLE_EVERY = 50;
export const WARMUP_SHARE = 0.1;
export const EDGE_SAMPLES = 5;
export const RSS_TARGET_MB = 50;

export interface SoakSample {
  step: number;
  tensors: number;
  rssMB: number;
  heapMB: number;
  /** tf.memory().numBytes: what tensors hold, in MB. */
  tensorMB: number;
}

export interface SoakAnalysis {
  steps: number;
  samples: number;
  warmupSteps: number;
  /** Most tensors alive in the first and last quarter after warm-up. */
  tensorsFirstQuarterMax: number;
  tensorsLastQuarterMax: number;
  tensorsMin: number;
  tensorsMax: number;
  tensorsFlat: boolean;
  rssStartMB: number;
  rssEndMB: number;
  rssGrowthMB: number;
  rssMaxMB: number;
  heapGrowthMB: number;
  ok: boolean;
}

const MB = 2 ** 20;
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Judge samples against the targets (pure; the test feeds it leaking and flat series). */
export function analyseSoak(samples: readonly SoakSample[], steps: number): SoakAnalysis {
  const warmupSteps = Math.round(steps * WARMUP_SHARE);
  const steady = samples.filter((s) => s.step > warmupSteps);
  if (steady.length < 2 * EDGE_SAMPLES) throw new Error(`soak: ${steady.length} samples after warm-up, too few to judge; run more steps`);
  const quarter = Math.max(1, Math.floor(steady.length / 4));
  const first = steady.slice(0, quarter);
  const last = steady.slice(-quarter);
  const tensorsFirstQuarterMax = Math.max(...first.map((s) => s.tensors));
  const tensorsLastQuarterMax = Math.max(...last.map((s) => s.tensors));
  const rssStartMB = median(steady.slice(0, EDGE_SAMPLES).map((s) => s.rssMB));
  const rssEndMB = median(steady.slice(-EDGE_SAMPLES).map((s) => s.rssMB));
  const heapGrowthMB = median(steady.slice(-EDGE_SAMPLES).map((s) => s.heapMB)) - median(steady.slice(0, EDGE_SAMPLES).map((s) => s.heapMB));
  const tensorsFlat = tensorsLastQuarterMax <= tensorsFirstQuarterMax;
  const rssGrowthMB = rssEndMB - rssStartMB;
  return {
    steps,
    samples: samples.length,
    warmupSteps,
    tensorsFirstQuarterMax,
    tensorsLastQuarterMax,
    tensorsMin: Math.min(...steady.map((s) => s.tensors)),
    tensorsMax: Math.max(...steady.map((s) => s.tensors)),
    tensorsFlat,
    rssStartMB: round(rssStartMB),
    rssEndMB: round(rssEndMB),
    rssGrowthMB: round(rssGrowthMB),
    rssMaxMB: round(Math.max(...steady.map((s) => s.rssMB))),
    heapGrowthMB: round(heapGrowthMB),
    ok: tensorsFlat && rssGrowthMB < RSS_TARGET_MB,
  };
}

export interface SoakOptions {
  steps?: number;
  batch?: number;
  sampleEvery?: number;
  pipeline?: Pipeline;
  /** Inserted after the pipeline, before sampling (the test injects a leak here). */
  inspect?: MonoTypeOperatorFunction<TrainEvent>;
}

/** Train `steps` steps (wasm; output in a temp dir, removed after) and sample memory along the way. */
export async function soak(o: SoakOptions = {}): Promise<{ samples: SoakSample[]; analysis: SoakAnalysis; wallSeconds: number }> {
  const steps = o.steps ?? SOAK_STEPS;
  const batch = o.batch ?? SOAK_BATCH;
  const every = o.sampleEvery ?? SAMPLE_EVERY;
  await initBackend('wasm');
  const out = await mkdtemp(join(os.tmpdir(), 'fgsgd-bench-soak-'));
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  try {
    const pipeline = o.pipeline ?? defaultPipeline;
    // Enough epochs for the steps (the subset has 9,000 training images); maxSteps ends the run.
    const epochs = Math.ceil((steps * batch) / 9000) + 1;
    await lastValueFrom(
      pipeline({ pipeline: 'default', out, batch, epochs, maxSteps: steps, seed: 1, backend: 'wasm', progress: false }).pipe(
        o.inspect ?? tap(),
        tap((e) => {
          if (e.type !== 'batchEnd' || e.step % every !== 0) return;
          const m = process.memoryUsage();
          const t = tf.memory();
          samples.push({ step: e.step, tensors: t.numTensors, rssMB: round(m.rss / MB), heapMB: round(m.heapUsed / MB), tensorMB: round(t.numBytes / MB) });
        }),
      ),
    );
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  return { samples, analysis: analyseSoak(samples, steps), wallSeconds: round((performance.now() - t0) / 1000) };
}

export async function benchSoak(ctx: BenchContext): Promise<SectionResult> {
  const steps = ctx.options.soakSteps;
  ctx.progress(`soak: ${steps} steps of the default pipeline at batch ${SOAK_BATCH} on wasm`);
  const { samples, analysis: a, wallSeconds } = await soak({ steps });
  const text = [
    `default pipeline (cnn-small, FG-SGD PIO Sp+Ob+St+Euc), wasm, batch ${SOAK_BATCH}, ${a.steps} steps in ${wallSeconds} s; samples every ${SAMPLE_EVERY} steps after ${a.warmupSteps} warm-up steps`,
    '',
    '| figure | value | target |',
    '|---|---|---|',
    `| tensors alive between steps | ${a.tensorsMin}–${a.tensorsMax}; most in first / last quarter ${a.tensorsFirstQuarterMax} / ${a.tensorsLastQuarterMax} | flat: ${a.tensorsFlat ? 'met' : 'MISSED'} |`,
    `| RSS after warm-up → end | ${a.rssStartMB} → ${a.rssEndMB} MB (max ${a.rssMaxMB}) | growth ${a.rssGrowthMB} MB < ${RSS_TARGET_MB}: ${a.rssGrowthMB < RSS_TARGET_MB ? 'met' : 'MISSED'} |`,
    `| V8 heap growth | ${a.heapGrowthMB} MB | |`,
  ].join('\n');
  return { name: 'soak', text, data: { batch: SOAK_BATCH, sampleEvery: SAMPLE_EVERY, wallSeconds, analysis: a, samples }, ok: a.ok };
}
