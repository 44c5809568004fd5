import { join } from 'node:path';
import { pino } from 'pino';
import type { TrainEvent } from '../src/events.js';
import { onDemand, type PullOperator } from '../src/pull.js';

export interface LogMetricsOptions {
  /** Directory of the run; the log is `DIR/metrics.jsonl` (created with the directory). */
  dir: string;
  /** File name inside `dir` (default `metrics.jsonl`). */
  file?: string;
  /** Append to an existing log (a resumed run) instead of starting it afresh (default false). */
  append?: boolean;
}

/**
 * Write one pino JSON line per event to `DIR/metrics.jsonl`: pino's `level` and `time`, then the
 * event's own fields (`type`, `epoch`, `step`, `loss`, ...). Lines are written synchronously, so a
 * run killed at any moment leaves whole lines for every event it emitted. Events pass through
 * unchanged; the file is closed when the stream ends in any way.
 *
 * Demand-preserving (src/pull.ts). Creates no tensors.
 *
 * @example
 * ```ts
 * fit({ ... }).pipe(evaluate({ ... }), logMetrics({ dir: 'runs/1' }));
 * // {"level":30,"time":1764300000000,"type":"batchEnd","epoch":0,"step":1,"loss":2.3,...}
 * ```
 */
export function logMetrics(options: LogMetricsOptions): PullOperator<TrainEvent, TrainEvent> {
  const path = join(options.dir, options.file ?? 'metrics.jsonl');
  return onDemand<TrainEvent, TrainEvent>(() => {
    const dest = pino.destination({ dest: path, sync: true, mkdir: true, append: options.append ?? false });
    const logger = pino({ base: null }, dest);
    return {
      *handle(e) {
        logger.info(e);
        yield e;
      },
      done() {
        dest.flushSync();
        dest.end();
      },
    };
  });
}
