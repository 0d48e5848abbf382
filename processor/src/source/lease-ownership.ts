/**
 * Ownership through the lease table (docs/leases.md): processors of one stream share its shards.
 * A shard is owned while its lease is held; a lease taken from a live worker (a steal) starts its
 * task only once the previous owner must have stopped; every task is fenced by `isSafe` and its
 * tenure (a lease lost and won back is a new tenure), and writes the shared checkpoint that a new
 * owner, or this worker restarted, continues from.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { backoffDelay, sleep } from '../../../common/src/retry.js';
import type { Dependencies } from '../dependencies.js';
import { LeaseLostError, SHARD_END, type Lease, type LeaseManager } from '../lease/index.js';
import type { ShardCheckpoint } from '../state/index.js';
import type { Ownership, OwnershipListener, ShardTenure } from './ownership.js';

export interface LeaseOwnershipOptions {
  log: Logger;
  /** The wall clock, epoch ms: the instant a checkpoint describes. */
  now: () => number;
  /** A monotonic clock, ms: the interval between two shared checkpoints. */
  monotonic: () => number;
  /** Told when the lease table answers or fails, for /ready and metrics. */
  dependencies?: Dependencies;
  /** Minimum time between two lease-table checkpoints of one shard (LEASE_CHECKPOINT_INTERVAL_MS). Default 1 000. */
  checkpointIntervalMs?: number;
}

/** Waiting for the lease table at start: 1 s, doubling, at most 30 s. */
const TABLE_BACKOFF = { initialMs: 1_000, factor: 2, maxMs: 30_000, jitter: 0.2 };

export class LeaseOwnership implements Ownership {
  readonly #leases: LeaseManager;
  readonly #o: LeaseOwnershipOptions;

  constructor(leases: LeaseManager, options: LeaseOwnershipOptions) {
    this.#leases = leases;
    this.#o = options;
  }

