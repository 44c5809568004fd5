import * as tf from '@tensorflow/tfjs';
import { NEVER, type Observable } from 'rxjs';
import { onDemand, type PullOperator } from '../src/pull.js';
import type { BatchEnd, LossNonFinite, OptimizerSwapped } from '../src/events.js';
import { applySwap, describeConfig, isScheduledSwap, sameConfig, type ConfigChange, type OptimizerConfig, type ScheduledSwap, type TrainOptimizer } from '../src/train/optimizer.js';
import type { Gradients } from './forwardBackward.js';

export interface ManifoldStepOptions {
  optimizer: TrainOptimizer;
  /**
   * Optimizer configurations to swap in while the run goes on. A whole configuration takes effect
   * at the next update (the latest one wins); a scheduled swap (`{ step, changes }`, the CLI's
   * `--swap`) takes effect after `step` steps, applied to the configuration in use then. A value
   * equal to the current configuration is ignored, so a `BehaviorSubject` or `of(config)` is fine.
   */
  configs?: Observable<ConfigChange>;
}

/**
 * Apply each batch's gradients with the optimizer: one step per `Gradients`, in order, one at a
 * time, pulled only when the consumer asks (`onDemand`, src/pull.ts: the weights are shared
 * state). Emits `batchEnd` per step.
 *
 * Hot-swap: a configuration from `configs` is taken between two updates, never during one: the
 * gradients that arrive next are the first applied with it, so no batch is lost or applied twice.
 * State carries over (`TrainOptimizer.reconfigure`): the step count, so the learning-rate
 * schedule continues, and the momentum, projected onto the new tangent spaces when weights move
 * onto manifolds (e.g. SGD → FG-SGD, Sp+Ob+St → Sp+Ob+St+Euc). FG-SGD turns the gradients that
 * were computed before the swap into Riemannian ones at the (projected) weights. The swap is
 * announced by `optimizerSwapped` just before the `batchEnd` of the step that first used it.
 *
 * A non-finite loss is not applied: the gradients are dropped and `lossNonFinite` is emitted
 * instead of `batchEnd` (`fit` then ends the run).
 *
 * Tensor ownership: it disposes every `grads` it receives, applied or not.
 *
 * @example
 * ```ts
 * const configs = new BehaviorSubject<OptimizerConfig>(sgd);
 * batches$.pipe(forwardBackward({ model }), manifoldStep({ optimizer, configs }));
 * configs.next({ ...sgd, optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp+Ob+St+Euc' });
 * ```
 */
export function manifoldStep(options: ManifoldStepOptions): PullOperator<Gradients, BatchEnd | OptimizerSwapped | LossNonFinite> {
  const { optimizer } = options;
  const configs = options.configs ?? NEVER;
  return onDemand<Gradients, BatchEnd | OptimizerSwapped | LossNonFinite>(() => {
    let pending: OptimizerConfig | undefined;
    const scheduled: ScheduledSwap[] = [];
    const sub = configs.subscribe((c) => {
      if (!isScheduledSwap(c)) pending = c;
      else if (c.step >= optimizer.step) {
        scheduled.push(c);
        scheduled.sort((a, b) => a.step - b.step);
      }
      // A scheduled swap whose step has passed was applied earlier in the run (or before the
      // checkpoint it resumed from, whose configuration has it): given again, it is dropped.
    });
    return {
      handle(g) {
        const out: (BatchEnd | OptimizerSwapped | LossNonFinite)[] = [];
        try {
          // Scheduled swaps due by now, in step order, each on top of the one before.
          while (scheduled.length && scheduled[0]!.step <= optimizer.step) pending = applySwap(pending ?? optimizer.config, scheduled.shift()!.changes);
          if (pending) {
            const next = pending;
            pending = undefined;
            const before = describeConfig(optimizer.config);
            if (!sameConfig(next, optimizer.config)) {
              optimizer.reconfigure(next);
              out.push({ type: 'optimizerSwapped', step: optimizer.step + 1, from: before, to: describeConfig(next) });
            }
          }
          if (!Number.isFinite(g.loss)) {
            out.push({
              type: 'lossNonFinite',
              epoch: g.epoch,
              step: optimizer.step + 1,
              loss: g.loss,
              message: `loss is ${g.loss} at step ${optimizer.step + 1} (epoch ${g.epoch}); the step was not applied`,
            });
            return out;
          }
          // Timed alone for summary.json's updateShare. Exact on the synchronous backends (cpu,
          // wasm, tensorflow); on an asynchronous one (webgl, webgpu) it times the dispatch.
          const t0 = performance.now();
          const lr = optimizer.applyGradients(g.grads);
          const updateMs = performance.now() - t0;
          out.push({
            type: 'batchEnd',
            epoch: g.epoch,
            step: optimizer.step,
            sampleIndex: g.sampleIndex,
            loss: g.loss,
            accuracy: g.accuracy,
            lr,
            images: g.images,
            stallMs: g.stallMs,
            stepMs: g.ms + updateMs,
            updateMs,
          });
          return out;
        } finally {
          tf.dispose(g.grads);
        }
      },
      done: () => sub.unsubscribe(),
    };
  });
}
