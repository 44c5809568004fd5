/**
 * The wasm training kernels (src/backend/wasm_kernels.ts): parity with the pure-JS `cpu` backend on
 * random shapes, strides, paddings, dilations and kernel sizes; no leaked buffers per call; no
 * leaked tensors over training steps of the zoo's conv nets; a well-formed registry.
 *
 * The convolution tests run twice: on wasm's own kernels, and with the `onednn` backend's native
 * convolutions switched on (src/backend/onednn.ts). Where the binding is not built they
 * are skipped with the reason (`.ci/run` builds it, so CI always runs them).
 *
 * Parity: each case runs the kernel on 'cpu' (tf.setBackend('cpu')), reads the values, switches to
 * 'wasm' and runs it again on the same inputs. The error is max|wasm − cpu| / max|cpu|.
 */
import t, { type Test } from 'tap';
import * as tf from '@tensorflow/tfjs';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initBackend } from '../../src/backend/index.js';
import { loadOnednnBinding, setOnednn } from '../../src/backend/onednn.js';
import { WASM_TRAINING_GRADIENTS, WASM_TRAINING_KERNELS } from '../../src/backend/wasm_kernels.js';
import { buildModel } from '../../src/models/index.js';
import { trainStep } from '../../src/train/step.js';
import { assertNoLeak, assertStepsDoNotLeak } from '../helpers/leak.js';

process.env.FGSGD_LOG_LEVEL ??= 'silent';

/** Largest accepted max|wasm − cpu| / max|cpu| (float32 sums in different orders). */
const PARITY_TOLERANCE = 1e-4;

await initBackend('cpu');
await initBackend('wasm');

/** Why the onednn binding cannot be used here, or '' when it can. */
const onednnMissing = (() => {
  try {
    loadOnednnBinding();
    return '';
  } catch (e) {
    return (e as Error).message;
  }
})();
type Engine = 'wasm' | 'onednn';
const ENGINES: Engine[] = onednnMissing ? ['wasm'] : ['wasm', 'onednn'];
if (onednnMissing) t.test('wasm with oneDNN convolutions', { skip: onednnMissing }, () => {});

/** Registers the test once per engine: wasm's own convolutions, then oneDNN's. */
function forEngines(name: string, fn: (t: Test, engine: Engine) => Promise<void>): void {
  for (const engine of ENGINES) {
    t.test(`${name} (${engine === 'wasm' ? 'wasm' : 'wasm with oneDNN convolutions'})`, async (t) => {
      setOnednn(engine === 'onednn');
      try {
        await fn(t, engine);
      } finally {
        setOnednn(false);
      }
    });
  }
}

/** mulberry32: a tiny seeded generator, so every case is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), a | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const randn = (r: () => number, size: number) => Float32Array.from({ length: size }, () => {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
});
const randInt = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

interface Input { values: Float32Array | Int32Array | Uint8Array; shape: number[]; dtype?: 'float32' | 'int32' | 'bool' }
interface Output { values: Float32Array | Int32Array | Uint8Array; shape: number[]; dtype: string }

/**
 * Runs kernel `name` on `backend` and returns its values. On wasm it also checks that the call
 * leaves no buffer behind: a kernel built from other kernels frees its intermediates itself, and
 * the engine's tensor count does not see those (so the backend's own buffer count is compared).
 */
async function run(t: Test, backend: 'cpu' | 'wasm', name: string, inputs: Record<string, Input>, attrs: object): Promise<Output> {
  await tf.setBackend(backend);
  const buffersBefore = tf.backend().numDataIds();
  const tensorsBefore = tf.memory().numTensors;
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.values, v.shape, v.dtype ?? 'float32');
  const out = tf.engine().runKernel(name, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const res = { values: out.dataSync().slice(), shape: out.shape, dtype: out.dtype };
  tf.dispose([out, ...Object.values(ts)]);
  if (backend === 'wasm') {
    t.equal(tf.backend().numDataIds(), buffersBefore, `${name}: no wasm buffer left behind`);
    t.equal(tf.memory().numTensors, tensorsBefore, `${name}: no tensor left behind`);
  }
  return res;
}

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

