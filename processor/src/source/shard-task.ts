/**
 * One shard, one task (as in Kafka Streams): it owns the shard's reader, its engine (the shard's
 * stream time, windows and panes) and its checkpoint, and nothing of any other shard.
 *
 * The loop, per GetRecords batch:
 *   1. classify every record; valid payments go to the engine, bad records become rejects;
 *   2. on an empty batch, let the engine advance the watermark by the wall clock if the shard is
 *      idle and caught up;
 *   3. drain what is due (alerts, summaries), in chunks;
 *   4. COMMIT ORDER — the guarantee lives here:
 *        a. the sink gets the chunk and resolves only when Kinesis acknowledged every record;
 *        b. then the engine's state changes and the checkpoint (last sequence number read,
 *           watermark) are written in ONE atomic LevelDB batch.
 *      A crash before (b) replays the batch from the previous checkpoint against the previous
 *      state: the same output again, with the same deterministic ids, and nothing lost. A crash
 *      after (b) loses nothing either, since the output was acknowledged first.
 *      The batch (b) is written while the next GetRecords batch is processed; commits still land
 *      one at a time and in order, and the task never ends with one in flight (see #commit).
 */
import type { KinesisClient, _Record } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { ShardReader, type StartPosition } from '../../../common/src/shard-reader.js';
import { ShardEngine, type EngineConfig, type Emission } from '../engine/index.js';
import type { ChangeSet, StateStore, ShardCheckpoint } from '../state/index.js';
import type { PaymentsMetrics } from '../metrics.js';
import type { KinesisSink, OutputEvent } from '../sink/kinesis-sink.js';
import type { ShardStatus } from '../http/status.js';
import { assertTransition, type ShardState } from './lifecycle.js';
import { classifyRecord, rejectedEvent, type ClassifyOptions } from './classify.js';
import type { StolenCards } from './stolen-cards.js';
import { REBUILD_MARGIN_MS, rebuildEngine } from './rebuild.js';
import { restoreLocalState } from './local-state.js';
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
  now: () => number;
  maxRecordBytes: number;
  /** First start without a checkpoint: AT_TIMESTAMP now − this. */
  startLookbackMs: number;
  getRecordsLimit: number;
  pollIntervalMs: number;
  /** Emissions per sink call and commit, so a watermark jump of hours is sent in pieces. */
  drainChunk?: number;
  /** Pause between GetRecords calls while rebuilding (default: pollIntervalMs). */
  rebuildPollIntervalMs?: number;
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
  /** The lease as won, with the shared checkpoint (lease mode only). */
  lease?: Lease;
}

const isSequenceNumber = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);

export class ShardTask {
  readonly shardId: string;
  #deps: ShardTaskDeps;
  #start: ShardTaskStart;
  #state: ShardState = 'CREATED';
  #engine: ShardEngine | undefined;
  #millisBehindLatest = Number.NaN;
  #idle = false;
  #lastRecordAt = 0;
  #checkpoint: ShardCheckpoint | undefined;
  /** The commit being written while the next batch is processed (see #commit). */
  #commitInFlight: Promise<void> | undefined;
  #finished = false;
  #leaseCheckpointedAt = Number.NEGATIVE_INFINITY;
  #leaseSequence: string | undefined;

  constructor(start: ShardTaskStart, deps: ShardTaskDeps) {
    this.shardId = start.shardId;
    this.#start = start;
    this.#deps = deps;
    deps.metrics.setShardState(this.shardId, 'CREATED');
  }

  get state(): ShardState {
    return this.#state;
  }

  /** True once the shard's end has been read, emitted and checkpointed. */
  get finished(): boolean {
    return this.#finished;
  }

