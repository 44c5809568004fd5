/**
 * Experiment grids: a grid is data — a shared budget plus a list of configurations — and
 * `expandGrid` turns it into the runs a sweep executes (configurations × seeds).
 */

/** Options passed to `fgsgd train` for every configuration of a grid: the shared budget. */
export type TrainArgs = Record<string, string | number | boolean>;

export interface GridConfig {
  /** Short, unique, file-name-safe id, e.g. 'euclidean', 'pio-sp+ob+st'. */
  id: string;
  /** What the configuration tests, for the results table. */
  label: string;
  /** Options that differ from the grid's base. */
  args: TrainArgs;
  /**
   * Seeds for this configuration, overriding the sweep's `--seeds`: it runs seeds
   * `firstSeed .. firstSeed + seeds − 1` (e.g. 5 for the baseline, the sweep's 3 for the others).
   * A positive integer.
   */
  seeds?: number;
}

export interface Grid {
  name: string;
  description: string;
  /** Pipeline name or file passed to `fgsgd train`. */
  pipeline: string;
  /** Options every configuration shares (epochs, batch, schedule, augmentation, ...). */
  base: TrainArgs;
  configs: GridConfig[];
  /** The configuration every other one is compared against in the results (default: the first). */
  baseline?: string;
}

export interface Run {
  /** `<config id>/seed-<seed>`: also the run's folder under the sweep's output. */
  id: string;
  config: GridConfig;
  seed: number;
  /** argv after `fgsgd`, without `--out`. */
  argv: string[];
}

const ID_PATTERN = /^[a-z0-9][a-z0-9+._-]*$/;

/** Command-line form of an option map, in a stable (key-sorted) order. */
export function toArgv(args: TrainArgs): string[] {
  const out: string[] = [];
  for (const key of Object.keys(args).sort()) {
    const value = args[key]!;
    if (value === false) continue;
    out.push(`--${key}`);
    if (value !== true) out.push(String(value));
  }
  return out;
}

/** Seeds of a configuration: its own `seeds`, or the sweep's. */
export function seedsOf(config: GridConfig, seeds: number): number {
  return config.seeds ?? seeds;
}

/**
 * The runs of a grid: every configuration with seeds `firstSeed .. firstSeed+n-1`, where n is the
 * configuration's `seeds` or else the sweep's `seeds`. A configuration's args override the base;
 * `seed` is set per run. Each run is one replica (`--workers 1`) unless the grid says otherwise: a
 * sweep runs one process per core, and a run's weights then do not depend on the machine's cores.
 * @throws on duplicate or unsafe configuration ids, a config that sets `seed` or `out`, or a
 * config's `seeds` that is not a positive integer.
 */
export function expandGrid(grid: Grid, seeds: number, firstSeed = 1): Run[] {
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${seeds}.`);
  const ids = new Set<string>();
  for (const c of grid.configs) {
    if (!ID_PATTERN.test(c.id)) throw new Error(`grid '${grid.name}': configuration id '${c.id}' must match ${ID_PATTERN}.`);
    if (ids.has(c.id)) throw new Error(`grid '${grid.name}': configuration id '${c.id}' appears twice.`);
    ids.add(c.id);
    if (c.seeds !== undefined && (!Number.isInteger(c.seeds) || c.seeds < 1)) {
      throw new Error(`grid '${grid.name}': configuration '${c.id}' has seeds ${c.seeds}; it must be a positive integer.`);
    }
    for (const k of ['seed', 'out', 'resume']) {
      if (k in c.args || k in grid.base) throw new Error(`grid '${grid.name}': '${k}' is set by the sweep, not by the grid (configuration '${c.id}').`);
    }
  }
  if (grid.baseline !== undefined && !ids.has(grid.baseline)) {
    throw new Error(`grid '${grid.name}': baseline '${grid.baseline}' is not one of its configurations (${[...ids].join(', ')}).`);
  }
  const runs: Run[] = [];
  for (const config of grid.configs) {
    for (let s = firstSeed; s < firstSeed + seedsOf(config, seeds); s++) {
      runs.push({
        id: `${config.id}/seed-${s}`,
        config,
        seed: s,
        argv: ['train', grid.pipeline, ...toArgv({ workers: 1, ...grid.base, ...config.args, seed: s })],
      });
    }
  }
  return runs;
}
