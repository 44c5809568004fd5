/**
 * The paper's comparison grid (Ozay 2019, Table 1 style) as data: the Euclidean SGD baseline,
 * single-manifold runs, the PI/PO/PIO groupings and the mixed collections, all with the same
 * budget (epochs, batch, schedule, augmentation) on cnn-small and the full Fashion-MNIST.
 *
 *   npm run data:fashion-mnist
 *   npx fgsgd sweep paper --seeds 3 --data data/full/fashion-mnist --out runs/paper
 */
import type { Grid } from '../../src/sweep/grid.js';

const fgsgd = (grouping: string, manifolds: string) => ({ optimizer: 'fgsgd', grouping, manifolds });

export const paper: Grid = {
  name: 'paper',
  description:
    'cnn-small on the full Fashion-MNIST (60k train / 10k test): Euclidean momentum SGD with weight decay against FG-SGD with single manifolds, PI/PO/PIO groupings and mixed collections, under one budget.',
  pipeline: 'fashion-mnist',
  base: { model: 'cnn-small', epochs: 3, batch: 64, lr: 0.05, schedule: 'cosine', momentum: 0.9 },
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
