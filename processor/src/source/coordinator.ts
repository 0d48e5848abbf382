/**
 * Decides which shards this process owns and keeps one live ShardTask per owned shard.
 *
 * Without leases (LEASE_TABLE empty) it owns every readable shard of the stream. With leases, it
 * owns exactly the shards whose lease it holds: the LeaseManager takes, renews and steals leases
 * in the DynamoDB table shared by every processor of the stream; a lease lost aborts its task at
 * once (the task and its producers also check the fence before every emit).
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
 * exists is finished, and takes over its parents' state for its hash-key range. One shard's
 * failure never stops the others. Each owned shard has a watch (shard-watch.ts) that outlives its
 * tasks; /health reads it.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import { isReadable, listAllShards } from '../../../common/src/shard-reader.js';
import { backoffDelay, sleep } from '../../../common/src/retry.js';
import type { ShardStatus } from '../http/status.js';
import type { Lease } from '../lease/index.js';
import { ShardTask, type ShardTaskDeps, type ShardTaskStart } from './shard-task.js';
import { ShardWatch } from './shard-watch.js';

export interface CoordinatorOptions extends ShardTaskDeps {
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
  /** Lease mode: shards whose task is being prepared (a ListShards for a child not yet known). */
  #starting = new Set<string>();
  #watches = new Map<string, ShardWatch>();
  /** Monotonic instant before which a shard's task is not started (a steal's wait, a restart's backoff). */
  #notBefore = new Map<string, number>();
  #failures = new Map<string, number>();
  #finished = new Set<string>();
  /** Without leases: the shards this process owns (open, readable, not finished). */
  #assigned = new Set<string>();
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
   * Runs until `signal` aborts, then waits for every task to finish its batch and checkpoint (and,
   * with leases, releases them so other processors take over at once).
   */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    const leases = this.#o.leases;
    let leasing: Promise<void> = Promise.resolve();
    if (leases) {
      await this.#untilLeaseTable(signal);
      if (signal.aborted) return;
      leases.on('acquired', (lease, how) => {
        if (how === 'steal') {
          // A stolen lease's previous owner may go on emitting until it next renews, or, if its
          // renewals fail, until its lease turns unsafe: failover time − safety margin after its
          // last renewal. Waiting that long before starting keeps two workers from ever emitting
          // for one shard at once.
          const wait = leases.options.failoverTimeMs - leases.options.safetyMarginMs;
          this.#notBefore.set(lease.leaseKey, this.#o.monotonic() + wait);
          this.#o.log.info({ shardId: lease.leaseKey, waitMs: wait }, 'lease stolen; starting once the previous owner has stopped');
        } else {
          this.#notBefore.delete(lease.leaseKey);
        }
        this.#failures.delete(lease.leaseKey);
        this.#wake?.();
      });
      leases.on('lost', (shardId) => {
        this.#tasks.get(shardId)?.controller.abort();
        this.#wake?.();
      });
      leasing = leases.start(signal);
    }
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
    await leasing;
    await leases?.releaseAll();
  }

  /** Creates or finds the lease table, waiting (logged, retried, on /ready) while DynamoDB does not answer. */
  async #untilLeaseTable(signal: AbortSignal): Promise<void> {
    const { leases, log, dependencies } = this.#o;
    dependencies?.expect('lease_table');
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await leases!.ensureTable();
        dependencies?.up('lease_table');
        return;
      } catch (error) {
        dependencies?.down('lease_table', error);
        const delayMs = backoffDelay(attempt, RESTART_BACKOFF);
        log.warn({ err: error, delayMs }, 'lease table not reachable; waiting for it');
        await sleep(delayMs, signal);
      }
    }
  }

  /** The shards this process owns now. */
  #owned(): Set<string> {
    const leases = this.#o.leases;
    return leases ? new Set(leases.held()) : this.#assigned;
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
    const leases = this.#o.leases;
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
      if (leases) {
        // Held but not safe: renewals are failing (or a frozen process just woke up). The renewal
        // loop either renews it (then it is started here) or drops it.
        const lease = leases.heldLease(id);
        const tenure = leases.tenureOf(id);
        if (lease && tenure !== undefined && leases.isSafe(id)) this.#startLeased(lease, tenure);
      } else {
        const known = new Set(this.#known.map((s) => s.ShardId!));
        const shard = this.#known.find((s) => s.ShardId === id);
        if (shard) this.#startTask(this.#startInfo(shard, known));
      }
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
    if (this.#o.leases) {
      try {
        await this.#o.leases.syncShards(shards);
        dependencies?.up('lease_table');
      } catch (error) {
        dependencies?.down('lease_table', error);
        log.warn({ err: error }, 'cannot sync the lease table; retrying');
      }
      return;
    }
    await this.#assignReadable(shards, signal);
  }

  /**
   * Deletes the LevelDB state of shards nobody here needs any more, so a long-lived task does not
   * carry every shard it ever held. With leases: a shard not owned here for stateRetentionMs (lost
   * to another worker, or finished: its children stop needing its state an hour after its end).
   * Without leases every readable shard is ours, and a finished shard's checkpoint is what marks it
   * finished: its state goes only once Kinesis no longer lists the shard (trimmed), after the same
   * retention. Never judged on a failed listing; failures are logged and retried next time.
   */
  async #cleanLocalState(): Promise<void> {
    const { store, log, leases } = this.#o;
    if (!this.#listed) return;
    let stored: string[];
    try {
      stored = await store.listShards();
    } catch (error) {
      log.warn({ err: error }, 'cannot list the shards of the local state; housekeeping retries later');
      return;
    }
    const owned = this.#owned();
    const listed = new Set(this.#known.map((s) => s.ShardId!));
    const now = this.#o.monotonic();
    const retention = this.#o.stateRetentionMs ?? DEFAULT_STATE_RETENTION_MS;
    for (const id of stored) {
      const inUse = owned.has(id) || this.#tasks.has(id) || this.#starting.has(id) || (!leases && listed.has(id));
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

  /** Without leases: every shard whose parents are finished. */
  async #assignReadable(shards: Shard[], signal: AbortSignal): Promise<void> {
    const known = new Set(shards.map((s) => s.ShardId!));
    for (const shard of shards) {
      const id = shard.ShardId!;
      if (signal.aborted || this.#assigned.has(id) || this.#finished.has(id)) continue;
      if (shard.SequenceNumberRange?.EndingSequenceNumber) {
        const checkpoint = await this.#o.store.loadCheckpoint(id);
        if (checkpoint?.shardEnd) {
          this.#finished.add(id);
          continue;
        }
      }
      if (isReadable(shard, known, this.#finished)) this.#assigned.add(id);
    }
  }

  #startInfo(shard: Shard, known: ReadonlySet<string>, lease?: Lease): ShardTaskStart {
    const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => p !== undefined && known.has(p));
    const range = shard.HashKeyRange;
    return {
      shardId: shard.ShardId!,
      parents,
      ...(range ? { hashKeyRange: { start: BigInt(range.StartingHashKey!), end: BigInt(range.EndingHashKey!) } } : {}),
      ...(lease ? { lease } : {}),
    };
  }

  /** With leases: a lease held. Its parents are finished (the lease manager checks before taking). */
  #startLeased(lease: Lease, tenure: number): void {
    this.#starting.add(lease.leaseKey);
    this.#startLeasedAsync(lease, tenure)
      .catch(async (error: unknown) => {
        this.#o.log.error({ err: error, shardId: lease.leaseKey }, 'could not start a leased shard; releasing it');
        await this.#o.leases?.release(lease.leaseKey);
      })
      .finally(() => this.#starting.delete(lease.leaseKey))
      .catch((error: unknown) => this.#o.log.error({ err: error, shardId: lease.leaseKey }, 'releasing a shard that could not start failed'));
  }

  async #startLeasedAsync(lease: Lease, tenure: number): Promise<void> {
    const signal = this.#signal;
    if (!signal || signal.aborted || this.#tasks.has(lease.leaseKey)) return;
    let shard = this.#known.find((s) => s.ShardId === lease.leaseKey);
    if (!shard) {
      // Another worker put this shard (a child of a reshard) into the lease table before this
      // worker's last ListShards saw it. Its hash-key range decides which of its parents' cards it
      // takes over; started without it, a child took them all and kept emitting stale summaries
      // for the cards its sibling owns. So list the shards now, and never start without it.
      this.#known = await listAllShards(this.#o.kinesis, this.#o.stream);
      shard = this.#known.find((s) => s.ShardId === lease.leaseKey);
      if (signal.aborted || this.#tasks.has(lease.leaseKey)) return;
      if (!shard) throw new Error(`shard ${lease.leaseKey} is in the lease table but not in ListShards`);
    }
    // The listing took a while: start only if the lease is still held in the same tenure, safe,
    // and not waiting out a steal (else the next reconcile decides again).
    const leases = this.#o.leases!;
    const id = lease.leaseKey;
    const current = leases.heldLease(id);
    if (!current || leases.tenureOf(id) !== tenure || !leases.isSafe(id) || (this.#notBefore.get(id) ?? -Infinity) > this.#o.monotonic()) return;
    const known = new Set(this.#known.map((s) => s.ShardId!));
    this.#startTask({ ...this.#startInfo(shard, known, current), tenure });
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
          this.#finished.add(shardId);
          this.#assigned.delete(shardId);
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
