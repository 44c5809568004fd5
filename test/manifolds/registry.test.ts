import t from 'tap';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {
  manifoldByTag,
  MANIFOLD_TAGS,
  MANIFOLDS,
  parseManifoldTags,
  UnknownManifoldError,
} from '../../src/manifolds/index.js';
import * as api from '../../src/manifolds/index.js';
import { useBackend } from '../helpers/backend.js';

await useBackend('cpu');

t.test('registry: unique tags and names, every manifold file listed', async (t) => {
  t.same([...MANIFOLD_TAGS], ['Sp', 'Ob', 'St', 'Euc']);
  t.equal(new Set(MANIFOLDS.map((c) => c.name)).size, MANIFOLDS.length, 'names are unique');
  const dir = fileURLToPath(new URL('../../src/manifolds/', import.meta.url));
  const support = new Set(['index.ts', 'types.ts', 'linalg.ts', 'common.ts', 'derived.ts', 'product.ts', 'scaled.ts']);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !support.has(f));
  t.same(files.map((f) => f.replace(/\.ts$/, '')).sort(), MANIFOLDS.map((c) => c.name).sort(), 'one registry entry per manifold file');
  for (const c of MANIFOLDS) {
    const m = c.create();
    t.equal(m.tag, c.tag, `${c.tag}: create() makes a manifold with that tag`);
    t.equal(m.name, c.name);
  }
  t.equal(manifoldByTag('St').create({ retraction: 'cayley' }).name, 'stiefel(cayley)', 'options reach the factory');
  for (const f of ['sphere', 'oblique', 'stiefel', 'euclidean', 'product', 'scaled'] as const) t.type(api[f], 'function', `index exports ${f}()`);
});

t.test('manifoldByTag', async (t) => {
  t.equal(manifoldByTag('Sp').name, 'sphere');
  t.equal(manifoldByTag('stiefel').tag, 'St', 'a name works too');
  t.throws(() => manifoldByTag('Gr'), UnknownManifoldError);
  t.throws(() => manifoldByTag('Gr'), /unknown manifold 'Gr'; valid tags: Sp \(sphere\), Ob \(oblique\), St \(stiefel\), Euc \(euclidean\)/);
  t.same(parseManifoldTags('Sp+Ob+St+Euc').map((c) => c.tag), ['Sp', 'Ob', 'St', 'Euc']);
  t.throws(() => parseManifoldTags('Sp+Xx'), /unknown manifold 'Xx'; valid tags/);
  t.throws(() => parseManifoldTags('Sp+Sp'), /names Sp twice/);
});

t.test('derived operations', async (t) => {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const m = api.sphere();
    const x = m.random([2, 3, 3], 1);
    const u = m.proju(x, tf.randomNormal([2, 3, 3], 0, 1, 'float32', 2));
    const n = api.norm(m, x, u);
    t.ok(tf.max(tf.abs(tf.sub(n, tf.norm(u, 'euclidean', [-2, -1])))).dataSync()[0]! < 1e-6, 'norm = sqrt(inner)');
    const [y, w] = api.retrTransp(m, x, u, u);
    t.ok(tf.max(m.tangentResidual(y, w)).dataSync()[0]! < 1e-5, 'retrTransp: transported vector is tangent at y');
    const [y2] = api.expmapTransp(api.stiefel(), api.stiefel().random([3, 3], 1), tf.zeros([3, 3]), tf.zeros([3, 3]));
    t.same(y2.shape, [3, 3]);
  });
  t.equal(tf.memory().numTensors, before, 'no tensor leaked');
});