async function parity(t: Test, label: string, name: string, inputs: Record<string, Input>, attrs: object,
  cpuName = name, cpuInputs = inputs, cpuAttrs = attrs, post: (o: Output) => Output = (o) => o): Promise<number> {
  const want = post(await run(t, 'cpu', cpuName, cpuInputs, cpuAttrs));
  const got = await run(t, 'wasm', name, inputs, attrs);
  t.same(got.shape, want.shape, `${label}: shape`);
  t.equal(got.dtype, want.dtype, `${label}: dtype`);
  const err = relError(got.values, want.values);
  t.ok(err <= PARITY_TOLERANCE, `${label}: relative error ${err.toExponential(2)} ≤ ${PARITY_TOLERANCE}`);
  if (err >= worst.err) worst = { err, label };
  return err;
}

/** The largest parity error seen, reported at the end. */
let worst = { err: 0, label: '' };
t.teardown(() => console.log(`# largest wasm/cpu relative error: ${worst.err.toExponential(2)} (${worst.label})`));

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase { n: number; h: number; w: number; ci: number; co: number; k: [number, number]; s: [number, number]; d: number; pad: Pad }

/** The grid of cases: kernel 1 and 3 (and one 3×2), strides 1, 2, 3 and (2, 1), every padding kind, dilation 2. */
function convCases(): ConvCase[] {
  const r = rng(7);
  const pads: Pad[] = ['same', 'valid', 1, [[0, 0], [1, 2], [0, 1], [0, 0]]];
  const cases: ConvCase[] = [];
  const add = (k: [number, number], s: [number, number], d: number, pad: Pad) => cases.push({
    n: randInt(r, 1, 3), h: randInt(r, 5, 11), w: randInt(r, 5, 11), ci: randInt(r, 1, 6), co: randInt(r, 1, 7), k, s, d, pad,
  });
  for (const k of [1, 3]) for (const s of [1, 2]) for (const pad of pads) add([k, k], [s, s], 1, pad);
  for (const pad of pads) add([3, 3], [1, 1], 2, pad);
  add([3, 2], [1, 1], 1, 'same');
  add([3, 3], [3, 3], 1, 'same');
  add([3, 3], [2, 1], 1, 'same');
  add([1, 1], [2, 2], 1, 'valid');
  add([3, 3], [2, 2], 1, [[0, 0], [3, 2], [2, 3], [0, 0]]);
  return cases;
}

function convInfo(c: ConvCase) {
  // A dilated filter is, for shapes and for the reference, the filter with zeros between its taps.
  const ke: [number, number] = [(c.k[0] - 1) * c.d + 1, (c.k[1] - 1) * c.d + 1];
  const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [ke[0], ke[1], c.ci, c.co], c.s, 1, c.pad, 'floor');
  return { ke, dyShape: [c.n, info.outHeight, info.outWidth, c.co] };
}
const describe = (c: ConvCase) => `x [${c.n},${c.h},${c.w},${c.ci}] k ${c.k.join('x')} co ${c.co} s ${c.s} d ${c.d} pad ${JSON.stringify(c.pad)}`;

/** W [kh, kw, ci, co] → the dilated filter [(kh−1)d+1, (kw−1)d+1, ci, co] with zeros between taps. */
function dilateFilter(w: Float32Array, [kh, kw]: [number, number], ci: number, co: number, d: number): Float32Array {
  const keh = (kh - 1) * d + 1;
  const kew = (kw - 1) * d + 1;
  const out = new Float32Array(keh * kew * ci * co);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
    out.set(w.subarray((y * kw + x) * ci * co, (y * kw + x + 1) * ci * co), (y * d * kew + x * d) * ci * co);
  }
  return out;
}

forEngines('Conv2D matches the cpu backend', async (t) => {
  const r = rng(5);
  for (const c of convCases()) {
    const x = randn(r, c.n * c.h * c.w * c.ci);
    const w = randn(r, c.k[0] * c.k[1] * c.ci * c.co);
    const inputs = { x: { values: x, shape: [c.n, c.h, c.w, c.ci] }, filter: { values: w, shape: [c.k[0], c.k[1], c.ci, c.co] } };
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: 'floor', dilations: c.d };
    await parity(t, `y ${describe(c)}`, 'Conv2D', inputs, attrs);
  }
});

