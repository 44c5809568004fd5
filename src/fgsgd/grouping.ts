/**
 * Grouping: from a tfjs-layers model, the collection of POMs (products of manifolds) of every layer.
 *
 * The unit is the kernel matrix (FGSGD.md, "The weights and their groups").
 * - A conv kernel `[kh, kw, cin, cout]` holds cin·cout component matrices ω(c, d) of size kh×kw.
 *   The components form a grid of I = cin input units × J = cout output units.
 * - A 1×1 convolution or a dense layer (`[cin, cout]`) would give degenerate 1×1 matrices. Its
 *   cin×cout matrix is instead tiled into blocks of `rows` consecutive input channels × `cols`
 *   consecutive output channels **[choice]**; each block is one component matrix, and the grid is
 *   I = cin/rows block-rows × J = cout/cols block-columns. `rows` is the largest divisor of cin
 *   that is ≤ `block.rows` (default 8), `cols` the largest divisor of cout that is ≤
 *   min(`block.cols` (default 4), rows), so that Stiefel (rows ≥ cols) can always hold a block.
 *   `block: { rows: cin, cols: 1 }` makes every column of the matrix a component.
 * - Other kernel ranks: a 1-D kernel `[k, cin, cout]` gives k×1 components; a 3-D one
 *   `[k0, k1, k2, cin, cout]` gives (k0·k1)×k2 components.
 *
 * Strategies (a group = a set of components sharing a manifold type, treated as one POM point):
 * - **PI**: for each input unit i, the output units are drawn without replacement (a seeded
 *   shuffle) and cut into groups of `groupSize`: group = {i} × (those output units).
 * - **PO**: the same with the roles swapped: group = (input units) × {d}.
 * - **PIO** **[choice]**: the input units are drawn without replacement and split in two halves;
 *   kernels whose input unit is in the first half (⌈I/2⌉ units) form PI groups, the others form
 *   PO groups (per output unit, over the second half's input units). Both kinds of group appear in
 *   the layer, and every kernel lies in exactly one group.
 *
 * Manifold types: a mix such as "Sp+Ob+St+Euc" is split equally among a layer's groups (counts
 * differ by at most one) and assigned to groups by a seeded shuffle **[choice]**; an override map
 * (by layer name) sets the mix, strategy, group size or block of single layers. Biases, batch-norm
 * parameters and every other non-kernel weight stay Euclidean (`others`).
 *
 * Everything is drawn once, from `seed` (one RNG stream per layer, so that adding a layer never
 * shifts another's draw), and then fixed. The result is plain data (no tensors), safe to
 * serialise as JSON; `planKernel` derives the index arrays that the optimizer turns into index
 * tensors once, so that an update never loops over kernels in JS.
 */
import type * as tf from '@tensorflow/tfjs';
import { Rng } from '../random.js';
import { TRUNCATED_NORMAL_VARIANCE } from './radius.js';
import { MANIFOLD_TAGS, parseManifoldTags } from '../manifolds/index.js';

export const STRATEGIES = ['PI', 'PO', 'PIO'] as const;
export type Strategy = (typeof STRATEGIES)[number];
/** FG-SGD's defaults, the one place they are set: PIO grouping over the full collection. */
export const DEFAULT_STRATEGY: Strategy = 'PIO';
export const DEFAULT_MANIFOLDS = 'Sp+Ob+St+Euc';

/** Default number of kernels per group **[choice]**. */
export const DEFAULT_GROUP_SIZE = 8;
/** Default block targets for 1×1 convolutions and dense layers **[choice]**. */
export const DEFAULT_BLOCK = { rows: 8, cols: 4 } as const;

export interface BlockShape {
  rows: number;
  cols: number;
}

/** Per-layer settings that replace the global ones. */
export interface LayerOverride {
  strategy?: Strategy;
  /** A mix such as 'St' or 'Sp+Ob'. */
  manifolds?: string;
  groupSize?: number;
  /** Block targets (1×1 convolutions and dense layers only). */
  block?: BlockShape;
}

