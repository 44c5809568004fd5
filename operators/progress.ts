import cliProgress from 'cli-progress';
import type { TrainEvent } from '../src/events.js';
import { onDemand, type PullOperator } from '../src/pull.js';

export interface ProgressOptions {
  /** Where to draw (default `process.stdout`). Nothing is drawn unless it is a TTY. */
  stream?: NodeJS.WriteStream;
  /** Force the bar on or off regardless of the TTY test. */
  enabled?: boolean;
}

/** Smoothing of the images/s and step-time figures: weight of the newest step. */
const RATE_SMOOTHING = 0.1;

/** Seconds as '45s', '2m05s' or '1h02m' (whole seconds first, so never '2m60s'). */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/**
 * A terminal progress bar over the run's steps (cli-progress): steps done of the total, the
 * current epoch of the total (counted from 1), loss, images/s (smoothed over steps, stalls included) and the ETA. The total is
 * known from `fitStart` (`maxSteps`, or epochs × samples per epoch / batch size); without it the
 * bar counts the epoch's steps only. Silent when the stream is not a TTY (CI, pipes, files).
 * Events pass through unchanged.
 *
 * Demand-preserving (src/pull.ts). Creates no tensors.
 */
export function progress(options: ProgressOptions = {}): PullOperator<TrainEvent, TrainEvent> {
  const stream = options.stream ?? process.stdout;
  const enabled = options.enabled ?? Boolean(stream.isTTY);
  return onDemand<TrainEvent, TrainEvent>(() => {
    if (!enabled) return { handle: (e) => [e] };
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'epoch {epoch} |{bar}| {value}/{total} steps | loss {loss} | {rate} img/s | ETA {eta}',
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let rate = 0;
    let msPerStep = 0;
    let epochs = '';
    let started = false;
    const epochLabel = (epoch: number) => `${epoch + 1}${epochs}`;
    return {
      *handle(e) {
        if (e.type === 'fitStart') {
          const perEpoch = e.samplesPerEpoch ? Math.ceil(e.samplesPerEpoch / e.batchSize) : undefined;
          const byEpochs = perEpoch ? e.epochs * perEpoch : undefined;
          const total = Math.min(e.maxSteps ?? Infinity, byEpochs ?? Infinity);
          epochs = e.epochs ? `/${e.epochs}` : '';
          bar.start(Number.isFinite(total) ? total : 0, e.start.step, { epoch: epochLabel(e.start.epoch), loss: '-', rate: '-', eta: '-' });
          started = true;
        } else if (e.type === 'batchEnd' && started) {
          const ms = Math.max(1e-3, e.stepMs + e.stallMs);
          const r = (e.images * 1000) / ms;
          rate = rate === 0 ? r : rate + RATE_SMOOTHING * (r - rate);
          msPerStep = msPerStep === 0 ? ms : msPerStep + RATE_SMOOTHING * (ms - msPerStep);
          if (bar.getTotal() < e.step) bar.setTotal(e.step);
          const eta = formatEta(((bar.getTotal() - e.step) * msPerStep) / 1000);
          bar.update(e.step, { epoch: epochLabel(e.epoch), loss: e.loss.toFixed(4), rate: rate.toFixed(0), eta });
        } else if (e.type === 'fitEnd' && started) {
          bar.stop();
          started = false;
        }
        yield e;
      },
      done() {
        if (started) bar.stop();
      },
    };
  });
}