forEngines('FusedConv2D (bias, then relu, leaky relu or prelu) matches the cpu backend', async (t) => {
  const r = rng(6);
  const activations = ['linear', 'relu', 'leakyrelu', 'prelu', 'relu6', 'elu', 'sigmoid'] as const;
  for (const [i, c] of convCases().entries()) {
    const activation = activations[i % activations.length]!;
    const x = randn(r, c.n * c.h * c.w * c.ci);
    const w = randn(r, c.k[0] * c.k[1] * c.ci * c.co);
    const inputs: Record<string, Input> = {
      x: { values: x, shape: [c.n, c.h, c.w, c.ci] }, filter: { values: w, shape: [c.k[0], c.k[1], c.ci, c.co] },
      ...(i % 2 === 0 ? { bias: { values: randn(r, c.co), shape: [c.co] } } : {}),
      ...(activation === 'prelu' ? { preluActivationWeights: { values: randn(r, c.co), shape: [c.co] } } : {}),
    };
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: 'floor', dilations: c.d, activation, leakyreluAlpha: 0.1 };
    await parity(t, `fused ${activation}${inputs.bias ? '+bias' : ''} ${describe(c)}`, 'FusedConv2D', inputs, attrs);
  }
});

forEngines('Conv2DBackpropFilter matches the cpu backend', async (t) => {
  const r = rng(11);
  for (const c of convCases()) {
    const { ke, dyShape } = convInfo(c);
    const x = randn(r, c.n * c.h * c.w * c.ci);
    const dy = randn(r, size(dyShape));
    const inputs = { x: { values: x, shape: [c.n, c.h, c.w, c.ci] }, dy: { values: dy, shape: dyShape } };
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: 'floor' };
    // cpu has no dilated backprop: take the gradient for the dilated filter at the real taps.
    const keep = (o: Output): Output => {
      if (c.d === 1) return o;
      const values = new Float32Array(c.k[0] * c.k[1] * c.ci * c.co);
      for (let y = 0; y < c.k[0]; y++) for (let x2 = 0; x2 < c.k[1]; x2++) {
        const from = (y * c.d * ke[1] + x2 * c.d) * c.ci * c.co;
        values.set(o.values.subarray(from, from + c.ci * c.co) as Float32Array, (y * c.k[1] + x2) * c.ci * c.co);
      }
      return { ...o, values, shape: [c.k[0], c.k[1], c.ci, c.co] };
    };
    await parity(t, `dW ${describe(c)}`, 'Conv2DBackpropFilter', inputs,
      { ...attrs, filterShape: [c.k[0], c.k[1], c.ci, c.co], dilations: c.d },
      'Conv2DBackpropFilter', inputs, { ...attrs, filterShape: [ke[0], ke[1], c.ci, c.co] }, keep);
  }
});

forEngines('Conv2DBackpropInput matches the cpu backend', async (t) => {
  const r = rng(13);
  for (const c of convCases()) {
    const { ke, dyShape } = convInfo(c);
    const w = randn(r, c.k[0] * c.k[1] * c.ci * c.co);
    const dy = randn(r, size(dyShape));
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: 'floor', inputShape: [c.n, c.h, c.w, c.ci] };
    await parity(t, `dx ${describe(c)}`, 'Conv2DBackpropInput',
      { dy: { values: dy, shape: dyShape }, filter: { values: w, shape: [c.k[0], c.k[1], c.ci, c.co] } }, { ...attrs, dilations: c.d },
      'Conv2DBackpropInput',
      { dy: { values: dy, shape: dyShape }, filter: { values: dilateFilter(w, c.k, c.ci, c.co, c.d), shape: [ke[0], ke[1], c.ci, c.co] } }, attrs);
  }
});

