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
 */
import type { KinesisClient, _Record } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { ShardReader, type StartPosition } from '../../../common/src/shard-reader.js';
import { ShardEngine, type EngineConfig, type Emission } from '../engine/index.js';
import type { StateStore, ShardCheckpoint } from '../state/index.js';
import type { PaymentsMetrics } from '../metrics.js';
import type { KinesisSink, OutputEvent } from '../sink/kinesis-sink.js';
import type { ShardStatus } from '../http/status.js';
import { assertTransition, type ShardState } from './lifecycle.js';
import { classifyRecord, rejectedEvent } from './classify.js';

export interface ShardTaskDeps {
  kinesis: KinesisClient;
  stream: string;
  store: StateStore;
  sink: KinesisSink;
  stolen: ReadonlySet<string>;
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
}

export interface ShardTaskStart {
  shardId: string;
  /** Entries taken over from finished parent shards, for a child shard without state of its own. */
  inherited?: Array<[string, unknown]>;
  /** True when the shard has finished parents: it starts at its beginning, not at the lookback. */
  hasParents?: boolean;
}

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
  #finished = false;

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
    const { store, log } = this.#deps;
    try {
      this.#moveTo('RESTORING');
      const loaded = await store.loadShard(this.shardId);
      this.#checkpoint = loaded.checkpoint;
      const cfg = this.#deps.engineConfig;
      if (loaded.entries.length > 0) {
        this.#engine = ShardEngine.restore(loaded.entries, cfg);
      } else if (this.#start.inherited && this.#start.inherited.length > 0) {
        this.#engine = ShardEngine.restore(this.#start.inherited, cfg);
        // Make the inherited state this shard's own before reading anything.
        await store.commitShard(this.shardId, { puts: this.#start.inherited, dels: [] }, this.#checkpointNow(null, false));
        log.info({ shardId: this.shardId, entries: this.#start.inherited.length }, 'took over the parents\' state');
      } else {
        this.#engine = new ShardEngine(cfg);
      }
      if (this.#checkpoint?.shardEnd) {
        this.#finished = true;
        return;
      }
      this.#moveTo('RUNNING');
      await this.#loop(signal);
    } finally {
      if (this.#state !== 'CLOSED') this.#moveTo('CLOSED');
    }
  }

  #startPosition(): StartPosition {
    const seq = this.#checkpoint?.sequenceNumber;
    if (seq) return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: seq };
    if (this.#start.hasParents) return { type: 'TRIM_HORIZON' };
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
    const engine = this.#engine!;
    const start = this.#startPosition();
    d.log.info({ shardId: this.shardId, start: start.type }, 'reading shard');
    const reader = new ShardReader(d.kinesis, d.stream, this.shardId, start, {
      signal,
      limit: d.getRecordsLimit,
      minCallIntervalMs: d.pollIntervalMs,
      now: d.now,
      onRetry: (info) =>
        d.log.warn({ shardId: this.shardId, reason: info.reason, delayMs: info.delayMs, err: info.reason === 'unavailable' ? info.error : undefined }, 'GetRecords retry'),
    });
    this.#lastRecordAt = d.now();

    while (!signal.aborted) {
      const batch = await reader.next();
      if (signal.aborted && batch.records.length === 0) break;
      const now = d.now();
      this.#millisBehindLatest = batch.millisBehindLatest;
      d.metrics.setBehindLatest(this.shardId, batch.millisBehindLatest);

      const rejects: OutputEvent[] = [];
      for (const record of batch.records) this.#take(record, now, rejects);
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

  #take(record: _Record, now: number, rejects: OutputEvent[]): void {
    const d = this.#deps;
    const data = record.Data ?? new Uint8Array();
    const c = classifyRecord(data, { maxRecordBytes: d.maxRecordBytes, nowMs: now });
    if (c.kind === 'reject') {
      d.metrics.recordRejected(c.reason);
      rejects.push(rejectedEvent(record, this.shardId, c.reason, c.detail, now));
      d.log.debug({ shardId: this.shardId, reason: c.reason, sequenceNumber: record.SequenceNumber }, 'record rejected');
      return;
    }
    if (c.kind === 'skip') {
      d.metrics.recordRead(c.eventType);
      return;
    }
    d.metrics.recordRead('PAYMENT_EVENT');
    this.#engine!.onPayment(c.event, d.stolen.has(c.event.data.card_number));
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
      await d.sink.emit(out);
      this.#count(emissions);
      const last = !engine.hasPendingEmissions();
      const checkpoint = this.#checkpointNow(sequenceNumber, shardEnd && last);
      await d.store.commitShard(this.shardId, changes, checkpoint);
      this.#checkpoint = checkpoint;
      first = false;
    } while (engine.hasPendingEmissions());
  }

  #count(emissions: readonly Emission[]): void {
    const d = this.#deps;
    const now = d.now();
    let summaries = 0;
    for (const e of emissions) {
      if (e.event_type === 'PAYMENT_ALERT') {
        d.metrics.alertEmitted(e.data.late);
        d.metrics.observeAlertLatency(now, Date.parse(e.data.payment_date_origin));
      } else {
        summaries++;
      }
    }
    if (summaries > 0) d.metrics.summariesEmitted.inc(summaries);
  }
}
