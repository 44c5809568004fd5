/**
 * The library (src/): FG-SGD and the manifolds (`src/fgsgd`, `src/manifolds`), the model zoo,
 * the backends, the RxJS operators a training pipeline is composed of, and the glue that runs one
 * (`withSession`, `fit`, `runPipeline`). The README's "Use it as a library" and `examples/` show
 * complete programs.
 */
export * from './fgsgd/index.js';
export * from './manifolds/index.js';
export { buildModel, MODELS, type ModelEntry, type ModelOptions } from './models/index.js';
export { initBackend, BACKEND_NAMES, type BackendInfo, type BackendName, type ConcreteBackend } from './backend/index.js';
export type { TrainEvent, TrainEventType, FitStart, BatchEnd, EpochEnd, EvalEnd, FitEnd, ModelSaved, OptimizerSwapped, Position } from './events.js';
export { isEvent } from './events.js';
export { fit, type Batch, type EpochPlan, type FitOptions, type PositionedBatch } from './train/fit.js';
export { lossAndGrads, trainableVariables } from './train/step.js';
export { pullable, pullFrom, iterate, onDemand, passThrough, pullPipe, PullObservable, type PullOperator, type OnDemandHooks } from './pull.js';
export { withSession, openSession, Session, type SessionOptions } from './train/session.js';
export { runPipeline, sessionOptions, resolveResume, type Pipeline, type PipelineDefaults, type RunOptions, type RunResult } from './train/run.js';
export { summarize, type Summary } from './train/summary.js';
export {
  TrainOptimizer,
  describeConfig,
  applySwap,
  parseSwap,
  type OptimizerConfig,
  type ScheduledSwap,
  type SwapChanges,
  type ConfigChange,
} from './train/optimizer.js';
export { locateIdx, locateCifar, locateImageFolder, locateShards, isShardSpec } from './train/datasets.js';
export { saveLayersModel, loadLayersModelFromDir } from './train/export.js';
export { isFile, type PipelineEntry, type Registry, type EvaluateModelOptions, type EvaluateModelResult } from './registry.js';
export { makeShards, expandBraces } from './data/make_shards.js';
export { weightsDigest, readWeights } from './checkpoint.js';
export { readsSynchronously, readTensors, type TensorData } from './backend/reads.js';
export { Replicas, ReplicaError, type ParallelPass } from './train/replicas.js';
export { UsageError } from './usage.js';
