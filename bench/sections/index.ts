/**
 * The benchmark's sections, in one registry. `bench/run.ts` runs the sections named by
 * `--sections` (by default all but the `optIn` ones) in the order listed here, prints each one's text and
 * gathers each one's `data` into the results JSON under its name.
 *
 * To add a section: write `bench/sections/<name>.ts` exporting an async function that takes a
 * `BenchContext` and returns a `SectionResult`, then add one entry to `SECTIONS` below that imports
 * it lazily (so that `--sections` and the argument tests load nothing heavy), e.g.
 *
 *   { name: 'fgsgd-update', description: 'FG-SGD update step vs plain SGD',
 *     run: async (ctx) => (await import('./fgsgd_update.js')).benchFgsgdUpdate(ctx) },
 */
import type { BenchOptions } from '../run.js';
import type { TorchReference } from '../torch.js';

/** What every section receives. */
export interface BenchContext {
  /** The parsed command line. */
  options: BenchOptions;
  /** Absolute path of the repository root. */
  repoRoot: string;
  /** The PyTorch reference runner; `torch.available` is false (with `torch.reason`) when absent. */
  torch: TorchReference;
  /** A progress line on stderr (stdout is kept for the result tables). */
  progress(line: string): void;
}

export interface SectionResult {
  /** The section's name, as in the registry. */
  name: string;
  /** Human-readable report (a table and notes), printed to stdout as is. */
  text: string;
  /** Every figure, JSON-safe; stored in the results file under `sections[name]`. */
  data: unknown;
  /** False when some measurement of the section failed (the run still goes on). */
  ok: boolean;
}

export interface Section {
  name: string;
  /** One line for `--help`. */
  description: string;
  /** Run only when `--sections` names it (a long section). */
  optIn?: boolean;
  run(ctx: BenchContext): Promise<SectionResult>;
}

export const SECTIONS: readonly Section[] = [
  {
    name: 'train-step',
    description: 'training-step throughput (images/s) per model and backend, with the ratio to PyTorch',
    run: async (ctx) => (await import('./train_step.js')).benchTrainStep(ctx),
  },
  {
    name: 'fgsgd-update',
    description: "one FG-SGD update of all of resnet20's parameters against a plain SGD update and a whole training step",
    run: async (ctx) => (await import('./fgsgd_update.js')).benchFgsgdUpdate(ctx),
  },
  {
    name: 'pipeline',
    description: "the data stages' samples/s on PNG files against cnn-small's demand on wasm, and the trainer's stall share end to end",
    run: async (ctx) => (await import('./pipeline.js')).benchPipeline(ctx),
  },
  {
    name: 'soak',
    description: 'tensor count and RSS over a 10,000-step run of the default pipeline (several minutes; only when named)',
    optIn: true,
    run: async (ctx) => (await import('./soak.js')).benchSoak(ctx),
  },
];

export function sectionNames(): string[] {
  return SECTIONS.map((s) => s.name);
}
