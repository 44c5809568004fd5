import type { Renormalized, TrainEvent } from '../src/events.js';
import type { TrainOptimizer } from '../src/train/optimizer.js';
import { onDemand, type PullOperator } from '../src/pull.js';

export interface RenormalizeOptions {
  optimizer: TrainOptimizer;
  /** When to refresh ℜ: after every `epochs` epochs (default 1), or also every `steps` steps. */
  every?: { epochs?: number; steps?: number };
}

/**
 * Refresh FG-SGD's renormalisation ℜ (the per-group norm bounds) at the configured interval —
 * by default at each `epochEnd` — and report the norms with a `renormalized` event, emitted right
 * after the event that triggered it. The refresh happens before that event is passed on, so the
 * operators below (evaluate, checkpoint) see the refreshed state. With plain SGD there is nothing
 * to refresh and no event is emitted. Other events pass through unchanged.
 *
 * Demand-preserving (src/pull.ts). Tensor ownership: the optimizer owns ℜ; nothing
 * else is created.
 *
 * @example
 * ```ts
 * fit({ ... }).pipe(renormalize({ optimizer, every: { epochs: 1 } }), evaluate({ ... }));
 * ```
 */
export function renormalize(options: RenormalizeOptions): PullOperator<TrainEvent, TrainEvent> {
  const { optimizer } = options;
  const epochs = options.every?.epochs ?? 1;
  const steps = options.every?.steps;
  return onDemand<TrainEvent, TrainEvent>(() => ({
    async *handle(e) {
      const due =
        (e.type === 'epochEnd' && epochs > 0 && (e.epoch + 1) % epochs === 0) ||
        (e.type === 'batchEnd' && steps !== undefined && steps > 0 && e.step % steps === 0);
      if (!due) return yield e;
      const norms = await optimizer.renormalize();
      yield e;
      if (norms) {
        const event: Renormalized = { type: 'renormalized', epoch: e.epoch, step: e.step, maxNormByGroupKind: norms };
        yield event;
      }
    },
  }));
}
