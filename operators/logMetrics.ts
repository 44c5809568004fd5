import { readFileSync, renameSync, writeFileSync } from 'node:fs';
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
  /**
   * A resumed run's starting step: lines of the earlier segment past it (steps a killed or
   * interrupted run took after its last checkpoint, which the resumed run takes again) are dropped
   * before appending, so that every step is logged once.
   */
  resumedAt?: number;
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
    if (options.append && options.resumedAt !== undefined) dropAfter(path, options.resumedAt);
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

/** Keep the lines of `path` whose `step` is at most `step` (and those without one); atomically. */
function dropAfter(path: string, step: number): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return; // no log yet
  }
  const kept = text.split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      const e = JSON.parse(line) as { step?: unknown; position?: { step?: unknown } };
      const s = e.step ?? e.position?.step;
      return typeof s !== 'number' || s <= step;
    } catch {
      return false; // a torn last line of a killed run
    }
  });
  if (kept.length === text.split('\n').filter((l) => l.trim() !== '').length) return;
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, kept.map((l) => `${l}\n`).join(''));
  renameSync(tmp, path);
}
