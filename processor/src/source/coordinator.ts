/**
 * Decides which shards this process runs and runs one ShardTask per shard.
 *
 * Without leases (LEASE_TABLE empty) it runs every readable shard of the stream. With leases, it
 * runs exactly the shards whose lease it holds: the LeaseManager takes, renews and steals leases
 * in the DynamoDB table shared by every processor of the stream; a lease won starts a task, a
 * lease lost aborts it at once (the task also checks the fence before every emit).
 *
 * Either way a child shard (from a split or a merge) starts only when every parent that still
 * exists is finished, and takes over its parents' state for its hash-key range. A task that fails
 * is logged and started again (from its checkpoint); one shard's failure never stops the others.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import { isReadable, listAllShards } from '../../../common/src/shard-reader.js';
import { sleep } from '../../../common/src/retry.js';
import type { ShardStatus } from '../http/status.js';
import type { Lease } from '../lease/index.js';
import { ShardTask, type ShardTaskDeps, type ShardTaskStart } from './shard-task.js';

export interface CoordinatorOptions extends ShardTaskDeps {
  refreshMs: number;
}

interface Running {
  task: ShardTask;
  controller: AbortController;
  done: Promise<void>;
}

export class ShardCoordinator {
  #o: CoordinatorOptions;
  #tasks = new Map<string, Running>();
  #finished = new Set<string>();
  #known: Shard[] = [];
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

  /** The shards this process runs or should run; for /ready and metrics. */
  status(): ShardStatus[] {
    const running = [...this.#tasks.values()].map(({ task }) => task.status());
    if (this.#o.leases) return running;
    // Open shards that no task runs yet are reported too, so /ready can say they are not owned.
    const waiting: ShardStatus[] = this.#known
      .filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber && !this.#tasks.has(s.ShardId!) && !this.#finished.has(s.ShardId!))
      .map((s) => ({ shardId: s.ShardId!, state: 'CREATED', watermarkMs: null, idle: false, millisBehindLatest: 0 }));
    return [...running, ...waiting];
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
      await leases.ensureTable();
      leases.on('acquired', (lease, how) => {
        if (how === 'take') return this.#startLeased(lease);
        // A stolen lease's previous owner may go on emitting until it next renews, or, if its
        // renewals fail, until its lease turns unsafe: failover time − safety margin after its
        // last renewal. Waiting that long before starting keeps two workers from ever emitting
        // for one shard at once.
        const wait = leases.options.failoverTimeMs - leases.options.safetyMarginMs;
        this.#o.log.info({ shardId: lease.leaseKey, waitMs: wait }, 'lease stolen; starting once the previous owner has stopped');
        void sleep(wait, this.#signal).then(() => {
          if (leases.held().includes(lease.leaseKey)) this.#startLeased(lease);
        });
      });
      leases.on('lost', (shardId) => this.#tasks.get(shardId)?.controller.abort());
      leasing = leases.start(signal);
    }
    while (!signal.aborted) {
      await this.#refresh(signal);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        void sleep(this.#o.refreshMs, signal).then(resolve);
      });
    }
    await Promise.all([...this.#tasks.values()].map((t) => t.done));
    await leasing;
    await leases?.releaseAll();
  }

  async #refresh(signal: AbortSignal): Promise<void> {
    const { log } = this.#o;
    let shards: Shard[];
    try {
      shards = await listAllShards(this.#o.kinesis, this.#o.stream);
    } catch (error) {
      log.warn({ err: error, stream: this.#o.stream }, 'cannot list shards (stream missing or Kinesis unreachable); retrying');
      return;
    }
    this.#known = shards;
    if (this.#o.leases) {
      try {
        await this.#o.leases.syncShards(shards);
      } catch (error) {
        log.warn({ err: error }, 'cannot sync the lease table; retrying');
      }
      return;
    }
    await this.#startReadable(shards, signal);
  }

  /** Without leases: every shard whose parents are finished. */
  async #startReadable(shards: Shard[], signal: AbortSignal): Promise<void> {
    const known = new Set(shards.map((s) => s.ShardId!));
    for (const shard of shards) {
      const id = shard.ShardId!;
      if (signal.aborted || this.#tasks.has(id) || this.#finished.has(id)) continue;
      if (shard.SequenceNumberRange?.EndingSequenceNumber) {
        const checkpoint = await this.#o.store.loadCheckpoint(id);
        if (checkpoint?.shardEnd) {
          this.#finished.add(id);
          continue;
        }
      }
      if (!isReadable(shard, known, this.#finished)) continue;
      this.#startTask(this.#startInfo(shard, known));
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

  /** With leases: a lease won. Its parents are finished (the lease manager checks before taking). */
  #startLeased(lease: Lease): void {
    void this.#startLeasedAsync(lease).catch((error: unknown) => {
      this.#o.log.error({ err: error, shardId: lease.leaseKey }, 'could not start a leased shard; releasing it');
      void this.#o.leases?.release(lease.leaseKey);
    });
  }

  async #startLeasedAsync(lease: Lease): Promise<void> {
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
    const known = new Set(this.#known.map((s) => s.ShardId!));
    this.#startTask(this.#startInfo(shard, known, lease));
  }

  #startTask(info: ShardTaskStart): void {
    const shardId = info.shardId;
    const controller = new AbortController();
    const outer = this.#signal!;
    const stop = () => controller.abort();
    outer.addEventListener('abort', stop, { once: true });
    const task = new ShardTask(info, this.#o);
    const done = task.run(controller.signal).then(
      () => {
        outer.removeEventListener('abort', stop);
        this.#tasks.delete(shardId);
        if (task.finished) {
          this.#finished.add(shardId);
          this.#o.metrics.removeShard(shardId);
          this.#wake?.(); // its children may start now
        } else if (controller.signal.aborted && !outer.aborted) {
          this.#o.metrics.removeShard(shardId); // lease lost: no longer ours
        }
      },
      (error: unknown) => {
        outer.removeEventListener('abort', stop);
        this.#tasks.delete(shardId);
        this.#o.log.error({ err: error, shardId }, 'shard task failed; it restarts from its checkpoint');
        // With leases the lease is still held: give it back so a fresh start (here or elsewhere) follows.
        if (this.#o.leases) void this.#o.leases.release(shardId);
      },
    );
    this.#tasks.set(shardId, { task, controller, done });
  }
}