export interface GroupingConfig {
  strategy?: Strategy;
  /** Manifold mix, tags joined by '+': 'Sp', 'Sp+Ob+St', 'Sp+Ob+St+Euc', 'Euc', ... */
  manifolds?: string;
  groupSize?: number;
  seed?: number;
  block?: BlockShape;
  /** Settings per layer name. */
  overrides?: Record<string, LayerOverride>;
}

/** A trainable weight: the layer it belongs to and its two names. */
export interface WeightSpec {
  layerName: string;
  /** Stable name ('conv1/kernel'), the key of optimizer state and reports. */
  weightName: string;
  /** Name of the backing tf.Variable ('conv1/kernel_1' for a second copy of a model). */
  variableName: string;
  shape: number[];
  /** 'kernel' for the constrained weights of conv and dense layers. */
  role: 'kernel' | 'other';
  /** Kernels: the layer's kernel initializer (its class name), when the model says. */
  initializer?: string;
  /**
   * Kernels: E[w²] of one element under that initializer (`initializerSecondMoment`), the basis
   * of the `init` radius policy; absent when the initializer is unknown.
   */
  initSecondMoment?: number;
}

export interface GroupInfo {
  /** Manifold tag ('Sp', 'Ob', 'St', 'Euc'). */
  tag: string;
  /** PI: the group shares input unit `unit`; PO: output unit `unit`. */
  kind: 'PI' | 'PO';
  unit: number;
  /** Number of component matrices. */
  size: number;
}

export interface KernelGrouping extends WeightSpec {
  role: 'kernel';
  /** 'spatial': components are kh×kw slices; 'block': blocks of a cin×cout matrix. */
  layout: 'spatial' | 'block';
  /** Component matrix shape. */
  rows: number;
  cols: number;
  /** Component grid: component n = i·outUnits + j. */
  inUnits: number;
  outUnits: number;
  /** Input channels of the layer (λ is estimated per input channel). */
  inChannels: number;
  strategy: Strategy;
  /** Group id of every component (length inUnits·outUnits). */
  groupOf: number[];
  groups: GroupInfo[];
}

export interface Grouping {
  config: Required<Omit<GroupingConfig, 'overrides'>> & { overrides: Record<string, LayerOverride> };
  kernels: KernelGrouping[];
  /** Non-kernel trainable weights (biases, batch-norm): Euclidean, updated by plain SGD. */
  others: WeightSpec[];
}

/** Parse 'Sp+Ob+St+Euc' into tags; unknown tags give an error listing the valid ones. */
export function parseManifoldMix(mix: string, where = 'manifolds'): string[] {
  try {
    return parseManifoldTags(mix).map((c) => c.tag);
  } catch (e) {
    throw new Error(`${where}: ${e instanceof Error ? e.message : String(e)} Join tags with '+', e.g. 'Sp+Ob+St+Euc'.`);
  }
}

export function parseStrategy(s: string, where = 'grouping'): Strategy {
  if ((STRATEGIES as readonly string[]).includes(s)) return s as Strategy;
  throw new Error(`${where}: unknown grouping strategy '${s}'; valid strategies: ${STRATEGIES.join(', ')}.`);
}

interface LayerVariableLike {
  name: string;
  originalName?: string;
  shape: number[];
  val?: { name: string };
  trainable?: boolean;
}

/** Trainable weights of a model, with their layer; 'kernel' for conv/dense kernels of rank ≥ 2. */
export function weightSpecsOf(model: tf.LayersModel): WeightSpec[] {
  const specs: WeightSpec[] = [];
  const seen = new Set<string>();
  for (const layer of model.layers) {
    for (const w of layer.trainableWeights as unknown as LayerVariableLike[]) {
      const variableName = w.val?.name ?? w.name;
      if (seen.has(variableName)) continue; // a weight shared by two layers is grouped once
      seen.add(variableName);
      const weightName = w.originalName ?? w.name;
      const isKernel = /(^|\/)kernel$/.test(weightName) && w.shape.length >= 2;
      const spec: WeightSpec = { layerName: layer.name, weightName, variableName, shape: [...w.shape], role: isKernel ? 'kernel' : 'other' };
      const init = isKernel ? (layer as unknown as { kernelInitializer?: InitializerLike }).kernelInitializer : undefined;
      if (init) {
        spec.initializer = init.getClassName();
        const m = initializerSecondMoment(init, w.shape);
        if (m !== undefined) spec.initSecondMoment = m;
      }
      specs.push(spec);
    }
  }
  return specs;
}

