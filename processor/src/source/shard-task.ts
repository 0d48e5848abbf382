/**
 * One shard, one task (as in Kafka Streams): it owns the shard's reader, its engine (the shard's
 * stream time, windows and panes) and its checkpoint, and nothing of any other shard.
 *
 * The loop, per GetRecords batch:
 *   1. classify every record; valid payments of this shard go to the engine, bad records become
 *      rejects, payments keyed by something else than their card are re-published keyed by it,
 *      and payments with an untrusted clock are alerted without touching stream time;
 *   2. let the engine advance the watermark by the wall clock if the shard is caught up and has
 *      made no event-time progress (no payment moved its watermark) for IDLE_TIMEOUT_MS, however
 *      many other records it read;
 *   3. drain what is due (alerts, summaries), in chunks;
 *   4. COMMIT ORDER — the guarantee lives here:
 *        a. the sink gets the chunk (and the re-published payments) and resolves only when Kinesis
 *           acknowledged every record;
 *        b. then the engine's state changes and the checkpoint (last sequence number read,
 *           watermark) are written in ONE atomic LevelDB batch.
 *      A crash before (b) replays the batch from the previous checkpoint against the previous
 *      state: the same output again, with the same deterministic ids, and nothing lost. A crash
 *      after (b) loses nothing either, since the output was acknowledged first.
 *      The batch (b) is written while the next GetRecords batch is processed; commits still land
 *      one at a time and in order, and the task never ends with one in flight (see #commit).
 * Every step is reported to the shard's watch (shard-watch.ts), which is what /health reads.
 */
import { randomUUID } from 'node:crypto';
import type { KinesisClient, _Record } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { ShardReader, type StartPosition } from '../../../common/src/shard-reader.js';
import { ProducerError } from '../../../common/src/producer.js';
import { ShardEngine, type EngineConfig, type Emission } from '../engine/index.js';
import type { ChangeSet, StateStore, ShardCheckpoint } from '../state/index.js';
import type { PaymentsMetrics } from '../metrics.js';
import type { KinesisSink, OutputEvent, RepublishedRecord } from '../sink/kinesis-sink.js';
import type { ShardStatus } from '../http/status.js';
import type { Dependencies } from '../dependencies.js';
import { assertTransition, type ShardState } from './lifecycle.js';
import { classifyKinesisRecord, rejectedEvent, type ClassifyOptions } from './classify.js';
import type { StolenCards } from './stolen-cards.js';
import { REBUILD_MARGIN_MS, rebuildEngine } from './rebuild.js';
import { restoreLocalState } from './local-state.js';
import { ShardWatch } from './shard-watch.js';
import { hashKeyOf, inheritEntries } from '../engine/inherit.js';
import { LeaseLostError, SHARD_END, type Lease, type LeaseManager } from '../lease/index.js';

export interface ShardTaskDeps {
  kinesis: KinesisClient;
  stream: string;
  store: StateStore;
  sink: KinesisSink;
  stolen: StolenCards;
  metrics: PaymentsMetrics;
  log: Logger;
  engineConfig: Partial<EngineConfig>;
  /** The wall clock, epoch ms: instants (event time, creation times, the idle watermark). */
  now: () => number;
  /** A monotonic clock, ms: durations (idle timeout, how long a step lasts). */
  monotonic: () => number;
  maxRecordBytes: number;
  /** How far a payment's event time may be ahead of its arrival in Kinesis (MAX_CLOCK_SKEW_MS). */
  maxClockSkewMs: number;
  /** First start without a checkpoint: AT_TIMESTAMP now − this. */
  startLookbackMs: number;
  getRecordsLimit: number;
  pollIntervalMs: number;
  /** Emissions per sink call and commit, so a watermark jump of hours is sent in pieces. */
  drainChunk?: number;
  /** Pause between GetRecords calls while rebuilding (default: pollIntervalMs). */
  rebuildPollIntervalMs?: number;
  /** Told when Kinesis answers or fails, for /ready and metrics. */
  dependencies?: Dependencies;
  /** Present when processors share the shards: ownership, fencing and the shared checkpoint. */
  leases?: LeaseManager;
  /** Minimum time between two lease-table checkpoints of one shard. */
  leaseCheckpointIntervalMs?: number;
  /** The lease of another shard (a parent), as the table has it now. */
  leaseOf?: (shardId: string) => Promise<Lease | undefined>;
  /** Parents (still in the stream) and hash-key range of any shard, from the last ListShards. */
  shardInfo?: (shardId: string) => { parents: string[]; hashKeyRange?: { start: bigint; end: bigint } } | undefined;
}

