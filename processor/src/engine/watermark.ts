/**
 * Stream time of one shard. The watermark is a promise: "no more records with event time below
 * this are expected" (records below it still arrive and are handled as late). It is the highest
 * event time seen minus the out-of-orderness bound, or, when a caught-up shard has gone quiet, the
 * wall clock minus a lag, so windows still close when producers stop. It never moves backwards.
 */
import type { EngineConfig, IdleInput } from './types.js';

export interface WatermarkState {
  maxEventTimeMs: number | null;
  watermarkMs: number | null;
}

export class Watermark {
  readonly #config: EngineConfig;
  #maxEventTimeMs: number | null;
  #watermarkMs: number | null;

  constructor(config: EngineConfig, state: WatermarkState = { maxEventTimeMs: null, watermarkMs: null }) {
    this.#config = config;
    this.#maxEventTimeMs = state.maxEventTimeMs;
    this.#watermarkMs = state.watermarkMs;
  }

  /** null until the shard has seen a record or gone idle. */
  get ms(): number | null {
    return this.#watermarkMs;
  }

  /** True once the watermark has reached `endMs` (a window [.., endMs) is then closed). */
  hasReached(endMs: number): boolean {
    return this.#watermarkMs !== null && this.#watermarkMs >= endMs;
  }

  /** Takes in one record's event time; returns true when the watermark moved. */
  observe(eventTimeMs: number): boolean {
    if (this.#maxEventTimeMs === null || eventTimeMs > this.#maxEventTimeMs) this.#maxEventTimeMs = eventTimeMs;
    return this.#raise(this.#maxEventTimeMs - this.#config.outOfOrdernessMs);
  }

  /**
   * Wall-clock advance. Only when the shard has no backlog (a backlog means older records are
   * still to come, and advancing would make them late) and has been quiet for idleTimeoutMs.
   */
  onIdle({ nowMs, caughtUp, lastProgressAtMs }: IdleInput): boolean {
    if (!caughtUp || nowMs - lastProgressAtMs < this.#config.idleTimeoutMs) return false;
    return this.#raise(nowMs - this.#config.idleLagMs);
  }

  toJSON(): WatermarkState {
    return { maxEventTimeMs: this.#maxEventTimeMs, watermarkMs: this.#watermarkMs };
  }

  #raise(candidate: number): boolean {
    if (this.#watermarkMs !== null && candidate <= this.#watermarkMs) return false;
    this.#watermarkMs = candidate;
    return true;
  }
}
