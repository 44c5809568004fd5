/**
 * The experiment grids, as data. Every key of `base` and `args` is a `fgsgd train` option (the CLI
 * checks each run's options before the sweep starts).
 *
 * - `paper`: the paper's comparison (Ozay 2019, Table 1 style): the Euclidean SGD baseline,
 *   single-manifold runs, the PI/PO/PIO groupings and the mixed collections, under one budget, on
 *   cnn-small and the full Fashion-MNIST, with FG-SGD's defaults (radius `init`, the adaptive step
 *   on the unit manifold, the baseline's weight decay on Euclidean parameters). The last 5,000
 *   training images are held out for validation: settings are chosen on it, never on the test set.
 * - `paper-bn`: the same on `cnn-small-bn`, BatchNorm after each conv: the paper's setting, where a
 *   kernel's scale does not set the function's.
 * - `radius`: the radius policies side by side on the embedded subset (minutes, not hours).
 * - `before`: the grid as first run (radius bound:0.25, the adaptive rule on the ℜ-scaled manifold,
 *   no weight decay for FG-SGD), whose results are kept in docs/results/before.
 * - `smoke`: the paper grid on the embedded subset, 20 steps: checks the wiring, not the method.
 *
 *   npm run data:fashion-mnist
 *   npx fgsgd sweep paper --seeds 3 --parallel 2 --data data/full/fashion-mnist --out docs/results/paper
 *
 * Budget: 2 epochs of batch 64 (860 steps each over 55,000 images, cosine over the run). On the
 * project's 2-core machine a run takes about 4–5 minutes with two running at once.
 */
import type { Grid, GridConfig, TrainArgs } from '../../src/sweep/grid.js';

const fgsgd = (grouping: string, manifolds: string, extra: TrainArgs = {}) => ({ optimizer: 'fgsgd', grouping, manifolds, ...extra });

/** The paper's configurations; `extra` is added to every FG-SGD one. */
function paperConfigs(extra: TrainArgs = {}): GridConfig[] {
  return [
    { id: 'euclidean', label: 'Euclidean SGD (momentum, weight decay 5e-4)', args: { optimizer: 'sgd' }, seeds: 5 },
    { id: 'pio-sp', label: 'PIO Sp', args: fgsgd('PIO', 'Sp', extra) },
    { id: 'pio-ob', label: 'PIO Ob', args: fgsgd('PIO', 'Ob', extra) },
    { id: 'pio-st', label: 'PIO St', args: fgsgd('PIO', 'St', extra) },
    { id: 'pi-sp+ob+st', label: 'PI Sp+Ob+St', args: fgsgd('PI', 'Sp+Ob+St', extra) },
    { id: 'po-sp+ob+st', label: 'PO Sp+Ob+St', args: fgsgd('PO', 'Sp+Ob+St', extra) },
    { id: 'pio-sp+ob+st', label: 'PIO Sp+Ob+St', args: fgsgd('PIO', 'Sp+Ob+St', extra) },
    { id: 'pio-sp+ob+st+euc', label: 'PIO Sp+Ob+St+Euc', args: fgsgd('PIO', 'Sp+Ob+St+Euc', extra) },
  ];
}

export const paper: Grid = {
  name: 'paper',
  description:
    'cnn-small on the full Fashion-MNIST (55k train, the last 5k of the training set for validation, 10k test): Euclidean momentum SGD with weight decay against FG-SGD with single manifolds, PI/PO/PIO groupings and mixed collections, under one budget.',
  pipeline: 'fashion-mnist',
  baseline: 'euclidean',
  base: { model: 'cnn-small', epochs: 2, batch: 64, lr: 0.1, schedule: 'cosine', momentum: 0.9, 'weight-decay': 5e-4, validation: 5000 },
  configs: paperConfigs(),
};

export const paperBn: Grid = {
  ...paper,
  name: 'paper-bn',
  description: `${paper.description} Model: cnn-small-bn (BatchNorm after each conv; its scale and shift stay Euclidean).`,
  base: { ...paper.base, model: 'cnn-small-bn' },
};

/** The radius policies on the embedded subset (9k train, 1k validation, 2k test), PIO Sp. */
export const radius: Grid = {
  name: 'radius',
  description:
    'The radius policies on the embedded Fashion-MNIST subset, cnn-small, PIO Sp (and Sp+Ob+St), 2 epochs: bound:0.25 (the earlier default), bound:0.25 with a He-sized conv1, init, data; against SGD with weight decay.',
  pipeline: 'default',
  baseline: 'euclidean',
  base: { model: 'cnn-small', epochs: 2, batch: 64, lr: 0.1, schedule: 'cosine', momentum: 0.9, 'weight-decay': 5e-4, validation: 1000 },
  configs: [
    { id: 'euclidean', label: 'Euclidean SGD (momentum, weight decay 5e-4)', args: { optimizer: 'sgd' } },
    { id: 'sp-bound', label: 'PIO Sp, radius bound:0.25', args: fgsgd('PIO', 'Sp', { radius: 'bound:0.25' }) },
    { id: 'sp-bound-conv1', label: 'PIO Sp, radius bound:0.25, conv1 1.41', args: fgsgd('PIO', 'Sp', { radius: 'bound:0.25', 'radius-layer': 'conv1=1.41' }) },
    { id: 'sp-init', label: 'PIO Sp, radius init', args: fgsgd('PIO', 'Sp', { radius: 'init' }) },
    { id: 'sp-data', label: 'PIO Sp, radius data (band 2)', args: fgsgd('PIO', 'Sp', { radius: 'data' }) },
    { id: 'spobst-bound', label: 'PIO Sp+Ob+St, radius bound:0.25', args: fgsgd('PIO', 'Sp+Ob+St', { radius: 'bound:0.25' }) },
    { id: 'spobst-init', label: 'PIO Sp+Ob+St, radius init', args: fgsgd('PIO', 'Sp+Ob+St', { radius: 'init' }) },
  ],
};

/**
 * The grid as first run (docs/results/before): B = 1/4, the adaptive rule on the ℜ-scaled
 * manifold, FG-SGD without weight decay, all 60k training images. With these explicit settings
 * the current code reproduces those runs bit for bit.
 */
export const before: Grid = {
  name: 'before',
  description: 'The paper grid as first run: radius bound:0.25, adaptive-stored step rule, no weight decay for FG-SGD, no validation split (results in docs/results/before).',
  pipeline: 'fashion-mnist',
  baseline: 'euclidean',
  base: { model: 'cnn-small', epochs: 2, batch: 64, lr: 0.1, schedule: 'cosine', momentum: 0.9, bound: 0.25 },
  configs: paperConfigs({ 'weight-decay': 0, 'step-rule': 'adaptive-stored' }).map((c) =>
    c.id === 'euclidean' ? { ...c, args: { optimizer: 'sgd', 'weight-decay': 5e-4 }, seeds: undefined } : c,
  ),
};

/** A short grid for smoke runs and tests: the same configurations, one epoch capped in steps. */
export const smoke: Grid = {
  ...paper,
  name: 'smoke',
  description: 'The paper grid on the embedded Fashion-MNIST subset with a 20-step budget: checks the wiring, not the method.',
  pipeline: 'default',
  base: { ...paper.base, epochs: 1, 'max-steps': 20, validation: 1000 },
  configs: paper.configs.map(({ seeds: _, ...c }) => c),
};

/** Every built-in grid, by name. */
export const GRIDS: readonly Grid[] = [paper, paperBn, radius, before, smoke];
