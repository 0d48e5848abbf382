/**
 * Keeps one live ShardTask per shard this process owns. Which shards it owns is the Ownership's
 * to say (ownership.ts): with leases (lease-ownership.ts), exactly the shards whose lease it holds,
 * taken, renewed and stolen in the DynamoDB table shared by every processor of the stream, a lease
 * lost aborting its task at once (the task and its producers also check the fence before every
 * emit); without (LEASE_TABLE empty, SoleOwnership), every readable shard of the stream.
 *
 * RECONCILED, NOT EVENT-DRIVEN: every half second (and at once after any lease or task event) the
 * owned shards are compared with the running tasks, and whatever differs is put right: an owned
 * shard without a task gets one, a task whose lease is gone is stopped. So a task that ends for any
 * reason (its fence tripped after a frozen process, a failure, a lease re-acquired while its old
 * task was still closing) never leaves a held lease without a task. A failed task is restarted
 * after a backoff (1 s, doubling, at most 30 s) and keeps its lease: tasks that go on failing make
 * the shard stuck after STUCK_AFTER_MS (its watch keeps the streak), /health fails, and the
 * orchestrator replaces the process, which gives the lease back. (Releasing it here instead would
 * let this same worker take it straight back, below its share, with a fresh streak: a loop that
 * looked healthy.)
 *
 * Either way a child shard (from a split or a merge) starts only when every parent that still
 * exists is finished (the parent rule, common/src/shard-lineage.ts), and takes over its parents'
 * state for its hash-key range. One shard's
 * failure never stops the others. Each owned shard has a watch (shard-watch.ts) that outlives its
 * tasks; /health reads it.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import { listAllShards } from '../../../common/src/shard-reader.js';
import { existingParents } from '../../../common/src/shard-lineage.js';
import { backoffDelay, sleep } from '../../../common/src/retry.js';
import type { Ownership, ShardTenure } from './ownership.js';
import type { ShardStatus } from './shard-status.js';
import { ShardTask, type ShardTaskDeps, type ShardTaskStart } from './shard-task.js';
import { ShardWatch } from './shard-watch.js';

export interface CoordinatorOptions extends ShardTaskDeps {
  /** Which shards this process owns (LeaseOwnership, or SoleOwnership without a lease table). */
  ownership: Ownership;
  refreshMs: number;
  /** A shard without progress this long, although it had work, is stuck (see shard-watch.ts). */
  stuckAfterMs: number;
  /**
   * Local state of a shard this process has not owned for this long is deleted (housekeeping; see
   * #cleanLocalState). Default 2 h: longer than a child's need of a finished parent's state.
   */
  stateRetentionMs?: number;
}

export const DEFAULT_STATE_RETENTION_MS = 2 * 3_600_000;

/** How often owned shards and running tasks are compared. */
const RECONCILE_MS = 500;
/** Restart backoff of a failed task. */
const RESTART_BACKOFF = { initialMs: 1_000, factor: 2, maxMs: 30_000, jitter: 0.2 };

interface Running {
  task: ShardTask;
  controller: AbortController;
  done: Promise<void>;
}

export class ShardCoordinator {
  #o: CoordinatorOptions;
  #tasks = new Map<string, Running>();
  /** Shards whose task is being prepared (a ListShards for a child not yet known). */
  #starting = new Set<string>();
  #watches = new Map<string, ShardWatch>();
  /** Monotonic instant before which a shard's task is not started (a steal's wait, a restart's backoff). */
  #notBefore = new Map<string, number>();
  #failures = new Map<string, number>();
  #known: Shard[] = [];
  /** True when the last ListShards worked: housekeeping judges only on a current listing. */
  #listed = false;
  #refreshedAt = Number.NEGATIVE_INFINITY;
  /** Monotonic time since when each shard with local state has not been owned here. */
  #unownedSince = new Map<string, number>();
  #wake: (() => void) | undefined;
  #signal: AbortSignal | undefined;

