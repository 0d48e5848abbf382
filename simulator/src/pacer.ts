/**
 * The rate schedule. Event i is due at `start + i * 1000 / rate` ms, computed from the start time
 * rather than by sleeping a fixed interval after each event, so timer lateness and the time spent
 * generating never accumulate: a late wake-up simply finds more events due.
 *
 * When the loop falls more than `maxLagMs` behind (a long stall: GC, a throttled stream holding
 * back `ready()`), the schedule is moved forward so that at most `maxLagMs` worth of events is
 * made up in a burst; the time skipped is counted in `skippedMs`.
 */

export interface PacerOptions {
  /** Largest backlog made up at once, in ms of schedule. Default 1000. */
  maxLagMs?: number;
}

export class Pacer {
  /** Events per second; Infinity = no pacing. */
  readonly rate: number;
  #start: number;
  #taken = 0;
  #maxLagMs: number;
  #skippedMs = 0;

  constructor(rate: number | 'max', startMs: number, options: PacerOptions = {}) {
    if (rate !== 'max' && !(rate > 0 && Number.isFinite(rate))) throw new RangeError('rate must be > 0 or "max"');
    this.rate = rate === 'max' ? Infinity : rate;
    this.#start = startMs;
    this.#maxLagMs = options.maxLagMs ?? 1000;
  }

  /** Events taken so far. */
  get taken(): number {
    return this.#taken;
  }

  /** Schedule time skipped by catching up after stalls. */
  get skippedMs(): number {
    return this.#skippedMs;
  }

  /** When event `i` (0-based) is due. */
  dueAt(i: number): number {
    return this.#start + (i * 1000) / this.rate;
  }

  /** Events due by `nowMs` and not yet taken (Infinity when unpaced). */
  due(nowMs: number): number {
    if (this.rate === Infinity) return Infinity;
    const behind = nowMs - this.#maxLagMs - this.dueAt(this.#taken);
    if (behind > 0) {
      this.#start += behind;
      this.#skippedMs += behind;
    }
    const elapsed = nowMs - this.#start;
    if (elapsed < 0) return 0;
    // The epsilon keeps an event due exactly at `nowMs` from being lost to float rounding.
    const total = Math.floor((elapsed * this.rate) / 1000 + 1e-9) + 1;
    return Math.max(0, total - this.#taken);
  }

  /** Marks `n` events as issued. */
  take(n: number): void {
    this.#taken += n;
  }

  /** Ms from `nowMs` until the next event is due; 0 if one is due now. */
  waitMs(nowMs: number): number {
    if (this.rate === Infinity) return 0;
    return Math.max(0, this.dueAt(this.#taken) - nowMs);
  }
}
