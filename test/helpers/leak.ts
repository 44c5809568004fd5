import * as tf from '@tensorflow/tfjs';

/** The part of tap's `Test` the guards use (message required, so tap's overloads fit). */
interface Asserter {
  equal(found: unknown, wanted: unknown, message: string): unknown;
}

/**
 * Leak guard: runs `fn` (which may train for N steps) and asserts that
 * `tf.memory().numTensors` is back at its baseline afterwards. Use it in every test that trains.
 * `fn` must dispose everything it creates (models included) before it returns.
 */
export async function assertNoLeak<T>(t: Asserter, what: string, fn: () => T | Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const after = tf.memory().numTensors;
  t.equal(after, before, `${what}: tensor count returns to its baseline (${before})`);
  return result;
}

/**
 * Runs `step` `n` times after one warm-up call and asserts that the tensor count does not grow
 * from step to step (state such as optimizer slots is created during warm-up).
 */
export async function assertStepsDoNotLeak(t: Asserter, what: string, n: number, step: (i: number) => unknown): Promise<void> {
  await step(0);
  const before = tf.memory().numTensors;
  for (let i = 1; i <= n; i++) await step(i);
  t.equal(tf.memory().numTensors, before, `${what}: no tensor leaked over ${n} steps`);
}