  constructor(options: CoordinatorOptions) {
    this.#o = {
      ...options,
      shardInfo: (shardId) => {
        const shard = this.#known.find((s) => s.ShardId === shardId);
        if (!shard) return undefined;
        const { parents, hashKeyRange } = this.#startInfo(shard, new Set(this.#known.map((s) => s.ShardId!)));
        return { parents: parents ?? [], ...(hashKeyRange ? { hashKeyRange } : {}) };
      },
    };
  }

  /** Every shard this process owns now, with or without a running task; for /health, /ready and metrics. */
  status(): ShardStatus[] {
    const stuckAfter = this.#o.stuckAfterMs;
    const out: ShardStatus[] = [];
    for (const id of [...this.#owned()].sort()) {
      const running = this.#tasks.get(id);
      if (running) {
        out.push(running.task.status(stuckAfter));
        continue;
      }
      out.push({
        shardId: id,
        state: 'CREATED',
        watermarkMs: null,
        idle: false,
        millisBehindLatest: 0,
        behindLatestMs: null,
        progress: this.#watch(id).progress(stuckAfter),
      });
    }
    return out;
  }

  /**
   * Runs until `signal` aborts, then waits for every task to finish its batch and checkpoint, and
   * gives the shards back (with leases: released, so other processors take over at once).
   */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    const { ownership } = this.#o;
    await ownership.prepare(signal);
    if (signal.aborted) return;
    const owning = ownership.run(signal, {
      gained: (shardId, waitMs) => {
        if (waitMs > 0) this.#notBefore.set(shardId, this.#o.monotonic() + waitMs);
        else this.#notBefore.delete(shardId);
        this.#failures.delete(shardId);
        this.#wake?.();
      },
      lost: (shardId) => {
        this.#tasks.get(shardId)?.controller.abort();
        this.#wake?.();
      },
    });
    while (!signal.aborted) {
      if (this.#o.monotonic() - this.#refreshedAt >= this.#o.refreshMs) {
        this.#refreshedAt = this.#o.monotonic();
        await this.#refresh(signal);
        await this.#cleanLocalState();
      }
      if (signal.aborted) break;
      this.#reconcile();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        sleep(RECONCILE_MS, signal).then(resolve, resolve);
      });
      this.#wake = undefined;
    }
    await Promise.all([...this.#tasks.values()].map((t) => t.done));
    await owning;
    await ownership.releaseAll();
  }

  /** The shards this process owns now. */
  #owned(): ReadonlySet<string> {
    return this.#o.ownership.owned();
  }

  #watch(id: string): ShardWatch {
    let watch = this.#watches.get(id);
    if (!watch) this.#watches.set(id, (watch = new ShardWatch(this.#o.monotonic)));
    return watch;
  }

  /** Puts the running tasks in line with the owned shards (see the top of this file). */
  #reconcile(): void {
    const signal = this.#signal;
    if (!signal || signal.aborted) return;
    const owned = this.#owned();
    for (const [id, running] of this.#tasks) {
      if (!owned.has(id) && !running.controller.signal.aborted) {
        this.#o.log.warn({ shardId: id }, 'a task runs for a shard no longer owned; stopping it');
        running.controller.abort();
      }
    }
    const now = this.#o.monotonic();
    for (const id of owned) {
      this.#watch(id);
      if (this.#tasks.has(id) || this.#starting.has(id) || (this.#notBefore.get(id) ?? -Infinity) > now) continue;
      // None while it may not start (a lease held but not safe: see Ownership.tenure).
      const tenure = this.#o.ownership.tenure(id);
      if (tenure) this.#start(id, tenure);
    }
    for (const id of this.#watches.keys()) if (!owned.has(id) && !this.#tasks.has(id)) this.#watches.delete(id);
  }

  async #refresh(signal: AbortSignal): Promise<void> {
    const { log, dependencies } = this.#o;
    let shards: Shard[];
    try {
      shards = await listAllShards(this.#o.kinesis, this.#o.stream);
      dependencies?.up('kinesis');
    } catch (error) {
      this.#listed = false;
      dependencies?.down('kinesis', error);
      log.warn({ err: error, stream: this.#o.stream }, 'cannot list shards (stream missing or Kinesis unreachable); retrying');
      return;
    }
    this.#known = shards;
    this.#listed = true;
    await this.#o.ownership.sync(shards, signal);
  }

  /**
   * Deletes the LevelDB state of shards nobody here needs any more, so a long-lived task does not
   * carry every shard it ever held: a shard not owned here for stateRetentionMs (lost to another
   * worker, or finished: its children stop needing its state an hour after its end), unless the
   * ownership keeps it (without leases every listed shard is ours, and a finished shard's checkpoint
   * is what marks it finished: its state goes only once Kinesis no longer lists the shard). Never
   * judged on a failed listing; failures are logged and retried next time.
   */
  async #cleanLocalState(): Promise<void> {
    const { store, log, ownership } = this.#o;
    if (!this.#listed) return;
    let stored: string[];
    try {
      stored = await store.listShards();
    } catch (error) {
      log.warn({ err: error }, 'cannot list the shards of the local state; housekeeping retries later');
      return;
    }
    const owned = this.#owned();
    const now = this.#o.monotonic();
    const retention = this.#o.stateRetentionMs ?? DEFAULT_STATE_RETENTION_MS;
    for (const id of stored) {
      const inUse = owned.has(id) || this.#tasks.has(id) || this.#starting.has(id) || ownership.keepsStateOf(id);
      if (inUse) {
        this.#unownedSince.delete(id);
        continue;
      }
      const since = this.#unownedSince.get(id) ?? now;
      this.#unownedSince.set(id, since);
      if (now - since < retention) continue;
      try {
        await store.deleteShard(id);
        this.#unownedSince.delete(id);
        this.#o.metrics.housekeepingDeletions.inc({ kind: 'state' });
        log.info({ shardId: id, unownedForMs: Math.round(now - since) }, 'local state of a shard no longer owned deleted');
      } catch (error) {
        log.warn({ err: error, shardId: id }, 'cannot delete the local state of a shard; retrying later');
      }
    }
    for (const id of this.#unownedSince.keys()) if (!stored.includes(id)) this.#unownedSince.delete(id);
  }

  #startInfo(shard: Shard, known: ReadonlySet<string>): Omit<ShardTaskStart, 'tenure'> {
    const range = shard.HashKeyRange;
    return {
      shardId: shard.ShardId!,
      parents: existingParents(shard, known),
      ...(range ? { hashKeyRange: { start: BigInt(range.StartingHashKey!), end: BigInt(range.EndingHashKey!) } } : {}),
    };
  }

  /** Starts a task of an owned shard: at once when the last listing has it, else after listing again. */
  #start(shardId: string, tenure: ShardTenure): void {
    const shard = this.#known.find((s) => s.ShardId === shardId);
    if (shard) return this.#startTask({ ...this.#startInfo(shard, new Set(this.#known.map((s) => s.ShardId!))), tenure });
    this.#starting.add(shardId);
    this.#startUnlisted(shardId, tenure)
      .catch(async (error: unknown) => {
        this.#o.log.error({ err: error, shardId }, 'could not start a leased shard; releasing it');
        await this.#o.ownership.release(shardId);
      })
      .finally(() => this.#starting.delete(shardId))
      .catch((error: unknown) => this.#o.log.error({ err: error, shardId }, 'releasing a shard that could not start failed'));
  }

  /**
   * Another worker put this shard (a child of a reshard) into the lease table before this
   * worker's last ListShards saw it. Its hash-key range decides which of its parents' cards it
   * takes over; started without it, a child took them all and kept emitting stale summaries for
   * the cards its sibling owns. So list the shards now, and never start without it.
   */
  async #startUnlisted(shardId: string, tenure: ShardTenure): Promise<void> {
    const signal = this.#signal;
    if (!signal || signal.aborted || this.#tasks.has(shardId)) return;
    this.#known = await listAllShards(this.#o.kinesis, this.#o.stream);
    const shard = this.#known.find((s) => s.ShardId === shardId);
    if (signal.aborted || this.#tasks.has(shardId)) return;
    if (!shard) throw new Error(`shard ${shardId} is in the lease table but not in ListShards`);
    // The listing took a while: start only if the tenure still stands (held, safe, not lost and
    // won back) and the shard is not waiting out a steal (else the next reconcile decides again).
    const current = tenure.stillHeld();
    if (!current || (this.#notBefore.get(shardId) ?? -Infinity) > this.#o.monotonic()) return;
    this.#startTask({ ...this.#startInfo(shard, new Set(this.#known.map((s) => s.ShardId!))), tenure: current });
  }

  #startTask(info: ShardTaskStart): void {
    const shardId = info.shardId;
    const controller = new AbortController();
    const outer = this.#signal!;
    const stop = () => controller.abort();
    outer.addEventListener('abort', stop, { once: true });
    const watch = this.#watch(shardId);
    const task = new ShardTask({ ...info, watch }, this.#o);
    const ended = () => {
      outer.removeEventListener('abort', stop);
      this.#tasks.delete(shardId);
      watch.enter('waiting');
      this.#wake?.();
    };
    const done = task.run(controller.signal).then(
      () => {
        ended();
        this.#failures.delete(shardId);
        if (task.finished) {
          this.#o.ownership.finished(shardId);
          // Its children may be readable now.
          this.#refreshedAt = Number.NEGATIVE_INFINITY;
        } else if (!controller.signal.aborted) {
          // Ended on its own (its fence, a refused checkpoint): if the shard is still owned, the
          // next task waits a moment, so that no fault can turn into a restart loop.
          this.#notBefore.set(shardId, this.#o.monotonic() + RESTART_BACKOFF.initialMs);
        }
      },
      (error: unknown) => {
        ended();
        const failures = (this.#failures.get(shardId) ?? 0) + 1;
        this.#failures.set(shardId, failures);
        watch.failed(error);
        this.#o.metrics.shardTaskFailures.inc();
        const delayMs = backoffDelay(failures - 1, RESTART_BACKOFF);
        this.#notBefore.set(shardId, this.#o.monotonic() + delayMs);
        this.#o.log.error({ err: error, shardId, failures, restartInMs: delayMs }, 'shard task failed; it restarts from its checkpoint');
      },
    );
    this.#tasks.set(shardId, { task, controller, done });
  }
}
