/**
 * The built-in pipelines and grids: the registry the `fgsgd` command is given (bin/fgsgd.js). A
 * program with pipelines or grids of its own passes its own registry to `main`, or extends this one.
 */
import type { PipelineEntry, Registry } from '../src/registry.js';
import { GRIDS } from './grids/paper.js';
import { evaluateModel } from './evaluate.js';

export const PIPELINES: readonly PipelineEntry[] = [
  { name: 'default', description: 'the embedded Fashion-MNIST subset (npm start)', load: () => import('./default.js') },
  { name: 'fashion-mnist', description: '--data holds the four Fashion-MNIST IDX files', load: () => import('./fashion-mnist.js') },
  { name: 'idx', description: 'alias of fashion-mnist: any MNIST-style IDX files', load: () => import('./idx.js') },
  { name: 'image-folder', description: '--data holds one sub-folder per class (or train/ and test/)', load: () => import('./image-folder.js') },
  { name: 'cifar10', description: '--data holds the CIFAR-10 binary batches', load: () => import('./cifar10.js') },
  { name: 'cifar100', description: '--data holds the CIFAR-100 binary files (fine labels)', load: () => import('./cifar100.js') },
];

export { GRIDS };

/** The built-in registry: pipelines, grids, and the evaluation `fgsgd evaluate` runs. */
export const REGISTRY: Registry = { pipelines: PIPELINES, grids: GRIDS, evaluate: evaluateModel };