interface InitializerLike {
  getClassName(): string;
  getConfig(): Record<string, unknown>;
}

/** tfjs-layers' fans of a kernel shape (channels last): [fanIn, fanOut]. */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 2) return [shape[0]!, shape[1]!];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

/**
 * E[w²] of one element drawn by a tfjs-layers initializer for a kernel of `shape`, from the
 * initializer's class and config, exactly as tfjs draws (its truncated normal is cut at ±2σ and
 * not rescaled, so its variance is `TRUNCATED_NORMAL_VARIANCE`·σ²). Covers the variance-scaling
 * family (He, Glorot, LeCun, VarianceScaling), RandomNormal, TruncatedNormal, RandomUniform,
 * Orthogonal, Constant, Ones and Zeros; undefined for any other.
 */
export function initializerSecondMoment(init: InitializerLike, shape: readonly number[]): number | undefined {
  const c = init.getConfig() as Record<string, number | string | undefined>;
  const num = (k: string, d: number) => (typeof c[k] === 'number' ? (c[k] as number) : d);
  const [fanIn, fanOut] = fans(shape);
  switch (init.getClassName()) {
    case 'VarianceScaling':
    case 'HeNormal':
    case 'HeUniform':
    case 'GlorotNormal':
    case 'GlorotUniform':
    case 'LeCunNormal':
    case 'LeCunUniform': {
      const n = c.mode === 'fanIn' ? fanIn : c.mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2;
      const scale = num('scale', 1) / Math.max(1, n);
      return c.distribution === 'normal' ? TRUNCATED_NORMAL_VARIANCE * scale : scale;
    }
    case 'RandomNormal':
      return num('stddev', 0.05) ** 2 + num('mean', 0) ** 2;
    case 'TruncatedNormal':
      return TRUNCATED_NORMAL_VARIANCE * num('stddev', 0.05) ** 2 + num('mean', 0) ** 2;
    case 'RandomUniform': {
      const a = num('minval', -0.05);
      const b = num('maxval', 0.05);
      return (a * a + a * b + b * b) / 3;
    }
    case 'Orthogonal': {
      // Rows of the flattened [Π shape[:-1], cout] matrix (or its columns) are orthonormal, × gain.
      const cols = shape[shape.length - 1]!;
      const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      return (num('gain', 1) ** 2 * Math.min(rows, cols)) / (rows * cols);
    }
    case 'Constant':
      return num('value', 0) ** 2;
    case 'Ones':
      return 1;
    case 'Zeros':
      return 0;
    default:
      return undefined;
  }
}

function largestDivisorAtMost(n: number, cap: number): number {
  for (let d = Math.max(1, Math.min(n, Math.floor(cap))); d >= 1; d--) if (n % d === 0) return d;
  return 1;
}

/** Component matrix geometry of a kernel shape `[...spatial, cin, cout]`. */
export function kernelGeometry(shape: readonly number[], block: BlockShape = DEFAULT_BLOCK): Pick<KernelGrouping, 'layout' | 'rows' | 'cols' | 'inUnits' | 'outUnits' | 'inChannels'> {
  if (shape.length < 2) throw new Error(`a kernel needs rank ≥ 2, got shape [${shape.join(', ')}].`);
  const cin = shape[shape.length - 2]!;
  const cout = shape[shape.length - 1]!;
  const spatial = shape.slice(0, -2);
  const area = spatial.reduce((a, b) => a * b, 1);
  if (area === 1) {
    const rows = largestDivisorAtMost(cin, block.rows);
    const cols = largestDivisorAtMost(cout, Math.min(block.cols, rows));
    return { layout: 'block', rows, cols, inUnits: cin / rows, outUnits: cout / cols, inChannels: cin };
  }
  const cols = spatial.length === 1 ? 1 : spatial[spatial.length - 1]!;
  return { layout: 'spatial', rows: area / cols, cols, inUnits: cin, outUnits: cout, inChannels: cin };
}

