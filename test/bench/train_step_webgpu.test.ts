/**
 * The bench's train-step section on webgpu (lavapipe in CI, as `.ci/run` installs it): a step is
 * timed until its loss is read back asynchronously. A synchronous read of a GPU-resident tensor
 * throws in Node ("OffscreenCanvas is not defined"), so the row would fail without that path.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { tryWebgpu } from '../helpers/backend.js';
import { benchTrainStep } from '../../bench/sections/train_step.js';
import { parseBenchArgs, REPO_ROOT } from '../../bench/run.js';
import type { TorchReference } from '../../bench/torch.js';

const { info, why } = await tryWebgpu();

if (!info) {
  t.test('bench train-step on webgpu', { skip: `no WebGPU adapter here: ${why}` }, () => undefined);
} else {
  t.test('bench train-step times a cnn-small step on webgpu, without leaks', async (t) => {
    // Control: a synchronous read of a GPU-resident result throws here, which is why the bench
    // reads the loss asynchronously on webgpu.
    const big = tf.matMul(tf.ones([128, 128]), tf.ones([128, 128]));
    t.throws(() => big.dataSync(), 'a synchronous read of a GPU tensor fails on webgpu in Node');
    t.equal((await big.data())[0], 128, 'the asynchronous read works');
    big.dispose();

    const options = parseBenchArgs(['--sections', 'train-step', '--models', 'cnn-small', '--backends', 'webgpu', '--steps', '1', '--warmup', '0', '--budget', '120', '--workers', '1', '--skip-torch']);
    const torch = { available: false, reason: 'not needed here' } as unknown as TorchReference;
    const before = tf.memory().numTensors;
    const r = await benchTrainStep({ options, repoRoot: REPO_ROOT, torch, progress: (line) => t.comment(line) });
    const row = (r.data as { rows: { backend: string; tfBackend?: string; status: string; reason?: string; timedSteps?: number; imagesPerSecond?: number; tensorsLeakedPerStep?: number }[] }).rows[0]!;
    t.equal(row.status, 'ok', `the row is measured${row.reason ? ` (${row.reason})` : ''}`);
    t.equal(row.tfBackend, 'webgpu');
    t.ok(row.timedSteps! >= 1 && row.imagesPerSecond! > 0, `${row.imagesPerSecond} images/s over ${row.timedSteps} step(s)`);
    t.equal(row.tensorsLeakedPerStep, 0, 'no tensor left per step');
    t.equal(tf.memory().numTensors, before, 'the section frees what it made');
  });
}