t.test('MaxPoolGrad matches the cpu backend, ties included', async (t) => {
  const r = rng(17);
  const cases: { f: number; s: number; pad: Pad }[] = [];
  for (const f of [2, 3]) for (const s of [1, 2, 3]) for (const pad of ['same', 'valid', 1] as Pad[]) if (pad !== 1 || f === 3) cases.push({ f, s, pad });
  // Windows that tile the input (the short path), on even and odd sizes.
  for (let i = 0; i < 3; i++) cases.push({ f: 2, s: 2, pad: 'valid' });
  for (const { f, s, pad } of cases) {
    const shape = [randInt(r, 1, 3), randInt(r, 4, 9), randInt(r, 4, 9), randInt(r, 1, 5)];
    const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], f, s, 1, pad, 'floor');
    const dy = randn(r, size(info.outShape));
    const attrs = { filterSize: f, strides: s, pad, dimRoundingMode: 'floor' };
    const label = `x [${shape}] pool ${f} stride ${s} pad ${pad}`;
    // Tie-free data, then small integers (many equal maxima: the first one in the window wins).
    for (const [kind, x] of [['random', randn(r, size(shape))], ['ties', Float32Array.from({ length: size(shape) }, () => randInt(r, 0, 2))]] as const) {
      const output = { values: new Float32Array(size(info.outShape)), shape: info.outShape }; // unused by both kernels
      const err = await parity(t, `${label} ${kind}`, 'MaxPoolGrad', { dy: { values: dy, shape: info.outShape }, input: { values: x, shape }, output }, attrs);
      if (kind === 'ties') t.equal(err, 0, `${label}: ties resolved as on cpu (exactly)`);
    }
  }
});

t.test('Tile, Sum and Mean match the cpu backend', async (t) => {
  const r = rng(19);
  const tiles: [number[], number[], 'float32' | 'int32' | 'bool'][] = [
    [[1, 1, 1, 5], [3, 4, 2, 1], 'float32'], [[2, 3], [3, 2], 'float32'], [[4], [3], 'int32'],
    [[2, 1, 3], [1, 4, 2], 'bool'], [[3, 2, 1, 2, 2], [2, 1, 3, 1, 2], 'float32'], [[2, 3], [1, 1], 'float32'],
  ];
  for (const [shape, reps, dtype] of tiles) {
    const n = size(shape);
    const values = dtype === 'float32' ? randn(r, n) : dtype === 'int32' ? Int32Array.from({ length: n }, () => randInt(r, -9, 9)) : Uint8Array.from({ length: n }, () => randInt(r, 0, 1));
    await parity(t, `Tile [${shape}] × [${reps}] ${dtype}`, 'Tile', { x: { values, shape, dtype } }, { reps });
  }
  const reductions: [number[], number[], boolean, 'float32' | 'int32'][] = [
    [[4, 6, 5, 7], [0, 1, 2], false, 'float32'], [[4, 6, 5, 7], [2, 0, 1], true, 'float32'], [[9, 3], [0], false, 'float32'],
    [[3, 4, 5], [0, 1], false, 'float32'], [[3, 4, 5], [1, 2], false, 'float32'], [[3, 4, 5], [0, 2], true, 'float32'],
    [[3, 4, 5], [0, 1, 2], false, 'float32'], [[6, 5], [0], false, 'int32'], [[300, 17], [0], false, 'float32'],
    // Large enough for the pooling path; 127·5 rows has no divisor near its square root.
    [[16, 32, 32, 8], [0, 1, 2], false, 'float32'], [[16, 32, 32, 8], [0, 1, 2], true, 'float32'], [[127, 5, 40], [0, 1], false, 'float32'], [[4099, 7], [0], false, 'float32'],
  ];
  for (const [shape, axis, keepDims, dtype] of reductions) {
    const n = size(shape);
    const values = dtype === 'float32' ? randn(r, n) : Int32Array.from({ length: n }, () => randInt(r, -9, 9));
    for (const name of ['Sum', 'Mean']) {
      if (name === 'Mean' && dtype === 'int32') continue;
      await parity(t, `${name} [${shape}] axes [${axis}] keepDims ${keepDims} ${dtype}`, name, { x: { values, shape, dtype } }, { axis, keepDims });
    }
  }
});

