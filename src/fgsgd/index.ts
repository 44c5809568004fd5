/**
 * FG-SGD: grouping of kernels into products of manifolds, renormalization, the optimizer and its
 * learning-rate schedules. See docs/fgsgd.md for the map from the paper to this code.
 */
export {
  buildGrouping,
  weightSpecsOf,
  kernelGeometry,
  planKernel,
  parseManifoldMix,
  parseStrategy,
  summary,
  formatSummary,
  STRATEGIES,
  DEFAULT_GROUP_SIZE,
  DEFAULT_BLOCK,
  type Grouping,
  type GroupingConfig,
  type LayerOverride,
  type KernelGrouping,
  type GroupInfo,
  type WeightSpec,
  type Strategy,
  type SummaryRow,
  type KernelPlan,
  type KernelSlice,
} from './grouping.js';
export {
  radiiFor,
  gammaOf,
  unitLambdas,
  initNorm,
  parseRadius,
  parseRadiusLayers,
  needsStatistics,
  DEFAULT_RADIUS,
  DEFAULT_DATA_BAND,
  type RadiusOptions,
  type RadiusPolicy,
} from './radius.js';
export {
  Renormalizer,
  normsReport,
  maxNormByGroupKind,
  spectralNorms,
  type RenormalizerConfig,
  type RefreshSummary,
  type NormsReport,
  type LayerNorms,
  type GroupNorms,
  type NormTriple,
} from './renormalize.js';
export { FGSGD, type FGSGDConfig, type ResolvedConfig, type FGSGDState, type FGSGDStateJson, type NamedTensor } from './optimizer.js';
export { SCHEDULES, scheduleAt, toSchedule, type ScheduleConfig, type ScheduleName, type ScheduleEntry } from './schedules.js';
