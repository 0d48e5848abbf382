/**
 * Exponential backoff with jitter, shared by every AWS caller here.
 * Defaults follow KafkaJS's stated ones: 100 ms start, x2, +/-20 % jitter, capped (5 s here, since
 * Kinesis throttling clears within a second or two).
 */

export interface BackoffOptions {
  initialMs: number;
  factor: number;
  maxMs: number;
  /** Fraction of the delay drawn at random on either side, 0..1. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 100,
  factor: 2,
  maxMs: 5_000,
  jitter: 0.2,
});

/** Delay before retry number `attempt` (0 = first retry). `random` returns [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** attempt);
  const spread = base * options.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
