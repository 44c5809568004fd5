import t from 'tap';
import { from, range, map, take, concat, throwError } from 'rxjs';
import { AUGMENTATIONS, flipHorizontal, normalize, randomCrop, resolveAugmentations, type Augmentation } from '../../src/data/augmentations.js';
import type { Sample } from '../../src/data/types.js';
import { Rng } from '../../src/random.js';
import { augment } from '../../operators/augment.js';
import { collect, streamError } from './fixtures.js';

/** 3×4 image, 2 channels: value = 10*(y*4+x) + channel. */
function sample(key = 's'): Sample {
  const image = new Uint8Array(3 * 4 * 2);
  for (let p = 0; p < 12; p++) for (let c = 0; c < 2; c++) image[p * 2 + c] = 10 * p + c;
  return { key, image, shape: [3, 4, 2], label: 1 };
}
const px = (s: Sample, y: number, x: number) => [...s.image.subarray((y * 4 + x) * 2, (y * 4 + x) * 2 + 2)];

t.test('the registry: names are unique and every built-in is listed', async (t) => {
  const names = AUGMENTATIONS.map((a) => a.name);
  t.equal(new Set(names).size, names.length, `unique: ${names.join(', ')}`);
  for (const a of [randomCrop, flipHorizontal, normalize]) t.ok(AUGMENTATIONS.includes(a), `${a.name} listed`);
  for (const a of AUGMENTATIONS) t.ok(a.options.length > 0 && typeof a.create === 'function', `${a.name} is a config object`);
});

t.test('flipHorizontal mirrors rows (probability 1) or does nothing (0)', async (t) => {
  const s = sample();
  const flipped = flipHorizontal.create({ probability: 1 })(s, Rng.create(1));
  t.same(px(flipped, 0, 0), px(s, 0, 3));
  t.same(px(flipped, 2, 1), px(s, 2, 2));
  t.same([...s.image.subarray(0, 2)], [0, 1], 'input not mutated');
  t.equal(flipHorizontal.create({ probability: 0 })(s, Rng.create(1)), s);
  const rng = Rng.create(5);
  const n = 2000;
  let flips = 0;
  const f = flipHorizontal.create({});
  for (let i = 0; i < n; i++) if (f(s, rng) !== s) flips++;
  t.ok(Math.abs(flips / n - 0.5) < 0.05, `about half flipped (${flips}/${n})`);
});

t.test('randomCrop shifts by at most padding and fills with zeros', async (t) => {
  const s = sample();
  const crop = randomCrop.create({ padding: 1 });
  const rng = Rng.create(2);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const out = crop(s, rng);
    t.equal(out.image.length, s.image.length);
    // find the shift: the output pixel (y,x) is the input pixel (y+dy, x+dx) or zero
    const v = px(out, 1, 1);
    const p = v[0]! / 10;
    const dy = Math.floor(p / 4) - 1;
    const dx = (p % 4) - 1;
    seen.add(`${dy},${dx}`);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 4; x++) {
        const sy = y + dy;
        const sx = x + dx;
        const want = sy >= 0 && sy < 3 && sx >= 0 && sx < 4 ? px(s, sy, sx) : [0, 0];
        if (px(out, y, x).join() !== want.join()) {
          t.fail(`pixel ${y},${x} for shift ${dy},${dx}`);
          return;
        }
      }
    }
  }
  t.equal(seen.size, 9, `all 9 shifts of padding 1 occur: ${[...seen].join(' ')}`);
  t.throws(() => randomCrop.create({ padding: -1 }), /padding must be an integer/);
});

t.test('normalize: per-channel mean/std, byte images scaled to [0,1] first', async (t) => {
  const s = sample();
  const out = normalize.create({ mean: [0.5, 0.25], std: [0.5, 0.25] })(s, Rng.create(0));
  t.type(out.image, Float32Array);
  // pixel 3: channels 30, 31
  t.ok(Math.abs(out.image[6]! - (30 / 255 - 0.5) / 0.5) < 1e-6);
  t.ok(Math.abs(out.image[7]! - (31 / 255 - 0.25) / 0.25) < 1e-6);
  const again = normalize.create({ mean: [1], std: [2] })(out, Rng.create(0));
  t.ok(Math.abs(again.image[6]! - (out.image[6]! - 1) / 2) < 1e-6, 'float images are not rescaled');
  t.throws(() => normalize.create({ mean: [0.5], std: [0] }), /std must be > 0/);
  t.throws(() => normalize.create({ mean: [0.1, 0.2, 0.3], std: [1, 1, 1] })(s, Rng.create(0)), /3 means for an image with 2 channels/);
});

t.test('augment: validates ops when built; seeded; unknown names list the known ones', async (t) => {
  t.throws(() => augment({ seed: 1, ops: [{ name: 'rotate' }] }), /unknown augmentation 'rotate' \(known: randomCrop, flipHorizontal, normalize\)/);
  t.throws(() => augment({ seed: 1, ops: [{ name: 'randomCrop', paddin: 4 }] }), /randomCrop has no option 'paddin'/);
  t.throws(() => augment({ ops: [] }), /seed or an rng/);
  const ops = [{ name: 'randomCrop', padding: 1 }, { name: 'flipHorizontal' }];
  const input = () => range(0, 20).pipe(map((i) => sample(`k${i}`)));
  const a = await collect(input().pipe(augment({ seed: 4, ops })));
  const b = await collect(input().pipe(augment({ seed: 4, ops })));
  const c = await collect(input().pipe(augment({ seed: 5, ops })));
  t.same(a.map((s) => [...s.image]), b.map((s) => [...s.image]), 'same seed, same draws');
  t.notSame(a.map((s) => [...s.image]), c.map((s) => [...s.image]), 'other seed, other draws');
  t.same(a.map((s) => s.key), input() && a.map((_, i) => `k${i}`), 'order kept');
});

t.test('augment: custom registry entries; errors; unsubscribe', async (t) => {
  const invert: Augmentation<{ max?: number }> = {
    name: 'invert',
    options: ['max'],
    create: ({ max = 255 }) => (s) => ({ ...s, image: s.image.map((v) => max - v) as Uint8Array }),
  };
  const [out] = await collect(from([sample()]).pipe(augment({ seed: 1, ops: [{ name: 'invert' }], registry: [...AUGMENTATIONS, invert] })));
  t.same([...out!.image.subarray(0, 2)], [255, 254]);
  t.equal(resolveAugmentations([], AUGMENTATIONS).length, 0);
  const boom = new Error('boom');
  t.equal(await streamError(concat(from([sample()]), throwError(() => boom)).pipe(augment({ seed: 1, ops: [] }))), boom);
  t.equal((await collect(range(0, 100).pipe(map(() => sample()), augment({ seed: 1, ops: [{ name: 'flipHorizontal' }] }), take(2)))).length, 2);
});
