import { pino, type Logger } from 'pino';

/**
 * The project's logger. JSON lines on stderr (stdout stays free for results), level from
 * `FGSGD_LOG_LEVEL` (default `info`; tests set `silent` through the environment if they wish).
 */
export const log: Logger = pino(
  { name: 'fgsgd', level: process.env.FGSGD_LOG_LEVEL ?? (process.env.TAP ? 'silent' : 'info') },
  pino.destination(2),
);