t.test('Slice, SplitV, Unpack, Concat and GatherNd match the cpu backend, bit for bit', async (t) => {
  const r = rng(29);
  const values = (dtype: 'float32' | 'int32' | 'bool', n: number) =>
    dtype === 'float32' ? randn(r, n) : dtype === 'int32' ? Int32Array.from({ length: n }, () => randInt(r, -9, 9)) : Uint8Array.from({ length: n }, () => randInt(r, 0, 1));
  const exact = async (label: string, name: string, inputs: Record<string, Input>, attrs: object) => {
    const want = await run(t, 'cpu', name, inputs, attrs);
    const got = await run(t, 'wasm', name, inputs, attrs);
    t.same([got.shape, got.dtype], [want.shape, want.dtype], `${label}: shape and dtype`);
    t.ok(Buffer.from(got.values.buffer, got.values.byteOffset, got.values.byteLength).equals(Buffer.from(want.values.buffer, want.values.byteOffset, want.values.byteLength)), `${label}: identical values`);
  };
  // Contiguous runs (whole inner axes), strided ones, a single element, an empty slice, rank 5.
  const slices: [number[], number[], number[], 'float32' | 'int32' | 'bool'][] = [
    [[50], [7], [30], 'float32'], [[6, 5], [2, 0], [3, 5], 'float32'], [[6, 5], [1, 2], [4, 2], 'int32'],
    [[4, 3, 5], [1, 0, 1], [2, 3, 3], 'bool'], [[3, 4, 2, 5], [1, 1, 0, 2], [2, 2, 2, 3], 'float32'],
    [[2, 3, 2, 3, 2], [1, 0, 1, 1, 0], [1, 3, 1, 2, 2], 'float32'], [[4, 4], [3, 3], [1, 1], 'float32'],
    [[4, 4], [2, 0], [0, 4], 'float32'], [[5, 6], [1, 2], [-1, -1], 'int32'],
  ];
  for (const [shape, begin, sz, dtype] of slices) {
    await exact(`Slice [${shape}] from [${begin}] size [${sz}] ${dtype}`, 'Slice', { x: { values: values(dtype, size(shape)), shape, dtype } }, { begin, size: sz });
  }
  for (const [shape, sizes, axis] of [[[50186], [32, 64, 10, 288, 18432, 31360], 0], [[4, 6, 3], [1, 2, 3], 1], [[5, 2], 5, 0]] as [number[], number[] | number, number][]) {
    const v = values('float32', size(shape));
    const parts = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const before = [tf.memory().numTensors, tf.backend().numDataIds()];
      const x = tf.tensor(v, shape);
      const split = tf.split(x, sizes, axis);
      const out = split.map((p) => ({ shape: p.shape, values: Array.from(p.dataSync()) }));
      tf.dispose([x, ...split]);
      t.same([tf.memory().numTensors, tf.backend().numDataIds()], before, `SplitV on ${backend}: no tensor or buffer left behind`);
      return out;
    };
    t.same(await parts('wasm'), await parts('cpu'), `SplitV [${shape}] into ${JSON.stringify(sizes)} along ${axis}: identical parts`);
  }
  // Unpack and Concat on every axis, with short blocks (a batch of small matrices) and long ones.
  const lists = async (backend: 'cpu' | 'wasm', f: () => tf.Tensor[]) => {
    await tf.setBackend(backend);
    const before = [tf.memory().numTensors, tf.backend().numDataIds()];
    const outs = f();
    const res = outs.map((o) => ({ shape: o.shape, dtype: o.dtype, values: Array.from(o.dataSync()) }));
    tf.dispose(outs);
    t.same([tf.memory().numTensors, tf.backend().numDataIds()], before, `${backend}: no tensor or buffer left behind`);
    return res;
  };
  for (const [shape, dtype] of [[[520, 3, 3], 'float32'], [[4, 5, 40], 'int32'], [[3, 2, 4, 2], 'bool']] as [number[], 'float32' | 'int32' | 'bool'][]) {
    const v = values(dtype, size(shape));
    for (let axis = -1; axis < shape.length; axis++) {
      const unstack = () => tf.tidy(() => tf.unstack(tf.tensor(v, shape, dtype), axis));
      t.same(await lists('wasm', unstack), await lists('cpu', unstack), `Unpack [${shape}] ${dtype} along ${axis}: identical parts`);
      const other = [...shape];
      other[axis < 0 ? shape.length + axis : axis] = 2;
      const w = values(dtype, size(other));
      const empty = [...shape];
      empty[axis < 0 ? shape.length + axis : axis] = 0;
      const join = () => tf.tidy(() => [tf.concat([tf.tensor(v, shape, dtype), tf.tensor([], empty, dtype), tf.tensor(w, other, dtype), tf.tensor(v, shape, dtype)], axis)]);
      t.same(await lists('wasm', join), await lists('cpu', join), `Concat [${shape}], [${empty}], [${other}], [${shape}] ${dtype} along ${axis}: identical`);
    }
  }
  // One element per index row (FG-SGD's permutations), rows of slices, two-level indices, int32 and bool.
  const gathers: [number[], number[], 'float32' | 'int32' | 'bool'][] = [
    [[1000], [1000, 1], 'float32'], [[7, 5], [9, 1], 'float32'], [[4, 3, 2], [6, 2], 'int32'], [[4, 3, 2], [2, 3, 3], 'float32'], [[6], [4, 1], 'bool'],
  ];
  for (const [shape, ishape, dtype] of gathers) {
    const k = ishape[ishape.length - 1]!;
    const idx = Int32Array.from({ length: size(ishape) }, (_, i) => randInt(r, 0, shape[i % k]! - 1));
    await exact(`GatherNd [${shape}] by [${ishape}] ${dtype}`, 'GatherNd', { params: { values: values(dtype, size(shape)), shape, dtype }, indices: { values: idx, shape: ishape, dtype: 'int32' } }, {});
  }
  await tf.setBackend('wasm');
  tf.tidy(() => {
    // Rank 0 (the cpu backend returns an empty array here): the scalar itself.
    const s0 = tf.engine().runKernel('Slice', { x: tf.scalar(1.5) }, { begin: [], size: [] }) as tf.Tensor;
    t.same([s0.shape, Array.from(s0.dataSync())], [[], [1.5]], 'Slice of a scalar is the scalar');
    const params = tf.zeros([3, 4]);
    t.throws(() => tf.gatherND(params, tf.tensor2d([[0, 1], [3, 0]], [2, 2], 'int32')), /indices row 1 is \[3,0\], outside params of shape \[3,4\]/, 'an index past the end names its row and the shape');
    t.throws(() => tf.gatherND(params, tf.tensor2d([[-1]], [1, 1], 'int32')), /indices row 0 is \[-1\]/, 'a negative index too');
  });
});

