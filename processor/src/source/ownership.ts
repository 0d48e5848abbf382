/**
 * Which shards this process owns, and what owning one lets its task do. The coordinator and the
 * shard task see only this interface; two implementations stand behind it:
 *
 * - LeaseOwnership (lease-ownership.ts): processors share the stream through the DynamoDB lease
 *   table (docs/leases.md). A shard is owned while its lease is held; the task is fenced by it and
 *   writes the shared checkpoint a new owner restarts from.
 * - SoleOwnership (below; LEASE_TABLE empty): one processor, no DynamoDB. It owns every shard the
 *   parent rule lets it read (common/src/shard-lineage.ts), nobody else can take one, and nothing
 *   is shared: its own checkpoints are the only ones.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import { isReadable } from '../../../common/src/shard-lineage.js';
import type { Lease } from '../lease/index.js';
import type { ShardCheckpoint, StateStore } from '../state/index.js';

/** Told of every change of ownership the coordinator did not cause. */
export interface OwnershipListener {
  /** A shard was won; its task starts no earlier than `waitMs` from now (0: at once). */
  gained(shardId: string, waitMs: number): void;
  /** A shard is no longer ours: stop its task now. */
  lost(shardId: string): void;
}

export interface Ownership {
  /** Waits until ownership can be decided (the lease table answers), or `signal` aborts. Never throws. */
  prepare(signal: AbortSignal): Promise<void>;
  /** Keeps ownership current (renewals, taking, stealing) until `signal` aborts. Never throws. */
  run(signal: AbortSignal, listener: OwnershipListener): Promise<void>;
  /** The stream's shards, as ListShards just returned them. */
  sync(shards: readonly Shard[], signal: AbortSignal): Promise<void>;
  /** The shards owned now, with or without a running task. */
  owned(): ReadonlySet<string>;
  /** The tenure a task of an owned shard starts with now; undefined while it may not start (a lease held but not safe). */
  tenure(shardId: string): ShardTenure | undefined;
  /** The shard's task read it to its end (closed by resharding), emitted and checkpointed it. */
  finished(shardId: string): void;
  /** Gives a shard up (its task could not start). */
  release(shardId: string): Promise<void>;
  /** Gives every shard up, at shutdown, once every task has ended. */
  releaseAll(): Promise<void>;
  /** Whether the local state of a shard not owned now must be kept anyway (housekeeping). */
  keepsStateOf(shardId: string): boolean;
  /** The fence of a shard's output: false once another worker may own it. Checked before every PutRecords attempt. */
  isSafe(shardId: string): boolean;
}

/** One owned shard, as its task sees it from start to end. */
export interface ShardTenure {
  /**
   * The lease as held when the task started: the shared checkpoint the restore starts from
   * (restore.ts). Undefined when nothing is shared (SoleOwnership).
   */
  readonly lease: Lease | undefined;
  /** This tenure as it stands now (held, safe, not lost and won back since), or undefined. */
  stillHeld(): ShardTenure | undefined;
  /** The fence: false once another worker may own the shard; the task then stops emitting. */
  isSafe(): boolean;
  /** The shared checkpoint of another shard (a parent), as the table has it now. */
  leaseOf(shardId: string): Promise<Lease | undefined>;
  /**
   * Lets the shared checkpoint follow the local one: `settled` is the task's last commit that
   * landed with nothing left to drain. `force`: the shard's end or the task's end, always written.
   * Throws LeaseLostError when the lease is not ours any more.
   */
  checkpoint(settled: ShardCheckpoint, force: boolean): Promise<void>;
  /** The lease checkpoint this tenure itself last wrote (then the lease names the task's line of state). */
  sharedCheckpoint(): string | undefined;
}

/** The tenure of a sole owner: never fenced, nothing shared. */
export const SOLE_TENURE: ShardTenure = Object.freeze({
  lease: undefined,
  stillHeld: () => SOLE_TENURE,
  isSafe: () => true,
  leaseOf: () => Promise.resolve(undefined),
  checkpoint: () => Promise.resolve(),
  sharedCheckpoint: () => undefined,
});

/**
 * One processor owns the stream: every shard whose parents are finished. A closed shard is
 * finished when its checkpoint says so (the store is the only record), and its state is kept for
 * as long as Kinesis lists it.
 */
export class SoleOwnership implements Ownership {
  readonly #store: StateStore;
  /** The shards this process owns: listed, readable, not finished. */
  readonly #assigned = new Set<string>();
  readonly #finished = new Set<string>();
  /** The shards of the last listing. */
  #listed = new Set<string>();

  constructor(store: StateStore) {
    this.#store = store;
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  run(): Promise<void> {
    return Promise.resolve();
  }

  /** Every listed shard whose parents are finished is ours. */
  async sync(shards: readonly Shard[], signal: AbortSignal): Promise<void> {
    const listed = new Set(shards.map((s) => s.ShardId!));
    this.#listed = listed;
    for (const shard of shards) {
      const id = shard.ShardId!;
      if (signal.aborted || this.#assigned.has(id) || this.#finished.has(id)) continue;
      if (shard.SequenceNumberRange?.EndingSequenceNumber) {
        const checkpoint = await this.#store.loadCheckpoint(id);
        if (checkpoint?.shardEnd) {
          this.#finished.add(id);
          continue;
        }
      }
      if (isReadable(shard, listed, this.#finished)) this.#assigned.add(id);
    }
  }

  owned(): ReadonlySet<string> {
    return this.#assigned;
  }

  /** Only a shard of the last listing starts (one no longer listed has nothing left to read). */
  tenure(shardId: string): ShardTenure | undefined {
    return this.#listed.has(shardId) ? SOLE_TENURE : undefined;
  }

  finished(shardId: string): void {
    this.#finished.add(shardId);
    this.#assigned.delete(shardId);
  }

  release(): Promise<void> {
    return Promise.resolve();
  }

  releaseAll(): Promise<void> {
    return Promise.resolve();
  }

  /** Every listed shard is ours, finished ones too: their checkpoint is what marks them finished. */
  keepsStateOf(shardId: string): boolean {
    return this.#listed.has(shardId);
  }

  isSafe(): boolean {
    return true;
  }
}
