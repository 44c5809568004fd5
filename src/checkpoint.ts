/**
 * Checkpoints: everything a run needs to continue exactly where it stood.
 *
 * - the model's weights (all of them, batch-norm statistics included), by weight name;
 * - the optimizer's state (step, configuration, momentum, ℜ), by weight name;
 * - the data RNG states at the start of the checkpoint's epoch;
 * - the pipeline position (epoch, samples of that epoch trained on, global step);
 * - the run's options (pipeline, seed, batch size, ...), so that `--resume DIR` needs nothing else.
 *
 * One file, `DIR/checkpoint.ckpt`: the 8-byte magic `FGSGDCK1`, a little-endian uint32 header
 * length, a JSON header, then the raw tensor bytes. It is written to a temporary file in the same
 * directory, fsync'ed, and renamed over the old one, so a reader (or a run killed at any moment)
 * sees either the previous checkpoint or the new one, never a torn file. The header records a
 * sha256 of the tensor bytes, checked on load.
 *
 * Tensor ownership: checkpoints hold typed arrays, not tensors; `restoreWeights` creates and
 * disposes its temporaries itself.
 */
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { writeFileAtomic, type FileLayer } from './atomic.js';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Position } from './events.js';
import type { OptimizerState } from './train/optimizer.js';
import { readTensors, type TensorData } from './backend/reads.js';

export const CHECKPOINT_FILE = 'checkpoint.ckpt';
/** The checkpoint before the latest, kept until the latest is durable: the fallback when it is damaged. */
export const PREVIOUS_CHECKPOINT_FILE = 'checkpoint.prev.ckpt';

/** How often a run checkpoints besides epoch ends and its end: every N steps, or every so many seconds. */
export type CheckpointInterval = { steps: number } | { seconds: number };

/** The default: every 5 minutes (plus every epoch end and the end of the run). */
export const DEFAULT_CHECKPOINT_EVERY = '5m';

/**
 * `--checkpoint-every`: a number of steps (`500`), or a duration (`30s`, `5m`, `1h`; a fraction is
 * fine, `0.5s`). Throws an Error saying what it accepts.
 */
export function parseCheckpointEvery(text: string | number): CheckpointInterval {
  const s = String(text).trim();
  const m = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(s);
  if (m) {
    const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
    if (seconds > 0) return { seconds };
  } else if (/^\d+$/.test(s) && Number(s) >= 1) {
    return { steps: Number(s) };
  }
  throw new Error(`--checkpoint-every must be a number of steps (e.g. 500) or a duration (e.g. 30s, 5m, 1h), got '${s}'`);
}
const MAGIC = 'FGSGDCK1';
const FORMAT_VERSION = 1;

export type { TensorData };

export interface Checkpoint {
  position: Position;
  /** RNG states (pure-rand) by stream name, as they stood when `position.epoch` began. */
  rng: Record<string, number[]>;
  /** The run's options, JSON-safe. */
  run: Record<string, unknown>;
  weights: Record<string, TensorData>;
  optimizer: OptimizerState;
  /** The sums of the epoch so far, when the checkpoint is mid-epoch (the epoch's train loss and accuracy continue from them). */
  epochTotals?: EpochTotals;
}

/** A training epoch's running sums: loss and correct predictions summed over its samples. */
export interface EpochTotals {
  lossSum: number;
  correctSum: number;
  images: number;
}

interface Header {
  format: 'fgsgd-checkpoint';
  version: number;
  createdAt: string;
  position: Position;
  rng: Record<string, number[]>;
  run: Record<string, unknown>;
  optimizer: Omit<OptimizerState, 'tensors'>;
  epochTotals?: EpochTotals;
  tensors: { group: 'weights' | 'optimizer'; name: string; dtype: 'float32' | 'int32'; shape: number[]; offset: number; bytes: number }[];
  sha256: string;
}

