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
 * - `settings`: the radius policies and step rules side by side on the embedded subset (minutes,
 *   not hours); the defaults are chosen on its validation accuracy.
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

/**
 * The paper's configurations; `extra` is added to every FG-SGD one. `best` (ids) get 5 seeds
 * like the baseline, the others the sweep's `--seeds`.
 */
function paperConfigs(extra: TrainArgs = {}, best: readonly string[] = []): GridConfig[] {
  const configs: GridConfig[] = [
    { id: 'euclidean', label: 'Euclidean SGD (momentum, weight decay 5e-4)', args: { optimizer: 'sgd' }, seeds: 5 },
    { id: 'pio-sp', label: 'PIO Sp', args: fgsgd('PIO', 'Sp', extra) },
    { id: 'pio-ob', label: 'PIO Ob', args: fgsgd('PIO', 'Ob', extra) },
    { id: 'pio-st', label: 'PIO St', args: fgsgd('PIO', 'St', extra) },
    { id: 'pi-sp+ob+st', label: 'PI Sp+Ob+St', args: fgsgd('PI', 'Sp+Ob+St', extra) },
    { id: 'po-sp+ob+st', label: 'PO Sp+Ob+St', args: fgsgd('PO', 'Sp+Ob+St', extra) },
    { id: 'pio-sp+ob+st', label: 'PIO Sp+Ob+St', args: fgsgd('PIO', 'Sp+Ob+St', extra) },
    { id: 'pio-sp+ob+st+euc', label: 'PIO Sp+Ob+St+Euc', args: fgsgd('PIO', 'Sp+Ob+St+Euc', extra) },
  ];
  return configs.map((c) => (best.includes(c.id) ? { ...c, seeds: 5 } : c));
}

/**
 * The best FG-SGD collections on cnn-small by validation accuracy after 3 seeds (docs/results/paper,
 * seeds 1–3): PIO Sp+Ob+St+Euc 90.28, PIO Sp 89.87, then PI Sp+Ob+St and PIO Sp+Ob+St tied at
 * 89.44; all four get 5 seeds.
 */
const PAPER_BEST = ['pio-sp+ob+st+euc', 'pio-sp', 'pi-sp+ob+st', 'pio-sp+ob+st'];

export const paper: Grid = {
  name: 'paper',
  description:
    'cnn-small on the full Fashion-MNIST (55k train, the last 5k of the training set for validation, 10k test): Euclidean momentum SGD with weight decay against FG-SGD with single manifolds, PI/PO/PIO groupings and mixed collections, under one budget.',
  pipeline: 'fashion-mnist',
  baseline: 'euclidean',
  base: { model: 'cnn-small', epochs: 2, batch: 64, lr: 0.1, schedule: 'cosine', momentum: 0.9, 'weight-decay': 5e-4, validation: 5000 },
  configs: paperConfigs({}, PAPER_BEST),
};

/**
 * The best FG-SGD collections on cnn-small-bn, chosen on this model's own validation accuracy after
 * 3 seeds (docs/results/paper-bn, seeds 1–3): PI Sp+Ob+St 91.03, PIO Sp 90.98, PIO Ob 90.91; each
 * gets 5 seeds.
 */
const PAPER_BN_BEST = ['pi-sp+ob+st', 'pio-sp', 'pio-ob'];

export const paperBn: Grid = {
  ...paper,
  name: 'paper-bn',
  description: `${paper.description.replace('cnn-small on', 'cnn-small-bn (BatchNorm after each conv; its scale and shift stay Euclidean) on')} Learning rate 0.02, chosen for SGD on validation (paper-bn-lr).`,
  // lr 0.02, chosen on validation by the paper-bn-lr grid (docs/results/paper-bn-lr):
  // validation accuracy 83.96 (lr 0.1), 89.64 (0.05), 91.22 (0.02), 90.92 (0.01).
  base: { ...paper.base, model: 'cnn-small-bn', lr: 0.02 },
  configs: paperConfigs({}, PAPER_BN_BEST),
};

/**
 * A longer budget, 8 epochs (6,880 steps, cosine over the run): the baseline against the best
 * FG-SGD collection by validation accuracy on cnn-small (PIO Sp+Ob+St+Euc, docs/results/paper),
 * 3 seeds each.
 */
export const long: Grid = {
  ...paper,
  name: 'long',
  description: `${paper.description} Longer budget: 8 epochs, the baseline against the best collection on validation (PIO Sp+Ob+St+Euc).`,
  base: { ...paper.base, epochs: 8 },
  configs: paper.configs.filter((c) => c.id === 'euclidean' || c.id === 'pio-sp+ob+st+euc').map(({ seeds: _, ...c }) => c),
};

/**
 * The longer budget for cnn-small-bn: 8 epochs, the baseline against the best collection by
 * validation accuracy after 3 seeds of paper-bn (PI Sp+Ob+St), 3 seeds each.
 */
