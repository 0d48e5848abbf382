/**
 * Whether an owned shard is still moving, for liveness (/health) and metrics. One watch per owned
 * shard, kept by the coordinator across the shard's task restarts; the task reports every step it
 * starts and every commit that lands. Durations are on a monotonic clock, so a wall-clock step
 * neither hides a stuck shard nor makes a healthy one look stuck.
 *
 * A shard is STUCK when it has made no progress for `stuckAfterMs` although it had something to
 * do, i.e. one of:
 * - its current step (restore, send, commit) has lasted that long: output owed is not going out,
 *   or state is not being written;
 * - it has been reading for that long (GetRecords failing or throttled on every try) while it has
 *   input (the last good read was behind the tip) or holds alerts waiting for stream time;
 * - its tasks have kept failing (commit errors, a state directory gone, a corrupt state) without
 *   one commit landing for that long (a restore that is moving, replay batch after replay batch,
 *   is not counted against it until it stops moving);
 * - it has had no task for that long (nothing restarted it).
 * An idle shard that is read every few hundred ms is never stuck: each poll is a step that ends.
 */

export type ShardStep = 'waiting' | 'restore' | 'read' | 'process' | 'send' | 'commit';

/** A copy of what the watch knows, for /health, /ready and metrics. */
export interface ShardProgress {
  readonly step: ShardStep;
  /** How long the current step has lasted, ms. */
  readonly stepMs: number;
  /** Time since the last commit landed (or since the watch began, if none has), ms. */
  readonly sinceCommitMs: number;
  /** Tasks that failed since the last commit that landed. */
  readonly failures: number;
  /** The last failure's message, while failures > 0. */
  readonly lastError: string | undefined;
  /** Why the shard is stuck, when it is. */
  readonly stuck: string | undefined;
}

export class ShardWatch {
  readonly #now: () => number;
  #step: ShardStep = 'waiting';
  #stepAt: number;
  #committedAt: number;
  #failures = 0;
  #failingSince: number | undefined;
  #lastError: string | undefined;
  #backlog = false;
  #holds = false;

  constructor(now: () => number) {
    this.#now = now;
    this.#stepAt = now();
    this.#committedAt = this.#stepAt;
  }

  /** A new step begins (the one before ended: that was progress). */
  enter(step: ShardStep): void {
    this.#step = step;
    this.#stepAt = this.#now();
  }

  /** What the shard has to do, as of its last read: records behind the tip, alerts held or due. */
  note(backlog: boolean, holds: boolean): void {
    this.#backlog = backlog;
    this.#holds = holds;
  }

  /** A commit landed: state and checkpoint are durable, whatever failed before. */
  committed(): void {
    this.#committedAt = this.#now();
    this.#failures = 0;
    this.#failingSince = undefined;
    this.#lastError = undefined;
  }

  /** The shard's task failed; the coordinator starts another. */
  failed(error: unknown): void {
    this.#failures++;
    this.#failingSince ??= this.#now();
    this.#lastError = error instanceof Error ? error.message : String(error);
    this.enter('waiting');
  }

  progress(stuckAfterMs: number): ShardProgress {
    const now = this.#now();
    const stepMs = now - this.#stepAt;
    let stuck: string | undefined;
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const restoring = this.#step === 'restore' && stepMs < stuckAfterMs;
    if (this.#failingSince !== undefined && now - this.#failingSince >= stuckAfterMs && !restoring) {
      stuck = `${this.#failures} task failures and no commit for ${seconds(now - this.#failingSince)}: ${this.#lastError ?? ''}`;
    } else if (stepMs >= stuckAfterMs) {
      if (this.#step === 'read') {
        if (this.#backlog || this.#holds) stuck = `no records read for ${seconds(stepMs)} while ${this.#backlog ? 'behind the tip' : 'holding alerts'}`;
      } else {
        stuck = this.#step === 'waiting' ? `no task for ${seconds(stepMs)}` : `step "${this.#step}" has lasted ${seconds(stepMs)}`;
      }
    }
    return {
      step: this.#step,
      stepMs,
      sinceCommitMs: now - this.#committedAt,
      failures: this.#failures,
      lastError: this.#failures > 0 ? this.#lastError : undefined,
      stuck,
    };
  }
}

/** The process's monotonic clock, ms: durations only (it has no epoch). */
export const monotonicNow = (): number => performance.now();