export function checkpointPath(dir: string): string {
  return join(dir, CHECKPOINT_FILE);
}

export function previousCheckpointPath(dir: string): string {
  return join(dir, PREVIOUS_CHECKPOINT_FILE);
}

/**
 * Weights of `model` as typed arrays, by weight name. The snapshot is taken when it is called (each
 * weight is cloned at once, so later updates do not change it); the values are read back
 * asynchronously, which every backend can do (WebGPU cannot read synchronously).
 */
export function readWeights(model: tf.LayersModel): Promise<Record<string, TensorData>> {
  return readTensors(Object.fromEntries(model.weights.map((w) => [w.originalName, tf.clone(w.read())])));
}

/** Write each saved weight back into `model`; every model weight must be present with its shape. */
export function restoreWeights(model: tf.LayersModel, weights: Record<string, TensorData>): void {
  for (const w of model.weights) {
    const saved = weights[w.originalName];
    if (!saved) throw new Error(`checkpoint lacks weight '${w.originalName}'`);
    if (saved.shape.join('x') !== w.shape.join('x')) {
      throw new Error(`checkpoint weight '${w.originalName}' has shape [${saved.shape}], the model [${w.shape}]`);
    }
    tf.tidy(() => {
      w.write(tf.tensor(saved.data, saved.shape, saved.dtype));
    });
  }
}

/**
 * sha256 over all weights of the model in name order: name, dtype, shape and the raw bytes of
 * each. Two runs with equal digests have bit-identical weights.
 */
export async function weightsDigest(model: tf.LayersModel): Promise<string> {
  return digestOf(await readWeights(model));
}

