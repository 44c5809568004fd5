/**
 * The `fgsgd` package: the library (src/: FG-SGD and the manifolds, the model zoo, the backends,
 * and the glue that runs a pipeline: `withSession`, `fit`, `runPipeline`), the RxJS operators a
 * training pipeline is composed of (operators/), and the built-in pipelines and grids
 * (pipelines/). The README's "Use it as a library" and `examples/` show complete programs.
 */
import { loadPipeline as loadFrom, type PipelineEntry, type Registry } from './src/registry.js';
import { main as cli } from './src/cli.js';
import { PIPELINES, REGISTRY } from './pipelines/index.js';
import type { Pipeline } from './src/train/run.js';

export * from './src/index.js';
export { PIPELINES, GRIDS, REGISTRY } from './pipelines/index.js';
export { evaluateModel } from './pipelines/evaluate.js';

/** A pipeline by name (of `pipelines`, the built-in ones by default), or a pipeline file. */
export function loadPipeline(nameOrFile: string, pipelines: readonly PipelineEntry[] = PIPELINES): Promise<Pipeline> {
  return loadFrom(nameOrFile, pipelines);
}

/** The `fgsgd` command line over `registry` (the built-in pipelines and grids by default); resolves to the exit code. */
export function main(argv: string[], registry: Registry = REGISTRY): Promise<number> {
  return cli(argv, registry);
}

// The operators, one per file (operators/).
export { readIdx } from './operators/readIdx.js';
export { readCifar } from './operators/readCifar.js';
export { readImageFolder } from './operators/readImageFolder.js';
export { readTarShards } from './operators/readTarShards.js';
export { decodeImages } from './operators/decodeImages.js';
export { augment } from './operators/augment.js';
export { shuffle } from './operators/shuffle.js';
export { batch } from './operators/batch.js';
export { toTensors } from './operators/toTensors.js';
export { prefetch } from './operators/prefetch.js';
export { filterOnDemand } from './operators/filterOnDemand.js';
export { concatMapOnDemand } from './operators/concatMapOnDemand.js';
export { forwardBackward } from './operators/forwardBackward.js';
export { manifoldStep } from './operators/manifoldStep.js';
export { renormalize } from './operators/renormalize.js';
export { evaluate, evaluateOnce } from './operators/evaluate.js';
export { checkpoint } from './operators/checkpoint.js';
export { saveModel } from './operators/saveModel.js';
export { logMetrics } from './operators/logMetrics.js';
export { progress } from './operators/progress.js';