function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Draw the groups of one kernel (component ids n = i·J + j). */
function drawGroups(I: number, J: number, strategy: Strategy, groupSize: number, rng: Rng): { kind: 'PI' | 'PO'; unit: number; members: number[] }[] {
  const groups: { kind: 'PI' | 'PO'; unit: number; members: number[] }[] = [];
  const pi = (inputs: number[]) => {
    for (const i of inputs) {
      for (const part of chunks(rng.shuffled(range(J)), groupSize)) groups.push({ kind: 'PI', unit: i, members: part.map((j) => i * J + j) });
    }
  };
  const po = (inputs: number[]) => {
    if (inputs.length === 0) return;
    for (let j = 0; j < J; j++) {
      for (const part of chunks(rng.shuffled(inputs), groupSize)) groups.push({ kind: 'PO', unit: j, members: part.map((i) => i * J + j) });
    }
  };
  if (strategy === 'PI') pi(range(I));
  else if (strategy === 'PO') po(range(I));
  else {
    const drawn = rng.shuffled(range(I));
    const half = Math.ceil(I / 2);
    pi(drawn.slice(0, half).sort((a, b) => a - b));
    po(drawn.slice(half).sort((a, b) => a - b));
  }
  return groups;
}

/** Equal split of `tags` over `count` groups, assigned by a seeded shuffle. */
function assignTags(count: number, tags: readonly string[], rng: Rng): string[] {
  const k = tags.length;
  const base = Math.floor(count / k);
  const extra = count % k;
  const lucky = new Set(rng.shuffled(range(k)).slice(0, extra));
  const pool: string[] = [];
  tags.forEach((t, i) => {
    for (let n = 0; n < base + (lucky.has(i) ? 1 : 0); n++) pool.push(t);
  });
  return rng.shuffled(pool);
}

function checkShape(tag: string, spec: WeightSpec, rows: number, cols: number, mixWhere: string): void {
  try {
    parseManifoldTags(tag)[0]!.create().assertShape([rows, cols], `layer '${spec.layerName}'`);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new Error(
      `layer '${spec.layerName}' (kernel [${spec.shape.join(', ')}]): its ${rows}×${cols} kernel matrices cannot lie on '${tag}' (${reason}). ` +
        `Transpose the kernel layout, or give this layer another manifold, e.g. overrides: { '${spec.layerName}': { manifolds: 'Sp+Ob' } } (${mixWhere}).`,
    );
  }
}

function resolveConfig(config: GroupingConfig): Grouping['config'] {
  const strategy = parseStrategy(config.strategy ?? DEFAULT_STRATEGY);
  const manifolds = config.manifolds ?? DEFAULT_MANIFOLDS;
  parseManifoldMix(manifolds);
  const groupSize = config.groupSize ?? DEFAULT_GROUP_SIZE;
  if (!(Number.isInteger(groupSize) && groupSize >= 1)) throw new Error(`grouping: groupSize must be an integer ≥ 1, got ${groupSize}.`);
  const overrides = config.overrides ?? {};
  for (const [layer, o] of Object.entries(overrides)) {
    if (o.strategy !== undefined) parseStrategy(o.strategy, `overrides['${layer}']`);
    if (o.manifolds !== undefined) parseManifoldMix(o.manifolds, `overrides['${layer}']`);
    if (o.groupSize !== undefined && !(Number.isInteger(o.groupSize) && o.groupSize >= 1)) {
      throw new Error(`overrides['${layer}']: groupSize must be an integer ≥ 1, got ${o.groupSize}.`);
    }
  }
  return { strategy, manifolds, groupSize, seed: config.seed ?? 0, block: config.block ?? { ...DEFAULT_BLOCK }, overrides };
}

/**
 * The collection of POMs of every layer of `model` (or of explicit weight specs, e.g. variables
 * that belong to no model). Deterministic in `config.seed`.
 * @throws for an unknown strategy or manifold tag (listing the valid ones), for an override that
 * names no layer with a kernel, and for a manifold that cannot hold a layer's kernel matrices.
 */
