/**
 * Every error this product raises on purpose, with a stable code and whether retrying can help.
 * Callers branch on `code` or `retriable`, never on message text.
 */

export const ERROR_CODES = {
  CONFIG_INVALID: 'configuration is invalid; the process exits with code 2',
  USAGE: 'command-line arguments are invalid',
  INPUT_FILE: 'an input file (cards CSV) is missing or malformed',
  CARD_KEY: 'the card token key is missing, unreadable or malformed',
  STOLEN_LIST: 'the stolen list (card refs) is missing, malformed or of another card token key',
  KINESIS_THROTTLED: 'Kinesis refused a call for throughput; retried with backoff',
  KINESIS_UNAVAILABLE: 'Kinesis endpoint unreachable or stream missing; retried with backoff',
  KINESIS_ITERATOR_EXPIRED: 'a shard iterator expired; a new one is requested from the last position',
  WAREHOUSE: 'the warehouse refused a statement',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Raised once at start-up with every configuration problem listed. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];
  constructor(component: string, problems: string[]) {
    super('CONFIG_INVALID', `${component}: invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export class UsageError extends AppError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UsageError';
  }
}

export class InputFileError extends AppError {
  constructor(message: string) {
    super('INPUT_FILE', message);
    this.name = 'InputFileError';
  }
}
