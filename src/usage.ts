/**
 * A usage error: an option or argument the user must change (an unknown option, a bad value, a
 * missing `--data`). The CLI prints its message on one line and exits 2; every other failure
 * exits 1. Pipelines throw it for options they cannot honour.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