export function buildGrouping(model: tf.LayersModel | readonly WeightSpec[], config: GroupingConfig = {}): Grouping {
  const cfg = resolveConfig(config);
  const specs = Array.isArray(model) ? (model as readonly WeightSpec[]) : weightSpecsOf(model as tf.LayersModel);
  const kernelLayers = new Set(specs.filter((s) => s.role === 'kernel').map((s) => s.layerName));
  for (const layer of Object.keys(cfg.overrides)) {
    if (!kernelLayers.has(layer)) {
      throw new Error(`overrides: no layer named '${layer}' with a kernel; layers with kernels: ${[...kernelLayers].join(', ')}.`);
    }
  }
  const kernels: KernelGrouping[] = [];
  const others: WeightSpec[] = [];
  for (const spec of specs) {
    if (spec.role !== 'kernel') {
      others.push({ ...spec });
      continue;
    }
    const o = cfg.overrides[spec.layerName] ?? {};
    const strategy = o.strategy ?? cfg.strategy;
    const mix = o.manifolds ?? cfg.manifolds;
    const mixWhere = o.manifolds !== undefined ? `override '${mix}'` : `mix '${mix}'`;
    const tags = parseManifoldMix(mix);
    const geom = kernelGeometry(spec.shape, o.block ?? cfg.block);
    const rng = Rng.create(cfg.seed, `fgsgd/grouping/${spec.weightName}`);
    const drawn = drawGroups(geom.inUnits, geom.outUnits, strategy, o.groupSize ?? cfg.groupSize, rng);
    const groupTags = assignTags(drawn.length, tags, rng);
    for (const t of new Set(groupTags)) checkShape(t, spec, geom.rows, geom.cols, mixWhere);
    const groupOf = new Array<number>(geom.inUnits * geom.outUnits).fill(-1);
    drawn.forEach((g, id) => g.members.forEach((n) => (groupOf[n] = id)));
    kernels.push({
      ...spec,
      role: 'kernel',
      ...geom,
      strategy,
      groupOf,
      groups: drawn.map((g, id) => ({ tag: groupTags[id]!, kind: g.kind, unit: g.unit, size: g.members.length })),
    });
  }
  return { config: cfg, kernels, others };
}

/** One manifold type's contiguous slice of a kernel's permuted components. */
export interface KernelSlice {
  tag: string;
  /** Position of the slice in the permuted component order. */
  start: number;
  count: number;
  /** Local group id (0..numGroups−1) of each component of the slice, for segment sums. */
  segmentIds: Int32Array;
  numGroups: number;
  /** Global group id of each local group. */
  groupIds: number[];
}

/**
 * Index arrays for a constant number of tensor ops per update:
 * `gather(flatVariable, flatIndex).reshape([N, rows, cols])` gives the components ordered by
 * manifold type (each type one contiguous slice) and, within a type, by group; and
 * `gather(flatPermuted, inverseIndex)` maps back to the variable's layout.
 */
export interface KernelPlan {
  /** Component n at permuted position p: order[p]. */
  order: Int32Array;
  flatIndex: Int32Array;
  inverseIndex: Int32Array;
  slices: KernelSlice[];
}

/** Flat index in the variable of element (a, b) of component n. */
function flatOf(k: KernelGrouping, n: number, a: number, b: number): number {
  const i = Math.floor(n / k.outUnits);
  const j = n % k.outUnits;
  const cin = k.shape[k.shape.length - 2]!;
  const cout = k.shape[k.shape.length - 1]!;
  if (k.layout === 'block') return (i * k.rows + a) * cout + (j * k.cols + b);
  // spatial: [...spatial, cin, cout] with spatial flattened to rows·cols positions
  return ((a * k.cols + b) * cin + i) * cout + j;
}