  status(): ShardStatus {
    return {
      shardId: this.shardId,
      state: this.#state,
      watermarkMs: this.#engine?.watermarkMs ?? null,
      idle: this.#idle,
      millisBehindLatest: Number.isNaN(this.#millisBehindLatest) ? 0 : this.#millisBehindLatest,
    };
  }

  #moveTo(next: ShardState): void {
    assertTransition(this.shardId, this.#state, next);
    this.#state = next;
    this.#deps.metrics.setShardState(this.shardId, next);
    this.#deps.log.info({ shardId: this.shardId, state: next }, 'shard state');
  }

  /** Runs until the shard is finished or `signal` aborts; then the task is CLOSED. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      this.#moveTo('RESTORING');
      await this.#restore(signal);
      if (this.#finished || signal.aborted) return;
      this.#moveTo('RUNNING');
      await this.#loop(signal);
      await this.#checkpointLease(true);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.#deps.log.warn({ shardId: this.shardId }, 'lease lost: stopped the shard without emitting further');
        return;
      }
      throw error;
    } finally {
      // A task never ends with its last commit still being written (a restart would read the store
      // under it). On the normal path #checkpointLease has thrown any error of that commit; here
      // the task is already ending on another error or a lost lease, so it is only logged.
      await this.#settleCommit().catch((err: unknown) => this.#deps.log.warn({ shardId: this.shardId, err }, 'state commit failed while the task was stopping'));
      // Everything emitted was awaited, so this only closes the shard's producer.
      await this.#deps.sink.release(this.shardId);
      if (this.#state !== 'CLOSED') this.#moveTo('CLOSED');
    }
  }

  /**
   * Brings the engine to the shard's checkpoint. In order of preference: the local state when it
   * is at the shared (lease) checkpoint; a rebuild by replay when the lease has a checkpoint the
   * local state does not match (a take-over, a lost disk); the parents' state for a child that has
   * never been read; the local state as it is without leases; else an empty engine.
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
      if (this.#checkpoint?.sequenceNumber === lease.checkpoint) {
        this.#engine = (await restoreLocalState(store, this.shardId, cfg)).engine;
        return;
      }
      await this.#rebuild(lease, signal);
      return;
    }
    const local = await restoreLocalState(store, this.shardId, cfg);
    if (local.entries > 0 || this.#checkpoint) {
      this.#engine = local.engine;
      return;
    }
    const parents = this.#start.parents ?? [];
    if (parents.length > 0) {
      const inherited = await this.#parentsState(parents, signal);
      this.#engine = ShardEngine.restore(inherited, cfg);
      // Make the inherited state this shard's own before reading anything.
      await store.commitShard(this.shardId, { puts: inherited, dels: [] }, this.#checkpointNow(null, false));
      log.info({ shardId: this.shardId, parents, entries: inherited.length }, "took over the parents' state");
      return;
    }
    this.#engine = new ShardEngine(cfg);
  }

  /** Replays the shard up to the lease's checkpoint; the rebuilt state replaces the local one. */
  async #rebuild(lease: Lease, signal: AbortSignal): Promise<void> {
    const d = this.#deps;
    const parents = { parents: this.#start.parents ?? [], ...(this.#start.hashKeyRange ? { hashKeyRange: this.#start.hashKeyRange } : {}) };
    const result = await this.#replay(this.shardId, lease, { sequenceNumber: lease.checkpoint }, parents, signal);
    if (!result.complete) return;
    this.#engine = result.engine;
    await d.store.deleteShard(this.shardId);
    const checkpoint: ShardCheckpoint = {
      sequenceNumber: lease.checkpoint,
      watermarkMs: result.engine.watermarkMs ?? Number.MIN_SAFE_INTEGER,
      shardEnd: false,
    };
    await d.store.commitShard(this.shardId, { puts: result.entries, dels: [] }, checkpoint);
    this.#checkpoint = checkpoint;
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
      getRecordsLimit: d.getRecordsLimit,
      pollIntervalMs: d.rebuildPollIntervalMs ?? d.pollIntervalMs,
      signal,
      now: d.now,
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
      now: d.now,
      // The next batch is read while this one is processed, emitted and committed.
      prefetch: true,
      onRetry: (info) =>
        d.log.warn({ shardId: this.shardId, reason: info.reason, delayMs: info.delayMs, err: info.reason === 'unavailable' ? info.error : undefined }, 'GetRecords retry'),
    });
    this.#lastRecordAt = d.now();
    try {
      await this.#read(reader, signal);
    } finally {
      done.abort();
    }
  }

  async #read(reader: ShardReader, signal: AbortSignal): Promise<void> {
    const d = this.#deps;
    const engine = this.#engine!;
    while (!signal.aborted) {
      const batch = await reader.next();
      d.log.trace({ shardId: this.shardId, records: batch.records.length, behindMs: batch.millisBehindLatest, aborted: signal.aborted }, 'batch read');
      if (signal.aborted && batch.records.length === 0) break;
      const now = d.now();
      this.#millisBehindLatest = batch.millisBehindLatest;
      d.metrics.setBehindLatest(this.shardId, batch.millisBehindLatest);

      const rejects: OutputEvent[] = [];
      const read = new Map<string, number>();
      // Once per batch, not per record: the hot loop allocates nothing it can avoid.
      const options: ClassifyOptions = { maxRecordBytes: d.maxRecordBytes, nowMs: now, stolen: d.stolen };
      let payments = 0;
      for (const record of batch.records) if (this.#take(record, options, rejects, read)) payments++;
      if (payments > 0) read.set('PAYMENT_EVENT', payments);
      // Counted per batch: a labelled counter update per record was a measurable share of the hot path.
      for (const [eventType, count] of read) d.metrics.recordRead(eventType, count);
      if (batch.records.length > 0) {
        this.#lastRecordAt = now;
        this.#idle = false;
      } else {
        this.#idle = batch.millisBehindLatest === 0;
        engine.onIdle({ nowMs: now, caughtUp: batch.millisBehindLatest === 0, lastRecordAtMs: this.#lastRecordAt });
      }
      const wm = engine.watermarkMs;
      if (wm !== null) d.metrics.setWatermarkLag(this.shardId, wm, now);

      const sequenceNumber = reader.lastSequenceNumber ?? null;
      await this.#emitAndCommit(rejects, sequenceNumber, batch.end, batch.records.length > 0);
      if (batch.end) {
        this.#finished = true;
        d.log.info({ shardId: this.shardId }, 'shard finished (closed by resharding); its children take over');
        return;
      }
    }
  }

  /** One record: a payment to the engine, a reject to `rejects`, its event type counted in `read`. */
  /** Takes one record: true when it is a valid payment (counted by the caller); other types counted in `read`. */
  #take(record: _Record, options: ClassifyOptions, rejects: OutputEvent[], read: Map<string, number>): boolean {
    const c = classifyRecord(record.Data ?? new Uint8Array(), options);
    // With the stolen set given, classify says `payment` for a stolen card's payment only.
    if (c.kind === 'not_stolen') {
      this.#engine!.onNotStolenPayment(c.eventTimeMs);
      return true;
    }
    if (c.kind === 'payment') {
      this.#engine!.onPayment(c.event, true, c.eventTimeMs);
      return true;
    }
    if (c.kind === 'skip') {
      read.set(c.eventType, (read.get(c.eventType) ?? 0) + 1);
      return false;
    }
    const d = this.#deps;
    d.metrics.recordRejected(c.reason);
    rejects.push(rejectedEvent(record, this.shardId, c.reason, c.detail, options.nowMs));
    d.log.debug({ shardId: this.shardId, reason: c.reason, sequenceNumber: record.SequenceNumber }, 'record rejected');
    return false;
  }

  /**
   * Sends what is due and commits, chunk by chunk (see the commit order at the top). Commits even
   * with nothing to send when records were read, so the checkpoint follows the reads.
   */
  async #emitAndCommit(rejects: OutputEvent[], sequenceNumber: string | null, shardEnd: boolean, readRecords: boolean): Promise<void> {
    const d = this.#deps;
    const engine = this.#engine!;
    const chunk = d.drainChunk ?? 5_000;
    let first = true;
    do {
      const fireStart = performance.now();
      const emissions: Emission[] = engine.drain(chunk, d.now());
      const fireSeconds = (performance.now() - fireStart) / 1000;
      const out: OutputEvent[] = first ? [...rejects, ...emissions] : emissions;
      const changes = engine.takeChanges();
      const dirty = changes.puts.length > 0 || changes.dels.length > 0;
      if (!first && out.length === 0 && !dirty) break;
      if (first && out.length === 0 && !dirty && !readRecords && !shardEnd) return;
      if (emissions.length > 0) d.metrics.windowFireDuration.observe(fireSeconds);
      // The fence: never emit for a shard whose lease another worker may already hold.
      if (d.leases && !d.leases.isSafe(this.shardId)) throw new LeaseLostError(this.shardId, 'lease not renewed in time');
      await d.sink.emit(out, this.shardId);
      this.#count(emissions);
      const last = !engine.hasPendingEmissions();
      await this.#commit(changes, this.#checkpointNow(sequenceNumber, shardEnd && last));
      first = false;
    } while (engine.hasPendingEmissions());
    await this.#checkpointLease(shardEnd);
  }

  /**
   * Starts writing the changes and the checkpoint (one atomic batch) and returns once the previous
   * commit is durable, not this one: LevelDB writes on its own thread while the next batch is
   * decoded and processed, and commits still land one at a time, in order. The commit order above
   * holds, since a commit only starts after its output was acknowledged; a crash before it lands
   * replays from the previous checkpoint, as it would have. `#checkpoint` is the checkpoint being
   * written; whatever needs it durable (the lease checkpoint, the end of the task) settles first.
   */
  async #commit(changes: ChangeSet, checkpoint: ShardCheckpoint): Promise<void> {
    await this.#settleCommit();
    const writing = this.#deps.store.commitShard(this.shardId, changes, checkpoint);
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
   * leaseCheckpointIntervalMs, always at the shard's end and on shutdown, and only when nothing is
   * left half-drained, so a new owner's replay to it rebuilds exactly this state.
   */
  async #checkpointLease(force: boolean): Promise<void> {
    await this.#settleCommit();
    const d = this.#deps;
    const c = this.#checkpoint;
    if (!d.leases || !c || !this.#engine || this.#engine.hasPendingEmissions()) return;
    const now = d.now();
    if (!force && now - this.#leaseCheckpointedAt < (d.leaseCheckpointIntervalMs ?? 1_000)) return;
    const sequenceNumber = c.shardEnd ? SHARD_END : c.sequenceNumber;
    if (!sequenceNumber || sequenceNumber === this.#leaseSequence) return;
    await d.leases.checkpoint(this.shardId, {
      sequenceNumber,
      watermarkMs: c.watermarkMs,
      checkpointAtMs: now,
      // Refused if this worker lost the lease and won it back since this task began.
      ...(this.#start.lease ? { acquiredCounter: this.#start.lease.leaseCounter } : {}),
    });
    this.#leaseCheckpointedAt = now;
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
