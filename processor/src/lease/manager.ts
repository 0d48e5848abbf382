/**
 * Lets several processor processes share the shards of one stream, as the Kinesis Client Library
 * does: one DynamoDB item per shard names the worker holding it, and that worker proves it is alive
 * by moving the item's `leaseCounter` every renewIntervalMs. Every change is a conditional write on
 * the counter, so the counter doubles as a fencing token: a worker that lost a lease cannot
 * checkpoint it any more.
 *
 * WHY `isSafe` IS SAFE (no two workers process a shard at once after an expiry). Let A renew a lease
 * successfully by a call that STARTED at A-local time sA, writing counter c at some real time w ≥ sA.
 * Another worker B can only judge the lease expired after seeing the counter unchanged for
 * failoverTimeMs, timed on B's clock from the moment B first saw c, and B takes that moment AFTER
 * its (strongly consistent) scan returned, which is after w, hence after sA. So B's take starts at
 * least failoverTimeMs after sA. A calls the lease safe only while less than
 * failoverTimeMs − safetyMarginMs has passed since sA on its own clock, so A stops at least
 * safetyMarginMs before B may start. The clocks are never compared, only durations on each one; the
 * margin absorbs their rate difference, a paused process's late check and the shard task's
 * reaction time. If A's renewal lands after all, B's take (conditional on c) fails; if B's take
 * lands first, A's next renewal or checkpoint fails its condition and A learns it lost the lease.
 *
 * A release clears the owner, which makes the lease available at once: the releasing worker stops
 * holding it (isSafe false) before the write, so nobody is left processing it.
 *
 * A steal takes a lease from a LIVE worker: the victim learns it at its next renewal (within
 * renewIntervalMs) or checkpoint, and until then may still read the shard; its checkpoints are
 * refused by the fence, so its progress past the steal is never recorded and the thief restarts
 * from the last accepted checkpoint (at-least-once, as in KCL).
 *
 * Operations on one held lease (renew, checkpoint, release) run one at a time, so a checkpoint
 * moving the counter never makes a concurrent renewal look like a loss.
 */
import { EventEmitter } from 'node:events';
import type { Shard } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { sleep } from '../../../common/src/retry.js';
import { DEFAULT_RETRY } from './dynamo.js';
import { LeaseTable } from './table.js';
import { parentsFinished, planRebalance } from './balance.js';
import { LeaseLostError } from './errors.js';
import { DEFAULT_FINISHED_RETENTION_MS, resolveLeaseOptions, type LeaseManagerOptions, type ResolvedLeaseOptions } from './options.js';
import { cleanupFinished, syncShards } from './sync.js';
import { SHARD_END, type CheckpointInput, type Lease, type LeaseCounters, type LeaseEvents, type LostReason, type Readable } from './types.js';

interface Held {
  counter: number;
  /** The counter this tenure began with (see CheckpointInput.acquiredCounter). */
  acquiredCounter: number;
  /** Local time at which the last successful renewal (or take, or checkpoint) STARTED. */
  renewedAt: number;
  releasing: boolean;
  lease: Lease;
}

interface Seen {
  counter: number;
  owner: string | undefined;
  /** Local time of the first scan that returned this counter and owner. */
  changedAt: number;
}

export class LeaseManager extends EventEmitter<LeaseEvents> {
  readonly workerId: string;
  readonly options: ResolvedLeaseOptions;
  #table: LeaseTable;
  #now: () => number;
  #random: () => number;
  #log: Logger;
  #held = new Map<string, Held>();
  #seen = new Map<string, Seen>();
  #queues = new Map<string, Promise<unknown>>();
  #rebalancing: Promise<unknown> = Promise.resolve();
  #counters = { takes: 0, steals: 0, renewFailures: 0, lost: 0 };
  readonly #finishedRetentionMs: number;

  constructor(o: LeaseManagerOptions) {
    super();
    if (!o.workerId) throw new RangeError('lease manager: workerId must not be empty');
    this.options = resolveLeaseOptions(o);
    this.workerId = o.workerId;
    this.#now = o.now;
    this.#random = o.random ?? Math.random;
    this.#log = o.log.child({ workerId: o.workerId, leaseTable: o.table });
    this.#table = new LeaseTable(o.dynamo, o.table, { ...DEFAULT_RETRY, random: this.#random, ...o.retry });
    this.#finishedRetentionMs = o.finishedRetentionMs ?? DEFAULT_FINISHED_RETENTION_MS;
  }

