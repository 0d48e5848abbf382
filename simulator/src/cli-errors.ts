/**
 * How the simulator's commands (main.ts, card.ts) end on a bad start: one line on stderr and
 * exit code 2 for bad arguments or configuration; anything else is not theirs to explain.
 */
import { ConfigError, UsageError } from '../../common/src/errors.js';

/** Logs `error` as the line a user needs and returns 2, or rethrows it when it is neither a usage nor a configuration error. */
export function startFailure(error: unknown, log: (line: string) => void): 2 {
  if (error instanceof UsageError) {
    log(`${error.message} (see --help)`);
    return 2;
  }
  if (error instanceof ConfigError) {
    log(`invalid configuration: ${error.problems.join('; ')}`);
    return 2;
  }
  throw error;
}
