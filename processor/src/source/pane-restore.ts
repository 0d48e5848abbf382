/**
 * Alerts first (issue 17; docs/semantics.md "What a consumer sees during a take-over"). A new owner
 * that restores a shard from a snapshot needs only a few KB of it to alert: the stream time, the
 * held and prompt payments. The panes (what summaries are made of) are nearly all of the bytes and
 * of the restore's time: with 100 000 active cards, seconds. So the snapshot is read with its pane
 * groups left unparsed, the shard is replayed to the lease checkpoint and read live with the engine
 * alerting as usual, and the pane groups are parsed and restored here in the background, a slice
 * at a time, between the task's batches. Once they are all in, the task makes the engine whole
 * (`finish`) and commits the state for the first time: nothing is committed, snapshotted or
 * checkpointed before, so a crash meanwhile restores and replays from the same lease checkpoint
 * as it would have (its alerts sent again, with the same ids).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ShardEngine } from '../engine/index.js';
import { SnapshotError } from '../snapshot/errors.js';
import type { PanesToRestore } from '../snapshot/shard-snapshots.js';
import { rebuiltEntries } from './rebuild.js';

/**
 * Pane groups restored per slice: one group is ~100 panes (~1 ms to parse and restore), so a batch
 * of live records waits at most a few ms behind a slice.
 */
const SLICE = 8;

export class PaneRestore {
  readonly #engine: ShardEngine;
  readonly #todo: PanesToRestore;
  #done = false;
  #running: Promise<void> | undefined;
  #failed: unknown;
  #startedAt = Number.NaN;

  constructor(engine: ShardEngine, todo: PanesToRestore) {
    if (!engine.panesPending) throw new TypeError('the engine has no pane restore pending');
    this.#engine = engine;
    this.#todo = todo;
  }

  /** The snapshot the panes come from. */
  get snapshotKey(): string {
    return this.#todo.snapshotKey;
  }

  get groups(): number {
    return this.#todo.panes.length;
  }

  /** Every pane group has been restored into the engine (finish() may be called). */
  get done(): boolean {
    return this.#done;
  }

  /** Seconds since `start`, for the log. */
  get seconds(): number {
    return +((performance.now() - this.#startedAt) / 1000).toFixed(3);
  }

  /** `run` in the background; its failure is kept for `ready` to throw. */
  start(signal: AbortSignal): void {
    this.#startedAt = performance.now();
    this.#running = this.run(signal).catch((err: unknown) => {
      this.#failed = err;
    });
  }

  /** Whether every pane is in, after waiting for the background restore when `wait`; throws what made it fail. */
  async ready(wait: boolean): Promise<boolean> {
    if (wait) await this.#running;
    if (this.#failed !== undefined) throw this.#failed;
    return this.#done;
  }

  /**
   * Restores the pane groups, SLICE at a time, letting the event loop run between slices; stops
   * early when `signal` aborts. A group the engine refuses rejects with a SnapshotError naming the
   * snapshot (the bytes passed gzip's CRC, so its writer wrote them so).
   */
  async run(signal: AbortSignal): Promise<void> {
    const panes = this.#todo.panes;
    for (let i = 0; i < panes.length && !signal.aborted; i += SLICE) {
      try {
        this.#engine.restorePanes(
          panes
            .slice(i, i + SLICE)
            .map(([key, json]) => [key, JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'))] as const),
        );
      } catch (cause) {
        const why = cause instanceof Error ? cause.message : String(cause);
        throw new SnapshotError('SNAPSHOT_INVALID', `snapshot ${this.#todo.snapshotKey}: a pane group was refused after alerts resumed: ${why}`, { cause });
      }
      await nextTurn();
    }
    this.#done = !signal.aborted;
  }

  /**
   * Makes the engine whole (the pane updates of the payments taken meanwhile applied, see
   * ShardEngine.panesRestored) and returns the state to commit in place of the shard's: the
   * snapshot's entries as stored with every change the engine made since on top.
   */
  finish(): Array<[string, unknown]> {
    if (!this.#done) throw new TypeError('the panes are not all restored yet');
    this.#engine.panesRestored();
    return rebuiltEntries(this.#engine, this.#todo.stored);
  }
}
