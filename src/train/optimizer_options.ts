/**
 * The optimizer's settings as text, parsed and checked in one place: the CLI's options
 * (`--momentum 0.9`) and the hot-swap settings (`--swap 500:momentum=0.9`) both go through
 * `parseOptimizerSetting`. A bad value throws an Error that names the setting and says what it
 * accepts, e.g. "momentum must be a number in [0, 1), got '1'"; the callers add where it came from.
 */
import { parseManifoldMix, STRATEGIES, type Strategy } from '../fgsgd/grouping.js';
import { STEP_RULES, type StepRule } from '../fgsgd/optimizer.js';
import { parseRadius } from '../fgsgd/radius.js';

function number(name: string, ok: (n: number) => boolean, what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new Error(`${name} must be ${what}, got '${v}'`);
    return n;
  };
}

function oneOf<T extends string>(name: string, valid: readonly T[]) {
  return (v: string): T => {
    if (!(valid as readonly string[]).includes(v)) throw new Error(`${name} must be one of ${valid.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/** Every optimizer setting by its option name, with its parser. */
export const OPTIMIZER_SETTINGS = {
  optimizer: oneOf('optimizer', ['sgd', 'fgsgd'] as const),
  grouping: oneOf<Strategy>('grouping', STRATEGIES),
  manifolds: (v: string): string => (parseManifoldMix(v, 'manifolds'), v),
  lr: number('lr', (n) => n > 0, 'a positive number'),
  momentum: number('momentum', (n) => n >= 0 && n < 1, 'a number in [0, 1)'),
  'weight-decay': number('weight-decay', (n) => n >= 0, 'a number ≥ 0'),
  'group-size': number('group-size', (n) => Number.isInteger(n) && n >= 1, 'a positive integer'),
  radius: (v: string): string => (parseRadius(v, 'radius'), v),
  'step-rule': oneOf<StepRule>('step-rule', STEP_RULES),
} as const;

export type OptimizerSetting = keyof typeof OPTIMIZER_SETTINGS;

export function isOptimizerSetting(name: string): name is OptimizerSetting {
  return Object.hasOwn(OPTIMIZER_SETTINGS, name);
}

/** The value of setting `name` given as `text` (undefined stays undefined). */
export function parseOptimizerSetting<K extends OptimizerSetting>(name: K, text: string): ReturnType<(typeof OPTIMIZER_SETTINGS)[K]>;
export function parseOptimizerSetting<K extends OptimizerSetting>(name: K, text: string | undefined): ReturnType<(typeof OPTIMIZER_SETTINGS)[K]> | undefined;
export function parseOptimizerSetting<K extends OptimizerSetting>(name: K, text: string | undefined): ReturnType<(typeof OPTIMIZER_SETTINGS)[K]> | undefined {
  return text === undefined ? undefined : (OPTIMIZER_SETTINGS[name](text) as ReturnType<(typeof OPTIMIZER_SETTINGS)[K]>);
}
