import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * Where log lines go: stderr (stdout stays free for results), as readable lines on a terminal
 * (pino-pretty: time, level, message, fields) and as JSON lines in files and pipes, so that tools
 * can read them. `FGSGD_LOG_FORMAT=json|pretty` overrides the choice.
 */
function destination(): DestinationStream {
  const format = process.env.FGSGD_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
  if (format === 'pretty') return pretty({ destination: 2, sync: true, colorize: Boolean(process.stderr.isTTY), ignore: 'pid,hostname,name', translateTime: 'HH:MM:ss' });
  return pino.destination(2);
}

/**
 * The project's logger, level from `FGSGD_LOG_LEVEL` (default `info`; tests set `silent` through
 * the environment if they wish). Run metrics go to `OUT/metrics.jsonl` as JSON whatever the format.
 */
export const log: Logger = pino({ name: 'fgsgd', level: process.env.FGSGD_LOG_LEVEL ?? (process.env.TAP ? 'silent' : 'info') }, destination());