t.test('per-channel Multiply, Add, Sub, RealDiv, BatchMatMul, FusedBatchNorm, Identity and Cast match the cpu backend', async (t) => {
  const r = rng(29);
  const f32 = (shape: number[]): Input => ({ values: randn(r, size(shape)), shape });
  const pairs: [number[], number[]][] = [
    [[3, 4, 5, 6], [6]], [[3, 4, 5, 6], [1, 1, 1, 6]], [[6], [3, 4, 5, 6]], [[1, 1, 6], [7, 2, 6]], [[7, 6], [6]],
    [[3, 4, 5, 6], [3, 4, 5, 6]], [[3, 4, 5, 6], []], [[3, 4, 5, 1], [1]], [[3, 4, 5, 6], [5, 6]], [[2, 6], [2, 1]],
  ];
  for (const name of ['Multiply', 'Add', 'Sub', 'RealDiv']) {
    for (const [sa, sb] of pairs) {
      const b = f32(sb);
      // Keep divisors away from 0 so that the relative error stays meaningful.
      if (name === 'RealDiv') b.values = (b.values as Float32Array).map((v) => v + Math.sign(v || 1) * 0.5);
      await parity(t, `${name} [${sa}] with [${sb}]`, name, { a: f32(sa), b }, {});
    }
  }
  for (const [sa, sb, ta, tb] of [[[7, 5], [5, 3], false, false], [[5, 7], [5, 3], true, false], [[7, 5], [3, 5], false, true], [[1, 5, 7], [1, 3, 5], true, true], [[2, 5, 7], [2, 5, 3], true, false]] as const) {
    await parity(t, `BatchMatMul [${sa}]${ta ? 'ᵀ' : ''} × [${sb}]${tb ? 'ᵀ' : ''}`, 'BatchMatMul', { a: f32([...sa]), b: f32([...sb]) }, { transposeA: ta, transposeB: tb });
  }
  for (const [xs, cs, withScale] of [[[3, 4, 5, 6], [6], true], [[3, 4, 5, 6], [1, 1, 1, 6], false], [[8, 6], [6], true], [[3, 4, 5, 6], [5, 6], true]] as const) {
    const variance = f32([...cs]);
    variance.values = (variance.values as Float32Array).map((v) => v * v + 0.1);
    const x = f32([...xs]);
    // An offset mean (|mean| ≫ σ) checks that nothing cancels catastrophically.
    const mean = f32([...cs]);
    mean.values = (mean.values as Float32Array).map((v) => v * 30);
    x.values = (x.values as Float32Array).map((v, i) => v + (mean.values as Float32Array)[i % (mean.values.length)]!);
    const inputs: Record<string, Input> = { x, mean, variance, offset: f32([...cs]) };
    if (withScale) inputs.scale = f32([...cs]);
    await parity(t, `FusedBatchNorm x [${xs}] stats [${cs}]${withScale ? '' : ' no scale'}`, 'FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 });
  }
  await parity(t, 'Identity', 'Identity', { x: f32([3, 4]) }, {});
  await parity(t, 'Cast float32 → float32', 'Cast', { x: f32([3, 4]) }, { dtype: 'float32' });
  await parity(t, 'Cast float32 → int32', 'Cast', { x: { values: Float32Array.from([1.7, -2.2, 3, 0]), shape: [4] } }, { dtype: 'int32' });
  await tf.setBackend('wasm');
  const x = tf.tensor([1, 2, 3]);
  const y = tf.engine().runKernel('Identity', { x }) as tf.Tensor;
  x.dispose();
  t.same(Array.from(y.dataSync()), [1, 2, 3], 'an Identity output outlives its input (shared buffer, counted references)');
  y.dispose();
});

t.test('unsupported configurations are refused with a clear error', async (t) => {
  await tf.setBackend('wasm');
  tf.tidy(() => {
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 3]);
    const w = tf.zeros([3, 3, 2, 3]);
    const nchw = { strides: 1, pad: 'same', dataFormat: 'NCHW' };
    t.throws(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...nchw, filterShape: [3, 3, 2, 3] }), /dataFormat 'NCHW' is not supported/);
    t.throws(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...nchw, inputShape: [1, 5, 5, 2] }), /dataFormat 'NCHW' is not supported/);
    t.throws(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: tf.zeros([1, 4, 4, 3]) }, { strides: 1, pad: 'same', filterShape: [3, 3, 2, 3] }), /dy has shape \[1,4,4,3\], expected \[1,5,5,3\]/);
    t.throws(() => tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.zeros([1, 5, 5, 3], 'int32'), filter: w }, { strides: 1, pad: 'same', inputShape: [1, 5, 5, 2] }), /dtype 'int32' is not supported/);
  });
});