export interface ShardTaskStart {
  shardId: string;
  /** Parent shards that still exist (all finished): a child takes over their state for its range. */
  parents?: string[];
  /** The shard's hash-key range, to keep only its own cards of the parents' state. */
  hashKeyRange?: { start: bigint; end: bigint };
  /** The lease as held, with the shared checkpoint (lease mode only). */
  lease?: Lease;
  /** The leaseCounter the lease's tenure began with (LeaseManager.tenureOf); its checkpoints name it. */
  tenure?: number;
  /** The shard's watch, kept across its tasks by the coordinator; a task of its own otherwise. */
  watch?: ShardWatch;
}

/** A reading of MillisBehindLatest older than this makes the estimate grow (see status()). */
const FRESH_READ_MS = 1_000;

const isSequenceNumber = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);

export class ShardTask {
  readonly shardId: string;
  readonly watch: ShardWatch;
  #deps: ShardTaskDeps;
  #start: ShardTaskStart;
  #state: ShardState = 'CREATED';
  #engine: ShardEngine | undefined;
  #millisBehindLatest = Number.NaN;
  /** Monotonic time of the last successful GetRecords. */
  #readAt = Number.NaN;
  #idle = false;
  /** Monotonic time of the last event-time progress (a payment moved the watermark), or of the start. */
  #progressAt = 0;
  /** The checkpoint being written (the commit in flight) or last written. */
  #checkpoint: ShardCheckpoint | undefined;
  /** The last checkpoint that landed with nothing left to drain: what the lease checkpoint may name. */
  #settled: ShardCheckpoint | undefined;
  /** The commit being written while the next batch is processed (see #commit). */
  #commitInFlight: Promise<void> | undefined;
  #finished = false;
  /** Payments of the batch being read whose clock was ahead of their arrival (counted once per batch). */
  #clockAhead = 0;
  #stateId: string | undefined;
  /** Monotonic time of the last lease checkpoint written (or tried). */
  #leaseCheckpointedAt = Number.NEGATIVE_INFINITY;
  #leaseSequence: string | undefined;

  constructor(start: ShardTaskStart, deps: ShardTaskDeps) {
    this.shardId = start.shardId;
    this.#start = start;
    this.#deps = deps;
    this.watch = start.watch ?? new ShardWatch(deps.monotonic);
  }

  get state(): ShardState {
    return this.#state;
  }

