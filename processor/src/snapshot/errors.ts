/** Errors of the snapshot layer, with stable codes (the shape of common/src/errors.ts's AppError). */

export const SNAPSHOT_ERROR_CODES = {
  SNAPSHOT_INVALID: 'a stored snapshot is not what this format writes (truncated, damaged, or not matching its name)',
  SNAPSHOT_STORE_FAILED: 'the snapshot store (S3) refused or failed a call after the SDK retries',
} as const;

export type SnapshotErrorCode = keyof typeof SNAPSHOT_ERROR_CODES;

export class SnapshotError extends Error {
  readonly code: SnapshotErrorCode;
  constructor(code: SnapshotErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SnapshotError';
    this.code = code;
  }
}