export const longBn: Grid = {
  ...paperBn,
  name: 'long-bn',
  description: `${paperBn.description} Longer budget: 8 epochs, the baseline against the best collection on validation (PI Sp+Ob+St).`,
  base: { ...paperBn.base, epochs: 8 },
  configs: paperBn.configs.filter((c) => c.id === 'euclidean' || c.id === 'pi-sp+ob+st').map(({ seeds: _, ...c }) => c),
};

/**
 * The learning rate for `cnn-small-bn`, chosen on the baseline's validation accuracy: with BatchNorm
 * the 3,136 flattened features reach fc at unit scale, and SGD at lr 0.1 (cnn-small's) sends the
 * first steps' loss from 2.3 to about 30. FG-SGD then uses the lr chosen for SGD, which favours the
 * baseline if anything.
 */
export const paperBnLr: Grid = {
  name: 'paper-bn-lr',
  description: 'The learning rate of Euclidean SGD on cnn-small-bn (full Fashion-MNIST, 5k validation, 2 epochs), chosen on validation accuracy for the paper-bn grid.',
  pipeline: 'fashion-mnist',
  baseline: 'lr-0.1',
  base: { ...paper.base, model: 'cnn-small-bn', optimizer: 'sgd' },
  configs: [0.1, 0.05, 0.02, 0.01].map((lr) => ({ id: `lr-${lr}`, label: `Euclidean SGD, lr ${lr}`, args: { lr } })),
};

/**
 * FG-SGD's settings side by side on the embedded subset (9k train, the last 1k of it for
 * validation, 2k test), cnn-small, 2 epochs: the radius policies (bound:0.25 as first run, with a
 * He-sized conv1, init, data) and the step rules (adaptive on the unit manifold, adaptive-stored,
 * fixed). Minutes, not hours; the defaults are chosen on its validation accuracy.
 */
export const settings: Grid = {
  name: 'settings',
  description:
    'FG-SGD settings on the embedded Fashion-MNIST subset (8k train, 1k validation, 2k test), cnn-small, 2 epochs: radius policies (bound:0.25, bound:0.25 with conv1 at 1.41, init, data) × step rules (adaptive on the unit manifold, adaptive-stored, fixed), against SGD with weight decay.',
  pipeline: 'default',
  baseline: 'euclidean',
  base: { model: 'cnn-small', epochs: 2, batch: 64, lr: 0.1, schedule: 'cosine', momentum: 0.9, 'weight-decay': 5e-4, validation: 1000 },
  configs: [
    { id: 'euclidean', label: 'Euclidean SGD (momentum, weight decay 5e-4)', args: { optimizer: 'sgd' } },
    { id: 'sp-before', label: 'PIO Sp as first run: bound:0.25, adaptive-stored, no weight decay', args: fgsgd('PIO', 'Sp', { radius: 'bound:0.25', 'step-rule': 'adaptive-stored', 'weight-decay': 0 }) },
    { id: 'sp-before-conv1', label: 'PIO Sp as first run, conv1 at 1.41', args: fgsgd('PIO', 'Sp', { radius: 'bound:0.25', 'radius-layer': 'conv1=1.41', 'step-rule': 'adaptive-stored', 'weight-decay': 0 }) },
    { id: 'sp-bound-fixed', label: 'PIO Sp, bound:0.25, fixed step', args: fgsgd('PIO', 'Sp', { radius: 'bound:0.25', 'step-rule': 'fixed' }) },
    { id: 'sp-init-adaptive', label: 'PIO Sp, init, adaptive (unit manifold)', args: fgsgd('PIO', 'Sp', { radius: 'init', 'step-rule': 'adaptive' }) },
    { id: 'sp-init-stored', label: 'PIO Sp, init, adaptive-stored', args: fgsgd('PIO', 'Sp', { radius: 'init', 'step-rule': 'adaptive-stored' }) },
    { id: 'sp-init-fixed', label: 'PIO Sp, init, fixed step', args: fgsgd('PIO', 'Sp', { radius: 'init', 'step-rule': 'fixed' }) },
    { id: 'sp-data-stored', label: 'PIO Sp, data (band 2), adaptive-stored', args: fgsgd('PIO', 'Sp', { radius: 'data', 'step-rule': 'adaptive-stored' }) },
    { id: 'sp-data-fixed', label: 'PIO Sp, data (band 2), fixed step', args: fgsgd('PIO', 'Sp', { radius: 'data', 'step-rule': 'fixed' }) },
    { id: 'spobst-init-stored', label: 'PIO Sp+Ob+St, init, adaptive-stored', args: fgsgd('PIO', 'Sp+Ob+St', { radius: 'init', 'step-rule': 'adaptive-stored' }) },
    { id: 'spobst-init-fixed', label: 'PIO Sp+Ob+St, init, fixed step', args: fgsgd('PIO', 'Sp+Ob+St', { radius: 'init', 'step-rule': 'fixed' }) },
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
export const GRIDS: readonly Grid[] = [paper, paperBn, paperBnLr, long, longBn, settings, before, smoke];