export function digestOf(weights: Record<string, TensorData>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(weights).sort()) {
    const t = weights[name]!;
    h.update(`${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/**
 * Write `ckpt` to `DIR/checkpoint.ckpt` atomically (temp file, fsync, rename), keeping the one it
 * replaces as `DIR/checkpoint.prev.ckpt` until the new one is durable: a crash at any moment leaves
 * at least one whole checkpoint (`readLatestCheckpoint` falls back to the previous one). Returns
 * the path. A failed write (a full disk, an I/O error) leaves both files as they were.
 */
export async function writeCheckpoint(dir: string, ckpt: Checkpoint, io?: FileLayer): Promise<string> {
  await mkdir(dir, { recursive: true });
  const tensors: Header['tensors'] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const add = (group: 'weights' | 'optimizer', name: string, t: TensorData) => {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    tensors.push({ group, name, dtype: t.dtype, shape: t.shape, offset, bytes: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  };
  for (const name of Object.keys(ckpt.weights).sort()) add('weights', name, ckpt.weights[name]!);
  for (const name of Object.keys(ckpt.optimizer.tensors).sort()) add('optimizer', name, ckpt.optimizer.tensors[name]!);
  const hash = createHash('sha256');
  for (const c of chunks) hash.update(c);
  const { tensors: _slots, ...optimizer } = ckpt.optimizer;
  const header: Header = {
    format: 'fgsgd-checkpoint',
    version: FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    position: ckpt.position,
    rng: ckpt.rng,
    run: ckpt.run,
    optimizer,
    ...(ckpt.epochTotals ? { epochTotals: ckpt.epochTotals } : {}),
    tensors,
    sha256: hash.digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.byteLength, 8);

  const path = checkpointPath(dir);
  // Once the new bytes are on disk, the current checkpoint is linked (or copied) to
  // checkpoint.prev.ckpt, and the new one replaces it by a rename: at every moment both names hold
  // a whole checkpoint (or, before the second checkpoint, the latest alone).
  await writeFileAtomic(path, [prefix, json, ...chunks], () => keepPrevious(dir), io);
  // Temporary files of earlier writes that a kill cut short (one writer per run directory).
  for (const f of await readdir(dir)) {
    if (f.startsWith(`${CHECKPOINT_FILE}.tmp-`) || f.startsWith(`${PREVIOUS_CHECKPOINT_FILE}.tmp-`)) await rm(join(dir, f), { force: true });
  }
  return path;
}

/** Make `checkpoint.prev.ckpt` a copy of the current `checkpoint.ckpt` (a hard link where the file system allows), atomically. */
async function keepPrevious(dir: string): Promise<void> {
  const current = checkpointPath(dir);
  const tmp = `${previousCheckpointPath(dir)}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  try {
    await link(current, tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // the first checkpoint: nothing to keep
    await copyFile(current, tmp);
  }
  await rename(tmp, previousCheckpointPath(dir));
}

/**
 * The latest whole checkpoint of `dir`: `checkpoint.ckpt`, or, when that one is missing, truncated
 * or corrupt, `checkpoint.prev.ckpt`; `warning` then names both and why. Throws when neither can be
 * read (the message says what was found).
 */
export async function readLatestCheckpoint(dir: string): Promise<{ checkpoint: Checkpoint; path: string; warning?: string }> {
  const latest = checkpointPath(dir);
  try {
    return { checkpoint: await readCheckpoint(latest), path: latest };
  } catch (e) {
    const previous = previousCheckpointPath(dir);
    let checkpoint: Checkpoint;
    try {
      checkpoint = await readCheckpoint(previous);
    } catch {
      throw e;
    }
    return { checkpoint, path: previous, warning: `${latest} cannot be used (${(e as Error).message}); resuming from the previous checkpoint, ${previous} (step ${checkpoint.position.step})` };
  }
}

/** Read `DIR/checkpoint.ckpt` (or a file path), checking magic, version and the sha256. */
export async function readCheckpoint(dirOrFile: string): Promise<Checkpoint> {
  const path = dirOrFile.endsWith('.ckpt') ? dirOrFile : checkpointPath(dirOrFile);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new Error(`no checkpoint at ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (buf.byteLength < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${path} is not an fgsgd checkpoint`);
  const damaged = (what: string) => new Error(`${path}: ${what}; the file is damaged: resume from another checkpoint or start the run again`);
  const len = buf.readUInt32LE(8);
  if (12 + len > buf.byteLength) throw damaged(`truncated: the header needs bytes 12..${12 + len}, the file has ${buf.byteLength}`);
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + len)) as Header;
  } catch (e) {
    throw damaged(`the header (bytes 12..${12 + len}) is not valid JSON (${(e as Error).message})`);
  }
  if (header.version !== FORMAT_VERSION) throw new Error(`${path}: checkpoint version ${header.version}, expected ${FORMAT_VERSION}`);
  const body = buf.subarray(12 + len);
  if (createHash('sha256').update(body).digest('hex') !== header.sha256) throw new Error(`${path}: checkpoint data is corrupt (sha256 mismatch)`);
  const weights: Record<string, TensorData> = {};
  const slots: OptimizerState['tensors'] = {};
  for (const t of header.tensors) {
    // The sha256 covers the body, not the header's table: check that each entry fits its bytes.
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset < 0 || t.offset + t.bytes > body.byteLength || t.bytes !== elements * 4) {
      throw damaged(`tensor '${t.name}' (${t.group}, shape [${t.shape.join(', ')}]) claims body bytes ${t.offset}..${t.offset + t.bytes} of ${body.byteLength}`);
    }
    // Copy into a fresh, aligned buffer: typed arrays need aligned offsets.
    const bytes = body.slice(t.offset, t.offset + t.bytes);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const data = t.dtype === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
    (t.group === 'weights' ? weights : slots)[t.name] = { dtype: t.dtype, shape: t.shape, data };
  }
  return {
    position: header.position,
    rng: header.rng,
    run: header.run,
    weights,
    optimizer: { ...header.optimizer, tensors: slots },
    ...(header.epochTotals ? { epochTotals: header.epochTotals } : {}),
  };
}