forEngines('gradients of a small conv net match the cpu backend end to end', async (t) => {
  // Every replaced kernel on one path: strided conv, 1×1 strided conv, batch norm, max pool.
  const r = rng(23);
  const x = randn(r, 2 * 9 * 9 * 3);
  const params = {
    w1: { values: randn(r, 3 * 3 * 3 * 4), shape: [3, 3, 3, 4] }, w2: { values: randn(r, 4 * 6), shape: [1, 1, 4, 6] },
    gamma: { values: randn(r, 4), shape: [4] }, beta: { values: randn(r, 4), shape: [4] },
  };
  const grads = async (backend: 'cpu' | 'wasm') => {
    await tf.setBackend(backend);
    const v = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.variable(tf.tensor(p.values, p.shape), true, `${k}_${backend}`)]));
    const xt = tf.tensor4d(x, [2, 9, 9, 3]);
    const { grads: g } = tf.variableGrads(() => {
      let y: tf.Tensor = tf.conv2d(xt, v.w1 as tf.Tensor4D, 2, 'same');
      const { mean, variance } = tf.moments(y, [0, 1, 2]);
      y = tf.relu(tf.batchNorm(y, mean, variance, v.beta, v.gamma, 1e-5));
      y = tf.maxPool(y as tf.Tensor4D, 2, 1, 'same');
      y = tf.conv2d(y as tf.Tensor4D, v.w2 as tf.Tensor4D, 2, 'valid');
      return tf.sum(tf.square(y)) as tf.Scalar;
    });
    const out = Object.fromEntries(Object.keys(params).map((k) => [k, g[`${k}_${backend}`]!.dataSync().slice()]));
    tf.dispose([xt, ...Object.values(v), ...Object.values(g)]);
    return out;
  };
  const want = await grads('cpu');
  const got = await grads('wasm');
  for (const k of Object.keys(params)) {
    const err = relError(got[k]!, want[k]!);
    t.ok(err <= PARITY_TOLERANCE, `d/d${k}: relative error ${err.toExponential(2)} ≤ ${PARITY_TOLERANCE}`);
  }
});