  /** True once the shard's end has been read, emitted and checkpointed. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * The shard as /ready, /health and metrics see it. `behindLatestMs` is the last read's
   * MillisBehindLatest, plus the time since that read once it is more than a second old: a shard
   * that is not being read (Kinesis failing, a send or commit blocked, the task gone) falls behind
   * the tip by at least that much, and the estimate keeps growing until it is read again.
   */
  status(stuckAfterMs: number): ShardStatus {
    const readAge = this.#deps.monotonic() - this.#readAt;
    const behind = Number.isNaN(this.#millisBehindLatest) ? null : this.#millisBehindLatest + (readAge > FRESH_READ_MS ? readAge : 0);
    return {
      shardId: this.shardId,
      state: this.#state,
      watermarkMs: this.#engine?.watermarkMs ?? null,
      idle: this.#idle,
      millisBehindLatest: Number.isNaN(this.#millisBehindLatest) ? 0 : this.#millisBehindLatest,
      behindLatestMs: behind,
      progress: this.watch.progress(stuckAfterMs),
    };
  }

  #moveTo(next: ShardState): void {
    assertTransition(this.shardId, this.#state, next);
    this.#state = next;
    this.#deps.log.info({ shardId: this.shardId, state: next }, 'shard state');
  }

  /** Runs until the shard is finished or `signal` aborts; then the task is CLOSED. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      this.#moveTo('RESTORING');
      this.watch.enter('restore');
      await this.#restore(signal);
      if (this.#finished || signal.aborted) return;
      this.#moveTo('RUNNING');
      await this.#loop(signal);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.#deps.log.warn({ shardId: this.shardId, reason: error.message }, 'lease lost or no longer safe: stopped the shard without emitting further');
        return;
      }
      throw error;
    } finally {
      // A task never ends with its last commit still being written (a restart would read the store
      // under it); a failed commit is logged here and is the task's failure only if nothing else is.
      await this.#settleCommit().catch((err: unknown) => this.#deps.log.warn({ shardId: this.shardId, err }, 'state commit failed while the task was stopping'));
      // However the task ends, the lease checkpoint catches up with the local one, so that this
      // worker (or another) restarting the shard continues from here instead of replaying.
      await this.#checkpointLease(true).catch((err: unknown) => {
        if (err instanceof LeaseLostError) this.#deps.log.debug({ shardId: this.shardId, reason: err.message }, 'no final lease checkpoint: the lease is not ours');
        else this.#deps.log.warn({ shardId: this.shardId, err }, 'final lease checkpoint not written; the next owner replays from the one before');
      });
      // Everything emitted was awaited, so this only closes the shard's producers.
      await this.#deps.sink.release(this.shardId);
      if (this.#state !== 'CLOSED') this.#moveTo('CLOSED');
    }
  }

  /**
   * Brings the engine to the shard's checkpoint. In order of preference: the local state when it
   * provably continues the shared (lease) checkpoint; a rebuild by replay when the lease has a
   * checkpoint the local state does not continue (a take-over, a lost disk); the parents' state for
   * a child that has never been read; the local state as it is without leases; else an empty engine.
   */
  async #restore(signal: AbortSignal): Promise<void> {
    const { store, log } = this.#deps;
    this.#checkpoint = await store.loadCheckpoint(this.shardId);
    const cfg = this.#deps.engineConfig;
    const lease = this.#start.lease;
    if (lease?.checkpoint === SHARD_END || (!lease && this.#checkpoint?.shardEnd)) {
      this.#finished = true;
      return;
    }
    if (lease && isSequenceNumber(lease.checkpoint)) {
      this.#leaseSequence = lease.checkpoint;
      if (continuesLease(this.#checkpoint, lease)) {
        this.#restored((await restoreLocalState(store, this.shardId, cfg)).engine);
        log.info({ shardId: this.shardId, local: this.#checkpoint?.sequenceNumber, lease: lease.checkpoint, replayed: 0 }, 'local state continues the lease checkpoint: reused');
        return;
      }
      await this.#rebuild(lease, signal);
      return;
    }
    const local = await restoreLocalState(store, this.shardId, cfg);
    if (local.entries > 0 || this.#checkpoint) {
      this.#restored(local.engine);
      return;
    }
    this.#stateId = randomUUID();
    const parents = this.#start.parents ?? [];
    if (parents.length > 0) {
      const inherited = await this.#parentsState(parents, signal);
      this.#engine = ShardEngine.restore(inherited, cfg);
      // Make the inherited state this shard's own before reading anything.
      const checkpoint = this.#checkpointNow(null, false);
      await store.commitShard(this.shardId, { puts: inherited, dels: [] }, checkpoint);
      this.#checkpoint = checkpoint;
      if (!this.#engine.hasPendingEmissions()) this.#settled = checkpoint;
      log.info({ shardId: this.shardId, parents, entries: inherited.length }, "took over the parents' state");
      return;
    }
    this.#engine = new ShardEngine(cfg);
  }

  /**
   * The engine as this worker last committed it. Its checkpoint may name the lease checkpoint only
   * if it was taken with nothing left to drain (a crash can stop a drain between two chunks).
   */
  #restored(engine: ShardEngine): void {
    this.#engine = engine;
    this.#stateId = this.#checkpoint?.stateId ?? randomUUID();
    if (this.#checkpoint && !engine.hasPendingEmissions()) this.#settled = this.#checkpoint;
  }

  /** Replays the shard up to the lease's checkpoint; the rebuilt state replaces the local one. */
  async #rebuild(lease: Lease, signal: AbortSignal): Promise<void> {
    const d = this.#deps;
    const parents = { parents: this.#start.parents ?? [], ...(this.#start.hashKeyRange ? { hashKeyRange: this.#start.hashKeyRange } : {}) };
    const result = await this.#replay(this.shardId, lease, { sequenceNumber: lease.checkpoint }, parents, signal);
    if (!result.complete) return;
    this.#engine = result.engine;
    this.#stateId = randomUUID();
    await d.store.deleteShard(this.shardId);
    const checkpoint: ShardCheckpoint = {
      sequenceNumber: lease.checkpoint,
      watermarkMs: result.engine.watermarkMs ?? Number.MIN_SAFE_INTEGER,
      shardEnd: false,
      stateId: this.#stateId,
    };
    await d.store.commitShard(this.shardId, { puts: result.entries, dels: [] }, checkpoint);
    this.#checkpoint = this.#settled = checkpoint;
  }

  /**
   * Replays `shardId` to `until` from its lease's checkpoint time − 60 min − margin. A child
   * shard's state began as its share of its parents' state: while the parents still exist and
   * ended within that window, the share is rebuilt first (local, or by replay in turn) and the
   * child replayed from its beginning; otherwise its own last 60 minutes are all there is.
   */
  async #replay(
    shardId: string,
    lease: Lease,
    until: { sequenceNumber: string } | 'SHARD_END',
    lineage: { parents: string[]; hashKeyRange?: { start: bigint; end: bigint } } | undefined,
    signal: AbortSignal,
  ) {
    const d = this.#deps;
    const at = lease.checkpointAtMs ?? d.now();
    let fromMs: number | undefined = Math.min(at, lease.checkpointWatermarkMs ?? at) - (d.engineConfig.summaryRangeMs ?? 3_600_000) - REBUILD_MARGIN_MS;
    let initial: Array<[string, unknown]> | undefined;
    if (lineage && lineage.parents.length > 0 && d.leaseOf) {
      const parentLeases = await Promise.all(lineage.parents.map((p) => d.leaseOf!(p)));
      if (parentLeases.some((p) => p === undefined || (p.checkpointAtMs ?? Infinity) >= fromMs!)) {
        initial = await this.#parentsState(lineage.parents, signal, lineage.hashKeyRange);
        fromMs = undefined;
      }
    }
    d.log.info({ shardId, from: fromMs === undefined ? 'TRIM_HORIZON' : new Date(fromMs).toISOString(), until, fromParents: initial !== undefined }, 'rebuilding shard state by replay');
    const result = await rebuildEngine({
      kinesis: d.kinesis,
      stream: d.stream,
      shardId,
      ...(fromMs === undefined ? {} : { fromMs }),
      ...(initial ? { initial } : {}),
      until,
      watermarkMs: lease.checkpointWatermarkMs ?? null,
      stolen: d.stolen,
      engineConfig: d.engineConfig,
      maxRecordBytes: d.maxRecordBytes,
      maxClockSkewMs: d.maxClockSkewMs,
      getRecordsLimit: d.getRecordsLimit,
      pollIntervalMs: d.rebuildPollIntervalMs ?? d.pollIntervalMs,
      signal,
      now: d.now,
      // Each replayed batch is progress: a rebuild of an hour of a busy shard takes minutes.
      onBatch: () => this.watch.enter('restore'),
    });
    d.metrics.rebuildDuration.observe(result.durationMs / 1000);
    d.metrics.recordsReplayed.inc(result.replayed);
    d.log.info({ shardId, replayed: result.replayed, seconds: +(result.durationMs / 1000).toFixed(3) }, 'shard state rebuilt');
    return result;
  }

  /** A child's share of its parents' state: their entries for the child's hash-key range. */
  async #parentsState(parents: string[], signal: AbortSignal, range = this.#start.hashKeyRange): Promise<Array<[string, unknown]>> {
    const states: Array<Array<[string, unknown]>> = [];
    for (const parent of parents) states.push(await this.#finishedState(parent, signal));
    return inheritEntries(states, (card) => {
      if (!range) return true;
      const h = hashKeyOf(card);
      return h >= range.start && h <= range.end;
    });
  }

  /** The state a finished shard ended with: local when this worker read it to its end, else replayed. */
  async #finishedState(shardId: string, signal: AbortSignal): Promise<Array<[string, unknown]>> {
    const d = this.#deps;
    const local = await d.store.loadShard(shardId);
    const lease = d.leaseOf ? await d.leaseOf(shardId) : undefined;
    if (local.checkpoint?.shardEnd || !lease) return local.entries;
    return (await this.#replay(shardId, lease, 'SHARD_END', d.shardInfo?.(shardId), signal)).entries;
  }

  #startPosition(): StartPosition {
    const seq = this.#checkpoint?.sequenceNumber;
    if (seq) return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq };
    if ((this.#start.parents ?? []).length > 0) return { type: 'TRIM_HORIZON' };
    return { type: 'AT_TIMESTAMP', timestampMs: this.#deps.now() - this.#deps.startLookbackMs };
  }

  #checkpointNow(sequenceNumber: string | null, shardEnd: boolean): ShardCheckpoint {
    return {
      sequenceNumber: sequenceNumber ?? this.#checkpoint?.sequenceNumber ?? null,
      watermarkMs: this.#engine?.watermarkMs ?? Number.MIN_SAFE_INTEGER,
      shardEnd,
      ...(this.#stateId ? { stateId: this.#stateId } : {}),
    };
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const d = this.#deps;
    const start = this.#startPosition();
    d.log.info({ shardId: this.shardId, start: start.type }, 'reading shard');
    // Aborted when this loop ends for any reason, so a prefetched call never outlives the task.
    const done = new AbortController();
    const reader = new ShardReader(d.kinesis, d.stream, this.shardId, start, {
      signal: AbortSignal.any([signal, done.signal]),
      limit: d.getRecordsLimit,
      minCallIntervalMs: d.pollIntervalMs,
      now: d.monotonic,
      // The next batch is read while this one is processed, emitted and committed.
      prefetch: true,
      onRetry: (info) => {
        if (info.reason === 'unavailable') d.dependencies?.down('kinesis', info.error);
        d.log.warn({ shardId: this.shardId, reason: info.reason, delayMs: info.delayMs, err: info.reason === 'unavailable' ? info.error : undefined }, 'GetRecords retry');
      },
    });
    this.#progressAt = d.monotonic();
    try {
      await this.#read(reader, signal);
    } finally {
      done.abort();
    }
  }

  async #read(reader: ShardReader, signal: AbortSignal): Promise<void> {
    const d = this.#deps;
    const engine = this.#engine!;
    const idleTimeoutMs = engine.config.idleTimeoutMs;
    while (!signal.aborted) {
      this.watch.enter('read');
      const batch = await reader.next();
      d.log.trace({ shardId: this.shardId, records: batch.records.length, behindMs: batch.millisBehindLatest, aborted: signal.aborted }, 'batch read');
      if (signal.aborted && batch.records.length === 0) break;
      this.watch.enter('process');
      d.dependencies?.up('kinesis');
      const now = d.now();
      const mono = d.monotonic();
      this.#millisBehindLatest = batch.millisBehindLatest;
      this.#readAt = mono;

      const rejects: OutputEvent[] = [];
      const republish: RepublishedRecord[] = [];
      const read = new Map<string, number>();
      this.#clockAhead = 0;
      // Once per batch, not per record: the hot loop allocates nothing it can avoid.
      const options: ClassifyOptions = { maxRecordBytes: d.maxRecordBytes, nowMs: now, stolen: d.stolen, maxClockSkewMs: d.maxClockSkewMs };
      const watermarkBefore = engine.watermarkMs;
      let payments = 0;
      for (const record of batch.records) if (this.#take(record, options, rejects, republish, read)) payments++;
      if (payments > 0) read.set('PAYMENT_EVENT', payments);
      // Counted per batch: a labelled counter update per record was a measurable share of the hot path.
      for (const [eventType, count] of read) d.metrics.recordRead(eventType, count);
      if (this.#clockAhead > 0) {
        d.metrics.irregularPayment('clock_ahead', this.#clockAhead);
        d.log.debug({ shardId: this.shardId, payments: this.#clockAhead }, 'payments with a clock ahead of their arrival');
      }
      if (republish.length > 0) d.metrics.irregularPayment('misrouted', republish.length);
      // Idleness is judged on event-time progress, not on records: the processor's own output,
      // rejects and other event types keep arriving on a shard whose payments have stopped.
      if (engine.watermarkMs !== watermarkBefore) this.#progressAt = mono;
      const caughtUp = batch.millisBehindLatest === 0;
      this.#idle = caughtUp && mono - this.#progressAt >= idleTimeoutMs;
      engine.onIdle({ nowMs: now, caughtUp, lastProgressAtMs: now - (mono - this.#progressAt) });
      this.watch.note(batch.millisBehindLatest > 0, engine.holdsAlerts());

      const sequenceNumber = reader.lastSequenceNumber ?? null;
      await this.#emitAndCommit(rejects, republish, sequenceNumber, batch.end, batch.records.length > 0);
      if (batch.end) {
        this.#finished = true;
        d.log.info({ shardId: this.shardId }, 'shard finished (closed by resharding); its children take over');
        return;
      }
    }
  }

  /**
   * Takes one record: true when it is a valid payment of this shard (counted by the caller); a
   * reject goes to `rejects`, a misrouted payment to `republish`, other types are counted in `read`.
   */
  #take(record: _Record, options: ClassifyOptions, rejects: OutputEvent[], republish: RepublishedRecord[], read: Map<string, number>): boolean {
    const c = classifyKinesisRecord(record, options);
    // With the stolen set given, classify says `payment` for a stolen card's payment only.
    switch (c.kind) {
      case 'not_stolen':
        this.#engine!.onNotStolenPayment(c.eventTimeMs);
        return true;
      case 'payment':
        this.#engine!.onPayment(c.event, true, c.eventTimeMs);
        return true;
      case 'skip':
        read.set(c.eventType, (read.get(c.eventType) ?? 0) + 1);
        return false;
      case 'clock_ahead':
        this.#clockAhead++;
        if (c.event) this.#engine!.onClockAheadPayment(c.event, c.eventTimeMs, c.arrivalMs);
        if (c.reject) this.#reject(record, c.reject.reason, c.reject.detail, options.nowMs, rejects);
        return true;
      case 'misrouted':
        republish.push({ data: record.Data!, partitionKey: c.card });
        return false;
      case 'reject':
        this.#reject(record, c.reason, c.detail, options.nowMs, rejects);
        return false;
    }
  }

  #reject(record: _Record, reason: Parameters<typeof rejectedEvent>[2], detail: string, nowMs: number, rejects: OutputEvent[]): void {
    const d = this.#deps;
    d.metrics.recordRejected(reason);
    rejects.push(rejectedEvent(record, this.shardId, reason, detail, nowMs));
    d.log.debug({ shardId: this.shardId, reason, sequenceNumber: record.SequenceNumber }, 'record rejected');
  }

  /**
   * Sends what is due and commits, chunk by chunk (see the commit order at the top). Commits even
   * with nothing to send when records were read, so the checkpoint follows the reads.
   */
  async #emitAndCommit(rejects: OutputEvent[], republish: RepublishedRecord[], sequenceNumber: string | null, shardEnd: boolean, readRecords: boolean): Promise<void> {
    const d = this.#deps;
    const engine = this.#engine!;
    const chunk = d.drainChunk ?? 5_000;
    let first = true;
    do {
      this.watch.enter('process');
      const fireStart = performance.now();
      const emissions: Emission[] = engine.drain(chunk, d.now());
      const fireSeconds = (performance.now() - fireStart) / 1000;
      const out: OutputEvent[] = first ? [...rejects, ...emissions] : emissions;
      const copies = first ? republish : [];
      const changes = engine.takeChanges();
      const dirty = changes.puts.length > 0 || changes.dels.length > 0;
      if (!first && out.length === 0 && !dirty) break;
      if (first && out.length === 0 && copies.length === 0 && !dirty && !readRecords && !shardEnd) return;
      if (emissions.length > 0) d.metrics.windowFireDuration.observe(fireSeconds);
      // The fence: never emit for a shard whose lease another worker may already hold. The
      // producers check it again before every PutRecords attempt, retries included.
      if (d.leases && !d.leases.isSafe(this.shardId)) throw new LeaseLostError(this.shardId, 'lease not renewed in time');
      this.watch.enter('send');
      await this.#send(out, copies);
      this.#count(emissions);
      const last = !engine.hasPendingEmissions();
      this.watch.enter('commit');
      await this.#commit(changes, this.#checkpointNow(sequenceNumber, shardEnd && last), last);
      first = false;
    } while (engine.hasPendingEmissions());
    await this.#checkpointLease(shardEnd);
  }

  /** Output and re-published payments, both acknowledged before the commit that follows. */
  async #send(out: OutputEvent[], copies: RepublishedRecord[]): Promise<void> {
    const { sink } = this.#deps;
    try {
      const moving = () => this.watch.enter('send');
      await Promise.all([sink.emit(out, this.shardId, moving), sink.republish(copies, this.shardId, moving)]);
    } catch (error) {
      if (error instanceof ProducerError && error.code === 'FENCED') throw new LeaseLostError(this.shardId, 'lease no longer safe: output stopped');
      throw error;
    }
  }

  /**
   * Starts writing the changes and the checkpoint (one atomic batch) and returns once the previous
   * commit is durable, not this one: LevelDB writes on its own thread while the next batch is
   * decoded and processed, and commits still land one at a time, in order. The commit order above
   * holds, since a commit only starts after its output was acknowledged; a crash before it lands
   * replays from the previous checkpoint, as it would have. `#checkpoint` is the checkpoint being
   * written; whatever needs it durable (the lease checkpoint, the end of the task) settles first.
   * `drained`: nothing was left to emit at this checkpoint, so a rebuild up to it is this state.
   */
  async #commit(changes: ChangeSet, checkpoint: ShardCheckpoint, drained: boolean): Promise<void> {
    await this.#settleCommit();
    const writing = this.#deps.store.commitShard(this.shardId, changes, checkpoint).then(() => {
      this.watch.committed();
      if (drained) this.#settled = checkpoint;
    });
    // Its failure is thrown by the next #settleCommit, which awaits it; until then it is handled.
    writing.catch(() => {});
    this.#commitInFlight = writing;
    this.#checkpoint = checkpoint;
  }

  /** Waits for the commit in flight, if any; throws its error. */
  async #settleCommit(): Promise<void> {
    const writing = this.#commitInFlight;
    this.#commitInFlight = undefined;
    await writing;
  }

  /**
   * The shared checkpoint follows the local one (never the other way round): at most every
   * leaseCheckpointIntervalMs, always at the shard's end and when the task ends, and only at a
   * commit that landed with nothing left half-drained, so a new owner's replay to it rebuilds
   * exactly this state. It names this state's id, so this worker, restarted, can tell that its
   * own state (at or past the checkpoint) continues it.
   */
  async #checkpointLease(force: boolean): Promise<void> {
    await this.#settleCommit();
    const d = this.#deps;
    const c = this.#settled;
    if (!d.leases || !c) return;
    const now = d.now();
    const mono = d.monotonic();
    if (!force && mono - this.#leaseCheckpointedAt < (d.leaseCheckpointIntervalMs ?? 1_000)) return;
    const sequenceNumber = c.shardEnd ? SHARD_END : c.sequenceNumber;
    if (!sequenceNumber || sequenceNumber === this.#leaseSequence) return;
    try {
      await d.leases.checkpoint(this.shardId, {
        sequenceNumber,
        watermarkMs: c.watermarkMs,
        checkpointAtMs: now,
        ...(c.stateId ? { stateId: c.stateId } : {}),
        // Refused if this worker lost the lease and won it back since this task began.
        ...(this.#start.lease ? { acquiredCounter: this.#start.tenure ?? this.#start.lease.leaseCounter } : {}),
      });
    } catch (error) {
      // DynamoDB not answering (after the lease layer's retries) only delays the shared checkpoint:
      // the next interval tries again, and the fence stops this task if the lease turns unsafe. A
      // refusal (LeaseLostError) and the checkpoints that must land (the shard's end, the task's
      // end) are the caller's to handle.
      if (force || error instanceof LeaseLostError) throw error;
      d.dependencies?.down('lease_table', error);
      d.log.warn({ shardId: this.shardId, err: error }, 'lease checkpoint not written; retrying at the next interval');
      this.#leaseCheckpointedAt = mono;
      return;
    }
    this.#leaseCheckpointedAt = mono;
    this.#leaseSequence = sequenceNumber;
  }

  #count(emissions: readonly Emission[]): void {
    const d = this.#deps;
    const now = d.now();
    let summaries = 0;
    let onTime = 0;
    let late = 0;
    for (const e of emissions) {
      if (e.event_type === 'PAYMENT_ALERT') {
        if (e.data.late) late++;
        else onTime++;
        d.metrics.observeAlertLatency(now, Date.parse(e.data.payment_date_origin));
      } else {
        summaries++;
      }
    }
    // Labelled counters once per chunk, not per alert.
    if (onTime > 0) d.metrics.alertEmitted(false, onTime);
    if (late > 0) d.metrics.alertEmitted(true, late);
    if (summaries > 0) d.metrics.summariesEmitted.inc(summaries);
  }
}

/**
 * Whether this worker's local checkpoint provably continues the lease's, so its state can be used
 * as it is: the lease checkpoint was written from this very line of state (same stateId) and the
 * local state is at or past it (the lease checkpoint only ever follows the local one). A lease
 * checkpoint written before state ids existed is continued only by a local checkpoint equal to it.
 */
export function continuesLease(local: ShardCheckpoint | undefined, lease: Lease): boolean {
  if (!local?.sequenceNumber || !isSequenceNumber(lease.checkpoint)) return false;
  if (lease.checkpointStateId === undefined) return local.sequenceNumber === lease.checkpoint;
  return local.stateId === lease.checkpointStateId && BigInt(local.sequenceNumber) >= BigInt(lease.checkpoint);
}