/** Derive the permutation, slices and flat indices of a kernel (pure JS, once per grouping). */
export function planKernel(k: KernelGrouping): KernelPlan {
  const N = k.groupOf.length;
  const tagOrder = [...new Set(k.groups.map((g) => g.tag))].sort((a, b) => MANIFOLD_TAGS.indexOf(a as never) - MANIFOLD_TAGS.indexOf(b as never));
  const rank = (n: number) => tagOrder.indexOf(k.groups[k.groupOf[n]!]!.tag);
  const order = Int32Array.from(range(N).sort((x, y) => rank(x) - rank(y) || k.groupOf[x]! - k.groupOf[y]! || x - y));
  const m = k.rows * k.cols;
  const flatIndex = new Int32Array(N * m);
  const inverseIndex = new Int32Array(N * m);
  for (let p = 0; p < N; p++) {
    const n = order[p]!;
    for (let a = 0; a < k.rows; a++) {
      for (let b = 0; b < k.cols; b++) {
        const f = flatOf(k, n, a, b);
        flatIndex[p * m + a * k.cols + b] = f;
        inverseIndex[f] = p * m + a * k.cols + b;
      }
    }
  }
  const slices: KernelSlice[] = [];
  let start = 0;
  for (const tag of tagOrder) {
    let count = 0;
    while (start + count < N && k.groups[k.groupOf[order[start + count]!]!]!.tag === tag) count++;
    const groupIds: number[] = [];
    const segmentIds = new Int32Array(count);
    for (let q = 0; q < count; q++) {
      const gid = k.groupOf[order[start + q]!]!;
      if (groupIds[groupIds.length - 1] !== gid) groupIds.push(gid);
      segmentIds[q] = groupIds.length - 1;
    }
    slices.push({ tag, start, count, segmentIds, numGroups: groupIds.length, groupIds });
    start += count;
  }
  return { order, flatIndex, inverseIndex, slices };
}

/** Per-layer counts for `summary`. */
export interface SummaryRow {
  layer: string;
  weight: string;
  shape: number[];
  /** Component matrix shape, e.g. '3×3'. */
  matrix: string;
  strategy: Strategy;
  kernels: number;
  groups: number;
  byTag: Record<string, { kernels: number; groups: number }>;
}

/** Per layer: how many kernels and groups lie on each manifold. */
export function summary(g: Grouping): SummaryRow[] {
  return g.kernels.map((k) => {
    const byTag: SummaryRow['byTag'] = {};
    for (const gr of k.groups) {
      const e = (byTag[gr.tag] ??= { kernels: 0, groups: 0 });
      e.kernels += gr.size;
      e.groups += 1;
    }
    return {
      layer: k.layerName,
      weight: k.weightName,
      shape: [...k.shape],
      matrix: `${k.rows}×${k.cols}`,
      strategy: k.strategy,
      kernels: k.groupOf.length,
      groups: k.groups.length,
      byTag,
    };
  });
}

/** `summary` as a fixed-width text table (kernels/groups per manifold), plus a total line. */
export function formatSummary(g: Grouping): string {
  const rows = summary(g);
  const tags = MANIFOLD_TAGS.filter((t) => rows.some((r) => r.byTag[t]));
  const head = ['layer', 'kernel', 'matrix', 'strat', 'kernels', 'groups', ...tags.map((t) => `${t} k/g`)];
  const body = rows.map((r) => [r.layer, `[${r.shape.join(',')}]`, r.matrix, r.strategy, String(r.kernels), String(r.groups), ...tags.map((t) => (r.byTag[t] ? `${r.byTag[t]!.kernels}/${r.byTag[t]!.groups}` : '-'))]);
  const total = (t: string, f: 'kernels' | 'groups') => rows.reduce((s, r) => s + (r.byTag[t]?.[f] ?? 0), 0);
  body.push(['total', '', '', '', String(rows.reduce((s, r) => s + r.kernels, 0)), String(rows.reduce((s, r) => s + r.groups, 0)), ...tags.map((t) => `${total(t, 'kernels')}/${total(t, 'groups')}`)]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((s, c) => (c < 4 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join('  ');
  const others = g.others.length ? `\n${g.others.length} other weights (biases, batch-norm) are Euclidean.` : '';
  return [line(head), ...body.map(line)].join('\n') + others;
}
