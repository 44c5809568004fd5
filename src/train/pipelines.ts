/**
 * The built-in pipelines, one config object each (the CLI's `train <name>`), and loading a
 * pipeline from a file. A pipeline module's default export is a `Pipeline`:
 * `(options: RunOptions) => Observable<TrainEvent>`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Pipeline } from './run.js';

export interface PipelineEntry {
  name: string;
  description: string;
  load: () => Promise<{ default: Pipeline }>;
}

export const PIPELINES: readonly PipelineEntry[] = [
  { name: 'default', description: 'the embedded Fashion-MNIST subset (npm start)', load: () => import('../../pipelines/default.js') },
  { name: 'fashion-mnist', description: '--data holds the four Fashion-MNIST IDX files', load: () => import('../../pipelines/fashion-mnist.js') },
  { name: 'idx', description: 'alias of fashion-mnist: any MNIST-style IDX files', load: () => import('../../pipelines/idx.js') },
  { name: 'image-folder', description: '--data holds one sub-folder per class (or train/ and test/)', load: () => import('../../pipelines/image-folder.js') },
  { name: 'cifar10', description: '--data holds the CIFAR-10 binary batches', load: () => import('../../pipelines/cifar10.js') },
  { name: 'cifar100', description: '--data holds the CIFAR-100 binary files (fine labels)', load: () => import('../../pipelines/cifar100.js') },
];

/** A built-in pipeline by name, or a pipeline file (a path containing '/' or ending in .ts/.js). */
export async function loadPipeline(nameOrFile: string): Promise<Pipeline> {
  const entry = PIPELINES.find((p) => p.name === nameOrFile);
  if (entry) return (await entry.load()).default;
  if (!/[/\\]|\.(ts|js|mjs|mts)$/.test(nameOrFile)) {
    throw new Error(`unknown pipeline '${nameOrFile}'; built-in pipelines: ${PIPELINES.map((p) => p.name).join(', ')} (or give a file)`);
  }
  const mod = (await import(pathToFileURL(resolve(nameOrFile)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new Error(`pipeline file ${nameOrFile} must export a default function (options) => Observable<TrainEvent>`);
  }
  return mod.default as Pipeline;
}
