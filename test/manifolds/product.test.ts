import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { euclidean, oblique, product, sphere, stiefel } from '../../src/manifolds/index.js';
import { assertNoLeak } from '../helpers/leak.js';
import { checkBatched, checkManifold, onBackends, leakAsserter } from './props.js';

await onBackends(t, async (t) => {
  const comps = [sphere(), stiefel({ retraction: 'cayley' }), oblique(), stiefel({ retraction: 'polar' })];
  const m = product(comps);
  const shape = [[4, 3, 3], [4, 9, 1], [4, 5, 3], [4, 3, 2]];

  t.test('properties (Sp × St × Ob × St)', async (t) => {
    await assertNoLeak(leakAsserter(t), 'product properties', () => {
      checkManifold(t, { label: m.name, m, shape });
      checkBatched(t, { label: m.name, m, shape });
      const withEuc = product([sphere(), euclidean()]);
      checkManifold(t, { label: withEuc.name, m: withEuc, shape: [[3, 3, 3], [3, 2, 4]] });
    });
  });

  t.test('inner and dist combine the components; expmap/dist exist only when every component has them', async (t) => {
    await assertNoLeak(leakAsserter(t), 'product combination', () => {
      tf.tidy(() => {
        const pm = product([sphere(), oblique()]);
        const shapes = [[2, 3, 3], [2, 4, 2]];
        const x = pm.random(shapes, 1);
        const y = pm.random(shapes, 2);
        const u = pm.proju(x, [tf.randomNormal([2, 3, 3]), tf.randomNormal([2, 4, 2])]);
        const sum = tf.add(sphere().inner(x[0]!, u[0]!, u[0]!), oblique().inner(x[1]!, u[1]!, u[1]!));
        t.ok(tf.max(tf.abs(tf.sub(pm.inner(x, u, u), sum))).dataSync()[0]! <= 1e-5, 'inner = Σ component inners');
        const d2 = tf.add(tf.square(sphere().dist!(x[0]!, y[0]!)), tf.square(oblique().dist!(x[1]!, y[1]!)));
        t.ok(tf.max(tf.abs(tf.sub(pm.dist!(x, y), tf.sqrt(d2)))).dataSync()[0]! <= 1e-5, 'dist = sqrt(Σ distᵢ²)');
        t.same(pm.dist!(x, y).shape, [2], 'per-point scalars have the batch shape');
      });
    });
    t.equal(product([sphere(), stiefel()]).dist, undefined, 'no dist when a component lacks one (Stiefel)');
    t.type(product([sphere(), stiefel()]).expmap, 'function');
  });

  t.test('constants, tag and errors', async (t) => {
    const shapes = [[3, 3], [5, 2]];
    const pm = product([sphere(), oblique()]);
    t.equal(pm.diameter(shapes), Math.hypot(Math.PI, Math.PI * Math.sqrt(2)), 'diameter = sqrt(Σ dᵢ²)');
    t.equal(pm.curvature(shapes), 1);
    t.equal(product([euclidean(), euclidean()]).curvature(shapes), 0);
    t.equal(product([sphere(), euclidean()]).diameter(shapes), Infinity);
    t.equal(pm.tag, 'Sp×Ob');
    t.throws(() => pm.assertShape([[3, 3]], 'group 4'), /expected 2 component shapes \(at group 4\)/);
    t.throws(() => product([sphere(), stiefel()]).assertShape([[3, 3], [2, 5]], 'group 4'), /\(at group 4\[1\]\) has rows 2 < cols 5/);
    t.throws(() => pm.assertShape([[4, 3, 3], [5, 2, 2]]), /batch shapes \[4\] and \[5\] do not broadcast/);
    t.throws(() => product([]), /at least one component/);
    const x = tf.zeros([3, 3]);
    t.throws(() => pm.projx([x]), /expected 2 component tensors, got 1/);
    x.dispose();
  });
});
