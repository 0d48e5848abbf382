/**
 * Errors of the state layer, with stable codes and whether retrying can help. They mirror
 * common/src/errors.ts's AppError shape (`code`, `retriable`); the codes are local because that
 * file belongs to another component.
 */

export const STATE_ERROR_CODES = {
  STATE_LOCKED: 'the LevelDB directory is locked by another process (or another open store in this one)',
  STATE_OPEN_FAILED: 'the LevelDB directory could not be opened (permissions, corruption, not a directory)',
  STATE_CORRUPT: 'a stored value is not what this layout wrote (bad JSON or checkpoint shape)',
  STATE_FILES_FAILED: 'an entry kept as a file beside LevelDB could not be written, read or removed (disk full, permissions)',
} as const;

export type StateErrorCode = keyof typeof STATE_ERROR_CODES;

export class StateStoreError extends Error {
  readonly code: StateErrorCode;
  /** True for STATE_LOCKED: the lock is released when the other process exits. */
  readonly retriable: boolean;
  /** The store directory, when the error concerns one. */
  readonly dir: string | undefined;
  constructor(code: StateErrorCode, message: string, options: { dir?: string; retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StateStoreError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.dir = options.dir;
  }
}
