/**
 * The paper's comparison grid (Ozay 2019, Table 1 style) as data: the Euclidean SGD baseline,
 * single-manifold runs, the PI/PO/PIO groupings and the mixed collections, all with the same
 * budget (epochs, batch, schedule) on cnn-small and the full Fashion-MNIST.
 *
 *   npm run data:fashion-mnist
 *   npx fgsgd sweep paper --seeds 3 --parallel 2 --data data/full/fashion-mnist --out runs/paper
 *
 * Every key of `base` and `args` is a `fgsgd train` option (the CLI checks each run's options
 * before the sweep starts). FG-SGD's settings are those of pipelines/fashion-mnist.ts: cosine
 * annealing from lr 0.1, momentum 0.9, norm bound B = 1/4.
 *
 * Budget: 2 epochs of batch 64 (1876 steps, cosine over them) for every configuration, sized for
 * the 24 runs (8 configurations × 3 seeds) to take about 75–80 minutes on 2 cores with
 * `--parallel 2`. Measured on the project's 2-core machine (2026-11-28, wasm, full
 * Fashion-MNIST, CPU seconds of one `fgsgd train` process, from 50- and 350-step runs): a step
 * costs 0.144 s with SGD (≈445 img/s), 0.185 s with PIO Sp+Ob+St+Euc (≈345 img/s), 0.197 s with
 * PIO St (≈325 img/s); start-up plus one 10k-image evaluation ≈ 12 s. Per run: ≈290 s (SGD) to
 * ≈390 s (St); the grid ≈ 8,600 CPU seconds, ≈ 72 minutes on two cores, plus ≈ 10% for two
 * processes sharing caches and memory bandwidth. A third epoch would take it to ≈ 115 minutes.
 */
import type { Grid } from '../../src/sweep/grid.js';

const fgsgd = (grouping: string, manifolds: string) => ({ optimizer: 'fgsgd', grouping, manifolds });

export const paper: Grid = {
  name: 'paper',
  description:
    'cnn-small on the full Fashion-MNIST (60k train / 10k test): Euclidean momentum SGD with weight decay against FG-SGD with single manifolds, PI/PO/PIO groupings and mixed collections, under one budget.',
  pipeline: 'fashion-mnist',
  baseline: 'euclidean',
  base: { model: 'cnn-small', epochs: 2, batch: 64, lr: 0.1, schedule: 'cosine', momentum: 0.9, bound: 0.25 },
  configs: [
    { id: 'euclidean', label: 'Euclidean SGD (momentum, weight decay 5e-4)', args: { optimizer: 'sgd', 'weight-decay': 5e-4 } },
    { id: 'pio-sp', label: 'PIO Sp', args: fgsgd('PIO', 'Sp') },
    { id: 'pio-ob', label: 'PIO Ob', args: fgsgd('PIO', 'Ob') },
    { id: 'pio-st', label: 'PIO St', args: fgsgd('PIO', 'St') },
    { id: 'pi-sp+ob+st', label: 'PI Sp+Ob+St', args: fgsgd('PI', 'Sp+Ob+St') },
    { id: 'po-sp+ob+st', label: 'PO Sp+Ob+St', args: fgsgd('PO', 'Sp+Ob+St') },
    { id: 'pio-sp+ob+st', label: 'PIO Sp+Ob+St', args: fgsgd('PIO', 'Sp+Ob+St') },
    { id: 'pio-sp+ob+st+euc', label: 'PIO Sp+Ob+St+Euc', args: fgsgd('PIO', 'Sp+Ob+St+Euc') },
  ],
};

/** A short grid for smoke runs and tests: the same configurations, one epoch capped in steps. */
export const smoke: Grid = {
  ...paper,
  name: 'smoke',
  description: 'The paper grid on the embedded Fashion-MNIST subset with a 20-step budget: checks the wiring, not the method.',
  pipeline: 'default',
  base: { ...paper.base, epochs: 1, 'max-steps': 20 },
};

/** Every built-in grid, by name. */
export const GRIDS: readonly Grid[] = [paper, smoke];
