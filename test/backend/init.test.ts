import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { initBackend, BackendError, BACKEND_NAMES, parseBackendName } from '../../src/backend/index.js';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

t.test('an unknown backend name is an error listing the valid names', async (t) => {
  await t.rejects(initBackend('webgl2'), BackendError);
  t.throws(() => parseBackendName('gpu'), /unknown backend 'gpu'; valid names: auto, tensorflow-gpu, tensorflow, webgpu, onednn, wasm, cpu/);
  t.same([...BACKEND_NAMES], ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'onednn', 'wasm', 'cpu']);
});

t.test('auto picks the first backend that loads and says why earlier ones were skipped', async (t) => {
  const info = await initBackend('auto');
  if (installed('@tensorflow/tfjs-node-gpu') || installed('@tensorflow/tfjs-node')) {
    t.ok(['tensorflow-gpu', 'tensorflow'].includes(info.name), `native backend chosen: ${info.name}`);
  } else if (info.name === 'webgpu') {
    t.equal(info.adapter?.software, false, 'webgpu is chosen only on a hardware adapter');
  } else {
    t.equal(info.name, 'wasm', 'without native packages or a hardware WebGPU adapter, wasm is chosen');
    t.same(info.skipped.map((s) => s.name), ['tensorflow-gpu', 'webgpu', 'tensorflow'], 'in auto\'s order');
    for (const s of info.skipped) {
      if (s.name === 'webgpu') t.match(s.reason, /software one .*slower than wasm|no GPU adapter|optional dependency|probing for an adapter failed/, `webgpu: says why (${s.reason})`);
      else t.match(s.reason, /npm install @tensorflow\/tfjs-node/, `${s.name}: reason names the package`);
    }
  }
  t.equal(tf.getBackend(), info.tfBackend);
});

t.test(
  'a named native backend that cannot load is an error naming the package, never a fallback',
  { skip: installed('@tensorflow/tfjs-node-gpu') ? 'tfjs-node-gpu is installed here' : false },
  async (t) => {
    const before = tf.getBackend();
    await t.rejects(initBackend('tensorflow-gpu'), /needs @tensorflow\/tfjs-node-gpu.*npm install @tensorflow\/tfjs-node-gpu/);
    t.equal(tf.getBackend(), before, 'the active backend is unchanged');
  },
);

t.test(
  'the native GPU backend loads where it is installed',
  {
    skip: installed('@tensorflow/tfjs-node-gpu')
      ? false
      : '@tensorflow/tfjs-node-gpu is not installed (its install script downloads libtensorflow, which this machine cannot reach); auto-detection is tested above',
  },
  async (t) => {
    const info = await initBackend('tensorflow-gpu');
    t.equal(info.tfBackend, 'tensorflow');
  },
);

t.test('wasm and cpu load by name', async (t) => {
  t.equal((await initBackend('wasm')).tfBackend, 'wasm');
  t.equal((await initBackend('cpu')).tfBackend, 'cpu');
});