  /** Creates the lease table if missing and waits until it is ACTIVE. */
  ensureTable(): Promise<void> {
    return this.#table.ensure();
  }

  /**
   * Creates a free lease for every listed shard that has none (parents before children, so a child
   * lease never exists while its parent's lease is still missing), and records the children of
   * closed shards. Returns the shard ids whose lease this call created. See sync.ts.
   */
  syncShards(shards: readonly Shard[]): Promise<string[]> {
    return syncShards(this.#table, shards, this.options.initialPosition, this.#log);
  }

  /**
   * Deletes finished leases whose every child has checkpointed `finishedRetentionMs` past the
   * parent's end (see sync.ts). Returns the shard ids deleted.
   */
  cleanupFinished(): Promise<string[]> {
    return cleanupFinished(this.#table, this.#finishedRetentionMs, this.#log);
  }

  /**
   * Moves the counter of every held lease. A refused condition means another worker took the
   * lease: it is dropped and 'lost' emitted. Any other failure is counted and emitted as
   * 'renewFailed'; the lease is kept (isSafe runs out on its own) until failoverTimeMs has passed
   * without a successful renewal, then dropped as 'expired'. Never throws.
   */
  async renew(): Promise<void> {
    await Promise.all([...this.#held.keys()].map((id) => this.#serial(id, () => this.#renewOne(id))));
  }

  async #renewOne(id: string): Promise<void> {
    const h = this.#held.get(id);
    if (!h || h.releasing) return;
    const startedAt = this.#now();
    try {
      const result = await this.#table.renew(id, this.workerId, h.counter);
      if (result === 'ok') {
        h.counter += 1;
        h.renewedAt = startedAt;
        h.lease = { ...h.lease, leaseCounter: h.counter };
      } else {
        this.#drop(id, 'renew-conflict');
      }
    } catch (error) {
      this.#counters.renewFailures += 1;
      this.#log.warn({ err: error, shardId: id }, 'lease renewal failed; retrying at the next interval');
      this.emit('renewFailed', id, error);
      if (this.#now() - h.renewedAt >= this.options.failoverTimeMs) this.#drop(id, 'expired');
    }
  }

  /**
   * True only while the lease is held and its last successful renewal started less than
   * failoverTimeMs − safetyMarginMs ago (local clock). The shard's processing must stop as soon as
   * this is false: from then on another worker may soon take the lease (see the top of this file).
   */
  isSafe(shardId: string): boolean {
    const h = this.#held.get(shardId);
    if (!h || h.releasing) return false;
    return this.#now() - h.renewedAt < this.options.failoverTimeMs - this.options.safetyMarginMs;
  }

  /**
   * One round of lease taking (see balance.ts): scans the table, takes free and expired leases that
   * may be read (parents finished, and `readable` if given), or steals one lease to even the spread.
   * Emits 'acquired' for each lease won and returns them. Scan failures (after retries) throw; a
   * failed take is logged and skipped.
   */
  rebalance(readable?: Readable): Promise<Lease[]> {
    const run = this.#rebalancing.then(() => this.#rebalance(readable));
    this.#rebalancing = run.catch(() => undefined);
    return run;
  }

  async #rebalance(readable: Readable | undefined): Promise<Lease[]> {
    const leases = await this.#table.scan();
    // Taken after the scan returned: the observation is then no earlier than the write it saw.
    const at = this.#now();
    this.#observe(leases, at);
    const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
    const plan = planRebalance({
      leases,
      me: this.workerId,
      held: new Set(this.#held.keys()),
      expired: (l) => at - (this.#seen.get(l.leaseKey)?.changedAt ?? at) >= this.options.failoverTimeMs,
      readable: (l) => parentsFinished(l, byKey) && (readable?.(l, byKey) ?? true),
      random: this.#random,
    });
    const won: Lease[] = [];
    for (const lease of plan.take) {
      const got = await this.#claim(lease, 'take');
      if (got) won.push(got);
    }
    if (plan.steal) {
      const got = await this.#claim(plan.steal.lease, 'steal');
      if (got) won.push(got);
    }
    this.#log.debug({ workers: plan.workers, target: plan.target, held: this.#held.size, won: won.map((l) => l.leaseKey) }, 'rebalanced');
    return won;
  }

  #observe(leases: readonly Lease[], at: number): void {
    const present = new Set<string>();
    for (const l of leases) {
      present.add(l.leaseKey);
      const prev = this.#seen.get(l.leaseKey);
      if (!prev || prev.counter !== l.leaseCounter || prev.owner !== l.leaseOwner) {
        this.#seen.set(l.leaseKey, { counter: l.leaseCounter, owner: l.leaseOwner, changedAt: at });
      }
    }
    for (const key of this.#seen.keys()) if (!present.has(key)) this.#seen.delete(key);
  }

  #claim(observed: Lease, how: 'take' | 'steal'): Promise<Lease | undefined> {
    const id = observed.leaseKey;
    return this.#serial(id, async () => {
      if (this.#held.has(id)) return undefined;
      const startedAt = this.#now();
      let result;
      try {
        result = await this.#table.claim(observed, this.workerId);
      } catch (error) {
        this.#log.warn({ err: error, shardId: id }, `lease ${how} failed; next round retries`);
        return undefined;
      }
      if (result === 'conflict') {
        this.#log.debug({ shardId: id }, `lease ${how} lost the race`);
        return undefined;
      }
      const lease: Lease = {
        ...observed,
        leaseOwner: this.workerId,
        leaseCounter: observed.leaseCounter + 1,
        ownerSwitchesSinceCheckpoint: observed.ownerSwitchesSinceCheckpoint + (observed.leaseOwner === this.workerId ? 0 : 1),
      };
      this.#held.set(id, {
        counter: lease.leaseCounter,
        acquiredCounter: lease.leaseCounter,
        renewedAt: startedAt,
        releasing: false,
        lease,
      });
      if (how === 'steal') {
        this.#counters.steals += 1;
        this.#log.info({ shardId: id, from: observed.leaseOwner }, 'lease stolen to even the spread');
        this.emit('stolen', lease, observed.leaseOwner!);
      } else {
        this.#counters.takes += 1;
        this.#log.info({ shardId: id, from: observed.leaseOwner ?? null }, 'lease taken');
      }
      this.emit('acquired', lease, how);
      return lease;
    });
  }

  /**
   * Writes the shard's checkpoint, fenced: only while this worker owns the lease at the counter it
   * holds. Moves the counter (so it also counts as a renewal) and resets ownerSwitchesSinceCheckpoint.
   * A refusal drops the lease, emits 'lost' and throws LeaseLostError. A lease not held, or a
   * checkpoint from an earlier tenure (`acquiredCounter`), throws LeaseLostError without writing.
   * Throttling or network failures (after retries) are thrown as they are, the lease kept.
   * After SHARD_END the lease is finished: it is no longer held or renewed, and nobody takes it.
   */
  async checkpoint(shardId: string, input: CheckpointInput): Promise<void> {
    if (input.sequenceNumber !== SHARD_END && !/^\d+$/.test(input.sequenceNumber)) {
      throw new TypeError(`checkpoint of ${shardId}: not a sequence number or SHARD_END: ${input.sequenceNumber}`);
    }
    return this.#serial(shardId, async () => {
      const h = this.#held.get(shardId);
      if (!h) throw new LeaseLostError(shardId, 'not held by this worker');
      if (input.acquiredCounter !== undefined && input.acquiredCounter !== h.acquiredCounter) {
        throw new LeaseLostError(shardId, `checkpoint from an earlier tenure (acquired at ${input.acquiredCounter}, now ${h.acquiredCounter})`);
      }
      const startedAt = this.#now();
      const { sequenceNumber, watermarkMs, checkpointAtMs, stateId } = input;
      const result = await this.#table.checkpoint(shardId, this.workerId, h.counter, {
        sequenceNumber,
        watermarkMs,
        checkpointAtMs,
        ...(stateId ? { stateId } : {}),
      });
      if (result === 'conflict') {
        this.#drop(shardId, 'checkpoint-conflict');
        throw new LeaseLostError(shardId, 'checkpoint refused: another worker holds the lease now');
      }
      h.counter += 1;
      h.renewedAt = startedAt;
      h.lease = {
        ...h.lease,
        leaseCounter: h.counter,
        checkpoint: input.sequenceNumber,
        checkpointWatermarkMs: input.watermarkMs,
        checkpointAtMs: input.checkpointAtMs,
        checkpointStateId: input.stateId,
        ownerSwitchesSinceCheckpoint: 0,
      };
      if (input.sequenceNumber === SHARD_END) {
        this.#held.delete(shardId);
        this.#log.info({ shardId }, 'shard finished; lease no longer renewed');
      }
    });
  }

  /**
   * Gives a lease back (SIGTERM, after the shard's final checkpoint): stops holding it at once, then
   * clears leaseOwner so others take it in their next round without waiting for failover. Returns
   * false when the lease was not held or the write failed (it then expires as usual).
   */
  release(shardId: string): Promise<boolean> {
    const h = this.#held.get(shardId);
    if (!h) return Promise.resolve(false);
    h.releasing = true;
    return this.#serial(shardId, async () => {
      const current = this.#held.get(shardId);
      if (!current) return false;
      this.#held.delete(shardId);
      try {
        const result = await this.#table.release(shardId, this.workerId, current.counter);
        this.#log.info({ shardId, result }, 'lease released');
        return result === 'ok';
      } catch (error) {
        this.#log.warn({ err: error, shardId }, 'lease release failed; it expires after failoverTimeMs');
        return false;
      }
    });
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.#held.keys()].map((id) => this.release(id)));
  }

  /** Shard ids held now (being released excluded), sorted. */
  held(): string[] {
    return [...this.#held]
      .filter(([, h]) => !h.releasing)
      .map(([id]) => id)
      .sort();
  }

  /** The lease as this worker holds it (checkpoint as of the take or its own last checkpoint). */
  heldLease(shardId: string): Lease | undefined {
    return this.#held.get(shardId)?.lease;
  }

  /**
   * The leaseCounter this tenure of a held lease began with (CheckpointInput.acquiredCounter): a
   * task started later in the same tenure passes this, not the lease's current counter.
   */
  tenureOf(shardId: string): number | undefined {
    return this.#held.get(shardId)?.acquiredCounter;
  }

  /** Every lease in the table, sorted by shard id (metrics, tests, tooling). */
  snapshot(): Promise<Lease[]> {
    return this.#table.scan();
  }

  stats(): LeaseCounters {
    return { leasesHeld: this.held().length, ...this.#counters };
  }

  /**
   * Renews every renewIntervalMs and rebalances every 0.4–0.5 × renewIntervalMs until `signal` aborts.
   * Errors are logged, never thrown. It does not release anything on abort: the caller stops its
   * shard tasks (final checkpoints) first, then calls releaseAll().
   */
  async start(signal: AbortSignal, options: { readable?: Readable } = {}): Promise<void> {
    const interval = this.options.renewIntervalMs;
    const renewing = (async () => {
      while (!signal.aborted) {
        const began = this.#now();
        await this.renew();
        await sleep(Math.max(0, interval - (this.#now() - began)), signal);
      }
    })();
    const balancing = (async () => {
      while (!signal.aborted) {
        try {
          await this.rebalance(options.readable);
          this.emit('reachable');
        } catch (error) {
          this.#log.warn({ err: error }, 'lease rebalance failed; retrying at the next interval');
          this.emit('unreachable', error);
        }
        // Scans run twice per renew interval (jittered down only): a dead worker's last counter is
        // then seen within half an interval of its last renewal and its expiry acted on within half
        // an interval, so its leases are taken within failover time + one renew interval.
        await sleep((interval / 2) * (0.8 + 0.2 * this.#random()), signal);
      }
    })();
    // Housekeeping: finished leases deleted once their children no longer need them.
    const cleaning = (async () => {
      const every = Math.min(60_000, Math.max(interval, Math.floor(this.#finishedRetentionMs / 2)));
      while (!signal.aborted) {
        await sleep(every, signal);
        if (signal.aborted) break;
        try {
          this.emit('cleaned', await this.cleanupFinished());
        } catch (error) {
          this.#log.warn({ err: error }, 'finished-lease cleanup failed; retrying at the next interval');
        }
      }
    })();
    await Promise.all([renewing, balancing, cleaning]);
  }

  #drop(id: string, reason: LostReason): void {
    if (!this.#held.delete(id)) return;
    this.#counters.lost += 1;
    this.#log.warn({ shardId: id, reason }, 'lease lost');
    this.emit('lost', id, reason);
  }

  /** Runs `op` after every earlier operation on the same lease. */
  #serial<T>(id: string, op: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const run = previous.then(op, op);
    const tail = run.catch(() => undefined);
    this.#queues.set(id, tail);
    const forget = () => {
      if (this.#queues.get(id) === tail) this.#queues.delete(id);
    };
    tail.then(forget, forget);
    return run;
  }
}
