/** Errors of the engine. */

/**
 * Stored state that cannot be read back (written in another format version or with other window
 * sizes, an unknown key, a malformed value): not retriable, the store needs attention.
 */
export class EngineStateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineStateError';
  }
}
