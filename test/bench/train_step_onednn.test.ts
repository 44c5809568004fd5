/**
 * The bench's train-step section on onednn: one engine, and 2 replicas on onednn, every row
 * measured, labelled with its threads and leak-free.
 * Skipped with the reason where the binding is not built (`.ci/run` builds it).
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { loadOnednnBinding } from '../../src/backend/onednn.js';
import { benchTrainStep, replicaCounts } from '../../bench/sections/train_step.js';
import { parseBenchArgs, REPO_ROOT } from '../../bench/run.js';
import type { TorchReference } from '../../bench/torch.js';

process.env.FGSGD_LOG_LEVEL ??= 'silent';

t.test('replica counts measured per backend', async (t) => {
  t.same(replicaCounts('onednn', 2), [1, 2]);
  t.same(replicaCounts('onednn', 1), [1]);
  t.same(replicaCounts('wasm', 2), [1, 2]);
  t.same(replicaCounts('webgpu', 2), [1]);
});

let missing = '';
try {
  loadOnednnBinding();
} catch (e) {
  missing = (e as Error).message;
}

t.test('bench train-step on onednn: one engine, 2 replicas', { skip: missing || false }, async (t) => {
  const options = parseBenchArgs(['--sections', 'train-step', '--models', 'cnn-small', '--backends', 'onednn', '--steps', '1', '--warmup', '0', '--budget', '30', '--workers', '2', '--skip-torch']);
  const torch = { available: false, reason: 'not needed here' } as unknown as TorchReference;
  const before = tf.memory().numTensors;
  const r = await benchTrainStep({ options, repoRoot: REPO_ROOT, torch, progress: (line) => t.comment(line) });
  type Row = { backend: string; tfBackend?: string; status: string; reason?: string; threads: number; replicas?: number; imagesPerSecond?: number; tensorsLeakedPerStep?: number; target?: number };
  const rows = (r.data as { rows: Row[] }).rows;
  t.same(rows.map((x) => [x.threads, x.replicas ?? 1]), [[1, 1], [2, 2]], 'threads and replicas');
  for (const row of rows) {
    t.equal(row.status, 'ok', `measured${row.reason ? ` (${row.reason})` : ''}`);
    t.equal(row.tfBackend, 'wasm');
    t.ok(row.imagesPerSecond! > 0, `${row.imagesPerSecond} images/s`);
    t.equal(row.tensorsLeakedPerStep, 0, 'no tensor left per step');
  }
  t.same(rows.map((x) => x.target), [0.5, 0.7], 'one thread against the one-thread target, two replicas against the parallel one');
  t.match(r.text, /onednn×2\s+2\s/);
  t.equal(tf.memory().numTensors, before, 'the section frees what it made');
});
