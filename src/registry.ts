/**
 * What the `fgsgd` command is given rather than imports: the pipelines (`train <name>`), the grids
 * (`sweep <name>`) and the evaluation of a saved model (`evaluate`). The built-in ones are in
 * pipelines/index.ts; src/ never imports pipelines/. A pipeline module's default export is a
 * `Pipeline`: `(options: RunOptions) => Observable<TrainEvent>`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Pipeline } from './train/run.js';
import type { Grid } from './sweep/grid.js';

export interface PipelineEntry {
  name: string;
  description: string;
  load: () => Promise<{ default: Pipeline }>;
}

export interface EvaluateModelOptions {
  /** A saved model's directory (a run's OUT/model). */
  model: string;
  /** The dataset directory whose test split is evaluated. */
  data: string;
  backend?: string;
  batch?: number;
}

export interface EvaluateModelResult {
  testAccuracy: number;
  testLoss: number;
  images: number;
  backend: string;
}

export interface Registry {
  pipelines: readonly PipelineEntry[];
  grids: readonly Grid[];
  /** `fgsgd evaluate`: a saved model's test loss and accuracy. */
  evaluate: (o: EvaluateModelOptions) => Promise<EvaluateModelResult>;
}

/** Whether `nameOrFile` names a file rather than a registry entry: a path, or a script's extension. */
export const isFile = (s: string): boolean => /[/\\]|\.(ts|js|mjs|mts)$/.test(s);

/** A pipeline of `pipelines` by name, or a pipeline file (a path containing '/' or ending in .ts/.js). */
export async function loadPipeline(nameOrFile: string, pipelines: readonly PipelineEntry[]): Promise<Pipeline> {
  const entry = pipelines.find((p) => p.name === nameOrFile);
  if (entry) return (await entry.load()).default;
  if (!isFile(nameOrFile)) {
    throw new Error(`unknown pipeline '${nameOrFile}'; built-in pipelines: ${pipelines.map((p) => p.name).join(', ')} (or give a file)`);
  }
  const mod = (await import(pathToFileURL(resolve(nameOrFile)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new Error(`pipeline file ${nameOrFile} must export a default function (options) => Observable<TrainEvent>`);
  }
  return mod.default as Pipeline;
}