forEngines('training the conv nets on wasm leaks no tensor', async (t) => {
  await tf.setBackend('wasm');
  for (const [name, inputShape] of [['cnn-small', [28, 28, 1]], ['resnet20', [32, 32, 3]]] as const) {
    const buffersBefore = tf.backend().numDataIds();
    await assertNoLeak(t, `${name}: build, train 3 steps, dispose`, async () => {
      const model = buildModel(name, { seed: 1 });
      const optimizer = tf.train.sgd(0.01);
      const x = tf.randomNormal([4, ...inputShape], 0, 1, 'float32', 1);
      const labels = tf.tensor1d([0, 3, 7, 9], 'int32');
      const losses: number[] = [];
      await assertStepsDoNotLeak(t, `${name} trainStep`, 2, () => losses.push(trainStep(model, optimizer, x, labels)));
      t.ok(losses.every(Number.isFinite), `${name}: finite losses ${losses.map((l) => l.toFixed(3)).join(', ')}`);
      tf.dispose([x, labels]);
      optimizer.dispose();
      model.dispose();
    });
    t.equal(tf.backend().numDataIds(), buffersBefore, `${name}: wasm buffer count back at its baseline`);
  }
});

t.test('the registry lists every kernel file once, with unique names', async (t) => {
  const names = WASM_TRAINING_KERNELS.map((k) => k.kernelName);
  t.equal(new Set(names).size, names.length, `kernel names are unique: ${names.join(', ')}`);
  const gradNames = WASM_TRAINING_GRADIENTS.map((g) => g.kernelName);
  t.equal(new Set(gradNames).size, gradNames.length, `gradient names are unique: ${gradNames.join(', ')}`);
  t.ok(WASM_TRAINING_KERNELS.every((k) => k.backendName === 'wasm'), 'every kernel is for wasm');
  const dir = join(dirname(fileURLToPath(import.meta.url)), '../../src/backend/kernels');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'kernel_utils.ts');
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
    const configs = Object.values(mod).filter((v): v is tf.KernelConfig & tf.GradConfig => typeof v === 'object' && v !== null && 'kernelName' in v);
    t.equal(configs.length, 1, `${file} exports one config`);
    const config = configs[0]!;
    if (file.endsWith('_grad.ts')) {
      t.equal(config.kernelName, file.replace(/_grad\.ts$/, ''), `${file} is named after its kernel`);
      t.ok(WASM_TRAINING_GRADIENTS.includes(config), `${file} is listed in the gradient registry`);
      t.equal(tf.getGradient(config.kernelName)?.gradFunc, config.gradFunc, `${config.kernelName}'s gradient is the registered one`);
    } else {
      t.equal(config.kernelName, file.replace(/\.ts$/, ''), `${file} is named after its kernel`);
      t.ok(WASM_TRAINING_KERNELS.includes(config), `${file} is listed in the kernel registry`);
      t.equal(tf.getKernel(config.kernelName, 'wasm')?.kernelFunc, config.kernelFunc, `${config.kernelName} is the registered wasm kernel`);
    }
  }
  t.equal(files.length, WASM_TRAINING_KERNELS.length + WASM_TRAINING_GRADIENTS.length, 'no registry entry without its file');
});
