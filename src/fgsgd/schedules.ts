/**
 * Learning-rate schedules g(t) for FG-SGD, as a registry of plain config objects.
 *
 * A schedule is described by a JSON-safe config (`{ name: 'cosine', lr: 0.1, totalSteps: 1000 }`),
 * so that it can be written into a checkpoint, compared, and swapped while a run goes on. The
 * registry below turns a config into the function t ↦ g(t); t is the optimizer's step count,
 * starting at 0 for the first update, and it keeps counting across a hot-swap.
 *
 * No tensors are created here.
 */

/** g(t) = lr. */
export interface ConstantSchedule {
  name: 'constant';
  lr: number;
}

/** g(t) = lr·factor^k, where k is the number of milestones ≤ t (or ⌊t/every⌋ when `every` is set). */
export interface StepSchedule {
  name: 'step';
  lr: number;
  /** Multiplier applied at each milestone (default 0.1). */
  factor?: number;
  /** Steps at which the rate is multiplied by `factor`. */
  milestones?: number[];
  /** Alternative to `milestones`: multiply every `every` steps. */
  every?: number;
}

/**
 * Cosine annealing from lr to minLr over totalSteps (after an optional linear warm-up), then minLr:
 * g(t) = minLr + (lr − minLr)·(1 + cos(π·t'/T'))/2.
 */
export interface CosineSchedule {
  name: 'cosine';
  lr: number;
  totalSteps: number;
  minLr?: number;
  /** Linear warm-up from 0 over this many steps (default 0). */
  warmupSteps?: number;
}

/**
 * Robbins–Monro: g(t) = lr / (1 + t/tau)^power, with 0.5 < power ≤ 1, so that Σ g(t) = ∞ and
 * Σ g(t)² < ∞, the conditions of the paper's convergence argument.
 */
export interface RobbinsMonroSchedule {
  name: 'robbins-monro';
  lr: number;
  /** Time scale in steps (default 1). */
  tau?: number;
  /** Decay exponent in (0.5, 1] (default 1). */
  power?: number;
}

export type ScheduleConfig = ConstantSchedule | StepSchedule | CosineSchedule | RobbinsMonroSchedule;
export type ScheduleName = ScheduleConfig['name'];

export interface ScheduleEntry<C extends ScheduleConfig = ScheduleConfig> {
  name: C['name'];
  /** One line for `--help` and errors. */
  description: string;
  /** Throws a clear error for an invalid config. */
  validate(cfg: C): void;
  /** g(t) for t = 0, 1, 2, ... */
  at(cfg: C, t: number): number;
}

function positive(name: string, field: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
    throw new Error(`schedule '${name}': ${field} must be a positive number, got ${v}.`);
  }
}

const constant: ScheduleEntry<ConstantSchedule> = {
  name: 'constant',
  description: 'g(t) = lr',
  validate: (c) => positive('constant', 'lr', c.lr),
  at: (c) => c.lr,
};

const step: ScheduleEntry<StepSchedule> = {
  name: 'step',
  description: 'g(t) = lr·factor^(milestones passed), or every `every` steps',
  validate: (c) => {
    positive('step', 'lr', c.lr);
    positive('step', 'factor', c.factor);
    positive('step', 'every', c.every);
    if (c.milestones === undefined && c.every === undefined) {
      throw new Error(`schedule 'step' needs 'milestones' (a list of steps) or 'every' (a period in steps).`);
    }
  },
  at: (c, t) => {
    const factor = c.factor ?? 0.1;
    const k = c.every !== undefined ? Math.floor(t / c.every) : (c.milestones ?? []).filter((m) => m <= t).length;
    return c.lr * factor ** k;
  },
};

const cosine: ScheduleEntry<CosineSchedule> = {
  name: 'cosine',
  description: 'cosine annealing from lr to minLr over totalSteps, after an optional linear warm-up',
  validate: (c) => {
    positive('cosine', 'lr', c.lr);
    positive('cosine', 'totalSteps', c.totalSteps);
    if ((c.minLr ?? 0) < 0) throw new Error(`schedule 'cosine': minLr must be ≥ 0.`);
  },
  at: (c, t) => {
    const warm = c.warmupSteps ?? 0;
    const minLr = c.minLr ?? 0;
    if (t < warm) return (c.lr * (t + 1)) / warm;
    const span = Math.max(1, c.totalSteps - warm);
    const u = Math.min(1, (t - warm) / span);
    return minLr + ((c.lr - minLr) * (1 + Math.cos(Math.PI * u))) / 2;
  },
};

const robbinsMonro: ScheduleEntry<RobbinsMonroSchedule> = {
  name: 'robbins-monro',
  description: 'g(t) = lr/(1 + t/tau)^power, 0.5 < power ≤ 1 (Σg = ∞, Σg² < ∞)',
  validate: (c) => {
    positive('robbins-monro', 'lr', c.lr);
    positive('robbins-monro', 'tau', c.tau);
    const p = c.power ?? 1;
    if (!(p > 0.5 && p <= 1)) throw new Error(`schedule 'robbins-monro': power must lie in (0.5, 1], got ${p}.`);
  },
  at: (c, t) => c.lr / (1 + t / (c.tau ?? 1)) ** (c.power ?? 1),
};

/** Every schedule, one config object each. */
export const SCHEDULES: readonly ScheduleEntry[] = [constant, step, cosine, robbinsMonro] as readonly ScheduleEntry[];

function entryFor(name: string): ScheduleEntry {
  const e = SCHEDULES.find((s) => s.name === name);
  if (!e) throw new Error(`unknown schedule '${name}'; valid schedules: ${SCHEDULES.map((s) => s.name).join(', ')}.`);
  return e;
}

/** Normalise a number (a constant rate) or a config; validates it. */
export function toSchedule(s: number | ScheduleConfig): ScheduleConfig {
  const cfg: ScheduleConfig = typeof s === 'number' ? { name: 'constant', lr: s } : s;
  entryFor(cfg.name).validate(cfg);
  return cfg;
}

/** g(t) of a schedule config at step t (t = 0 for the first update). */
export function scheduleAt(s: number | ScheduleConfig, t: number): number {
  const cfg = typeof s === 'number' ? ({ name: 'constant', lr: s } as const) : s;
  return entryFor(cfg.name).at(cfg, t);
}