  /** Creates or finds the lease table, waiting (logged, retried, on /ready) while DynamoDB does not answer. */
  async prepare(signal: AbortSignal): Promise<void> {
    const { log, dependencies } = this.#o;
    dependencies?.expect('lease_table');
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await this.#leases.ensureTable();
        dependencies?.up('lease_table');
        return;
      } catch (error) {
        dependencies?.down('lease_table', error);
        const delayMs = backoffDelay(attempt, TABLE_BACKOFF);
        log.warn({ err: error, delayMs }, 'lease table not reachable; waiting for it');
        await sleep(delayMs, signal);
      }
    }
  }

  run(signal: AbortSignal, listener: OwnershipListener): Promise<void> {
    const leases = this.#leases;
    leases.on('acquired', (lease, how) => {
      if (how !== 'steal') return listener.gained(lease.leaseKey, 0);
      // A stolen lease's previous owner may go on emitting until it next renews, or, if its
      // renewals fail, until its lease turns unsafe: failover time − safety margin after its last
      // renewal. Waiting that long before starting keeps two workers from ever emitting for one
      // shard at once.
      const wait = leases.options.failoverTimeMs - leases.options.safetyMarginMs;
      this.#o.log.info({ shardId: lease.leaseKey, waitMs: wait }, 'lease stolen; starting once the previous owner has stopped');
      listener.gained(lease.leaseKey, wait);
    });
    leases.on('lost', (shardId) => listener.lost(shardId));
    return leases.start(signal);
  }

  async sync(shards: readonly Shard[]): Promise<void> {
    const { log, dependencies } = this.#o;
    try {
      await this.#leases.syncShards(shards);
      dependencies?.up('lease_table');
    } catch (error) {
      dependencies?.down('lease_table', error);
      log.warn({ err: error }, 'cannot sync the lease table; retrying');
    }
  }

  owned(): ReadonlySet<string> {
    return new Set(this.#leases.held());
  }

  /**
   * Held and safe: a task may start. Held but not safe: renewals are failing (or a frozen process
   * just woke up); the renewal loop either renews it (then it starts) or drops it.
   */
  tenure(shardId: string): ShardTenure | undefined {
    const leases = this.#leases;
    const lease = leases.heldLease(shardId);
    const acquired = leases.tenureOf(shardId);
    if (!lease || acquired === undefined || !leases.isSafe(shardId)) return undefined;
    return new LeaseTenure(this, leases, lease, acquired, this.#o);
  }

  /** Nothing to do: the SHARD_END checkpoint already ended the lease. */
  finished(): void {}

  async release(shardId: string): Promise<void> {
    await this.#leases.release(shardId);
  }

  releaseAll(): Promise<void> {
    return this.#leases.releaseAll();
  }

  /** A shard not owned here is another worker's (or finished): its state goes after the retention. */
  keepsStateOf(): boolean {
    return false;
  }

  isSafe(shardId: string): boolean {
    return this.#leases.isSafe(shardId);
  }

  /** A lease of the table as it is now (a parent's, for a rebuild). */
  async leaseOf(shardId: string): Promise<Lease | undefined> {
    return (await this.#leases.snapshot()).find((l) => l.leaseKey === shardId);
  }
}

const isSequenceNumber = (s: string): boolean => /^\d+$/.test(s);

/** One tenure of a held lease: from the `acquired` that won it until it is lost or released. */
class LeaseTenure implements ShardTenure {
  readonly lease: Lease;
  readonly #ownership: LeaseOwnership;
  readonly #leases: LeaseManager;
  /** The leaseCounter this tenure began with (LeaseManager.tenureOf); its checkpoints name it. */
  readonly #acquired: number;
  readonly #o: LeaseOwnershipOptions;
  /** Monotonic time of the last lease checkpoint written (or tried). */
  #checkpointedAt = Number.NEGATIVE_INFINITY;
  /** The checkpoint the lease holds as far as this tenure knows. */
  #written: string | undefined;
  /** The last checkpoint this tenure wrote itself. */
  #sharedByMe: string | undefined;

  constructor(ownership: LeaseOwnership, leases: LeaseManager, lease: Lease, acquired: number, o: LeaseOwnershipOptions) {
    this.lease = lease;
    this.#ownership = ownership;
    this.#leases = leases;
    this.#acquired = acquired;
    this.#o = o;
    this.#written = isSequenceNumber(lease.checkpoint) ? lease.checkpoint : undefined;
  }

  stillHeld(): ShardTenure | undefined {
    const id = this.lease.leaseKey;
    const now = this.#ownership.tenure(id);
    return now && this.#leases.tenureOf(id) === this.#acquired ? now : undefined;
  }

  isSafe(): boolean {
    return this.#leases.isSafe(this.lease.leaseKey);
  }

  leaseOf(shardId: string): Promise<Lease | undefined> {
    return this.#ownership.leaseOf(shardId);
  }

  /**
   * The shared checkpoint follows the local one (never the other way round): at most every
   * checkpointIntervalMs, always at the shard's end and when the task ends, and only at a commit
   * that landed with nothing left half-drained, so a new owner's replay to it rebuilds exactly
   * that state. It names the state's id, so this worker, restarted, can tell that its own state
   * (at or past the checkpoint) continues it.
   */
  async checkpoint(c: ShardCheckpoint, force: boolean): Promise<void> {
    const { log, dependencies } = this.#o;
    const shardId = this.lease.leaseKey;
    const now = this.#o.now();
    const mono = this.#o.monotonic();
    if (!force && mono - this.#checkpointedAt < (this.#o.checkpointIntervalMs ?? 1_000)) return;
    const sequenceNumber = c.shardEnd ? SHARD_END : c.sequenceNumber;
    if (!sequenceNumber || sequenceNumber === this.#written) return;
    try {
      await this.#leases.checkpoint(shardId, {
        sequenceNumber,
        watermarkMs: c.watermarkMs,
        checkpointAtMs: now,
        ...(c.stateId ? { stateId: c.stateId } : {}),
        // Refused if this worker lost the lease and won it back since this tenure began.
        acquiredCounter: this.#acquired,
      });
    } catch (error) {
      // DynamoDB not answering (after the lease layer's retries) only delays the shared checkpoint:
      // the next interval tries again, and the fence stops the task if the lease turns unsafe. A
      // refusal (LeaseLostError) and the checkpoints that must land (the shard's end, the task's
      // end) are the caller's to handle.
      if (force || error instanceof LeaseLostError) throw error;
      dependencies?.down('lease_table', error);
      log.warn({ shardId, err: error }, 'lease checkpoint not written; retrying at the next interval');
      this.#checkpointedAt = mono;
      return;
    }
    this.#checkpointedAt = mono;
    this.#written = sequenceNumber;
    this.#sharedByMe = sequenceNumber;
  }

  sharedCheckpoint(): string | undefined {
    return this.#sharedByMe;
  }
}
