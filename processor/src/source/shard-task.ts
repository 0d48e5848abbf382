/**
 * One shard, one task (as in Kafka Streams): it owns the shard's reader, its engine (the shard's
 * stream time, windows and panes) and its checkpoint, and nothing of any other shard.
 *
 * It starts from the state restore.ts decides on, and owns the shard through a ShardTenure
 * (ownership.ts): the fence it checks before every emit, the shared checkpoint it writes.
 *
 * The loop, per GetRecords batch:
 *   1. classify every record (intake.ts); valid payments of this shard go to the engine, bad
 *      records become rejects, payments keyed by something else than their card are re-published
 *      keyed by it, and payments with an untrusted clock are alerted without touching stream time;
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
 *
 * Alerts first: a take-over from a snapshot starts reading with the engine's panes still to
 * restore (pane-restore.ts): alerts go out as usual, nothing is committed, and once the panes are
 * in, the whole state is committed and summaries resume (#whenPanesRestored).
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import type { ShardBatch, StartPosition } from '../../../common/src/shard-reader.js';
import { ProducerError } from '../../../common/src/producer.js';
import type { ShardEngine, EngineConfig, Emission } from '../engine/index.js';
import type { ChangeSet, StateStore, ShardCheckpoint } from '../state/index.js';
import { tallyEmissions, type PaymentsMetrics } from '../metrics.js';
import type { KinesisSink } from '../sink/kinesis-sink.js';
import type { OutputEvent, RepublishedRecord } from '../sink/output.js';
import type { Dependencies } from '../dependencies.js';
import { LeaseLostError } from '../lease/index.js';
import type { ClassifyOptions } from './classify.js';
import { takeRecords } from './intake.js';
import { openShardSource, type ShardSource } from './shard-source.js';
import { assertTransition, type ShardState } from './lifecycle.js';
import { SOLE_TENURE, type ShardTenure } from './ownership.js';
import { ShardRebuilder, type HashKeyRange, type Lineage } from './rebuild.js';
import { restoreShard, warnOfUnlistedPanes } from './restore.js';
import { PaneRestore } from './pane-restore.js';
import type { ShardStatus } from './shard-status.js';
import type { StolenCards } from './stolen-cards.js';
import { ShardCards } from './shard-cards.js';
import { ShardWatch } from './shard-watch.js';
import { ShardSnapshotWriter } from '../snapshot/shard-snapshots.js';
import type { S3Snapshots } from '../snapshot/s3-snapshots.js';

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
  /** Parents (still in the stream) and hash-key range of any shard, from the last ListShards. */
  shardInfo?: (shardId: string) => Lineage | undefined;
  /** The snapshot store (SNAPSHOT_BUCKET; leases only): state written there, and a new owner starts from it. */
  snapshots?: S3Snapshots;
  /** SNAPSHOT_INTERVAL_MS. */
  snapshotIntervalMs?: number;
  /** Read by enhanced fan-out through this consumer (KINESIS_READ); polling when absent. */
  fanOut?: { client: KinesisClient; consumerArn: string };
}

export interface ShardTaskStart {
  shardId: string;
  /** Parent shards that still exist (all finished): a child takes over their state for its range. */
  parents?: string[];
  /** The shard's hash-key range, to keep only its own cards of the parents' state. */
  hashKeyRange?: HashKeyRange;
  /** What owning the shard lets the task do: fence, shared checkpoint (Ownership.tenure). Default: a sole owner's. */
  tenure?: ShardTenure;
  /** The shard's watch, kept across its tasks by the coordinator; a task of its own otherwise. */
  watch?: ShardWatch;
}

/** A reading of MillisBehindLatest older than this makes the estimate grow (see status()). */
const FRESH_READ_MS = 1_000;

export class ShardTask {
  readonly shardId: string;
  readonly watch: ShardWatch;
  #deps: ShardTaskDeps;
  #start: ShardTaskStart;
  #tenure: ShardTenure;
  #state: ShardState = 'CREATED';
  #engine: ShardEngine | undefined;
  #millisBehindLatest = Number.NaN;
  /** Monotonic time of the last successful GetRecords. */
  #readAt = Number.NaN;
  #idle = false;
  /** Monotonic time of the last event-time progress (a payment moved the watermark), or of the start. */
  #progressAt = 0;
  /**
   * The checkpoint being written (the commit in flight) or last written; while panes restore
   * (alerts first), the one the engine is at, not written yet.
   */
  #checkpoint: ShardCheckpoint | undefined;
  /** The last checkpoint that landed with nothing left to drain: what the lease checkpoint may name. */
  #settled: ShardCheckpoint | undefined;
  /** The commit being written while the next batch is processed (see #commit). */
  #commitInFlight: Promise<void> | undefined;
  #finished = false;
  #stateId: string | undefined;
  /** Writes the shard's snapshots (snapshot/shard-snapshots.ts); none without a store or a lease. */
  #snapshots: ShardSnapshotWriter | undefined;
  /** Alerts first: the panes being restored in the background. */
  #panes: PaneRestore | undefined;

  constructor(start: ShardTaskStart, deps: ShardTaskDeps) {
    this.shardId = start.shardId;
    this.#start = start;
    this.#deps = deps;
    this.#tenure = start.tenure ?? SOLE_TENURE;
    this.watch = start.watch ?? new ShardWatch(deps.monotonic);
    const tenure = this.#tenure;
    if (deps.snapshots && tenure.lease) {
      this.#snapshots = new ShardSnapshotWriter(
        start.shardId,
        { ...deps, snapshots: deps.snapshots, intervalMs: deps.snapshotIntervalMs ?? 10_000 },
        { isSafe: () => tenure.stillHeld() !== undefined && tenure.isSafe(), sharedCheckpoint: () => tenure.sharedCheckpoint() },
      );
    }
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
    let lost = false;
    try {
      this.#moveTo('RESTORING');
      this.watch.enter('restore');
      await this.#restore(signal);
      if (this.#finished || signal.aborted) return;
      this.#moveTo('RUNNING');
      await this.#loop(signal);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        lost = true;
        this.#deps.log.warn({ shardId: this.shardId, reason: error.message }, 'lease lost or no longer safe: stopped the shard without emitting further');
        return;
      }
      throw error;
    } finally {
      // A task never ends with its last commit still being written (a restart would read the store
      // under it); a failed commit is logged here and is the task's failure only if nothing else is.
      const settled = await this.#settleCommit().then(
        () => true,
        (err: unknown) => {
          this.#deps.log.warn({ shardId: this.shardId, err }, 'state commit failed while the task was stopping');
          return false;
        },
      );
      // A hand-over replays nothing when the last state is in a snapshot before the lease names it
      // (a state whose panes are still restoring was never committed: nothing to snapshot).
      if (settled && !lost && !this.#engine?.panesPending) await this.#snapshots?.final(this.#checkpoint);
      // However the task ends, the lease checkpoint catches up with the local one, so that this
      // worker (or another) restarting the shard continues from here instead of replaying.
      await this.#shareCheckpoint(true).catch((err: unknown) => {
        if (err instanceof LeaseLostError)
          this.#deps.log.debug({ shardId: this.shardId, reason: err.message }, 'no final lease checkpoint: the lease is not ours');
        else this.#deps.log.warn({ shardId: this.shardId, err }, 'final lease checkpoint not written; the next owner replays from the one before');
      });
      // Everything emitted was awaited, so this only closes the shard's producers.
      await this.#deps.sink.release(this.shardId);
      if (this.#state !== 'CLOSED') this.#moveTo('CLOSED');
    }
  }

  /** Brings the engine to the shard's checkpoint (restore.ts decides from where). */
  async #restore(signal: AbortSignal): Promise<void> {
    const d = this.#deps;
    const lineage: Lineage = {
      parents: this.#start.parents ?? [],
      ...(this.#start.hashKeyRange ? { hashKeyRange: this.#start.hashKeyRange } : {}),
    };
    const rebuilder = new ShardRebuilder(this.shardId, lineage, {
      ...d,
      ...(d.snapshots ? { snapshots: d.snapshots } : {}),
      pollIntervalMs: d.rebuildPollIntervalMs ?? d.pollIntervalMs,
      leaseOf: (shardId) => this.#tenure.leaseOf(shardId),
      // Each replayed batch is progress: a rebuild of an hour of a busy shard takes minutes.
      onProgress: () => this.watch.enter('restore'),
    });
    const restored = await restoreShard(
      { ...d, cards: d.stolen, shardId: this.shardId, lease: this.#tenure.lease, parents: lineage.parents, rebuilder, panesLater: true },
      signal,
    );
    if (restored.kind === 'finished') this.#finished = true;
    if (restored.kind !== 'ready') return;
    this.#engine = restored.engine;
    this.#stateId = restored.stateId;
    this.#checkpoint = restored.checkpoint;
    this.#settled = restored.settled;
    if (restored.later) this.#panes = new PaneRestore(restored.engine, restored.later);
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
    const start = this.#startPosition();
    this.#deps.log.info({ shardId: this.shardId, start: start.type }, 'reading shard');
    // Aborted when this loop ends for any reason, so a prefetched call never outlives the task.
    const done = new AbortController();
    const stop = AbortSignal.any([signal, done.signal]);
    const reader = openShardSource(this.#deps, this.shardId, start, stop);
    this.#progressAt = this.#deps.monotonic();
    this.#panes?.start(stop);
    try {
      await this.#read(reader, signal);
    } finally {
      done.abort();
    }
  }

  async #read(reader: ShardSource, signal: AbortSignal): Promise<void> {
    const d = this.#deps;
    const engine = this.#engine!;
    const idleTimeoutMs = engine.config.idleTimeoutMs;
    // The list and this engine's reported cards: what the hot path asks "stolen?" about.
    const cards = new ShardCards(d.stolen, engine.reported);
    while (!signal.aborted) {
      this.watch.enter('read');
      // Dropped before the output's round trip below (see there).
      let batch: ShardBatch | undefined = await reader.next();
      d.log.trace({ shardId: this.shardId, records: batch.records.length, behindMs: batch.millisBehindLatest, aborted: signal.aborted }, 'batch read');
      if (signal.aborted && batch.records.length === 0) break;
      // A shard's end is checkpointed with the whole state: the panes first (unless stopping).
      if (batch.end) await this.#whenPanesRestored(true);
      if (batch.end && engine.panesPending) break;
      this.watch.enter('process');
      d.dependencies?.up('kinesis');
      const now = d.now();
      const mono = d.monotonic();
      this.#millisBehindLatest = batch.millisBehindLatest;
      this.#readAt = mono;

      const options: ClassifyOptions = { maxRecordBytes: d.maxRecordBytes, nowMs: now, stolen: cards, recent: engine.recent, maxClockSkewMs: d.maxClockSkewMs };
      const watermarkBefore = engine.watermarkMs;
      const { rejects, republish } = takeRecords(batch.records, { shardId: this.shardId, engine, options, metrics: d.metrics, log: d.log });
      // Idleness is judged on event-time progress, not on records: the processor's own output,
      // rejects and other event types keep arriving on a shard whose payments have stopped.
      if (engine.watermarkMs !== watermarkBefore) this.#progressAt = mono;
      const caughtUp = batch.millisBehindLatest === 0;
      this.#idle = caughtUp && mono - this.#progressAt >= idleTimeoutMs;
      engine.onIdle({ nowMs: now, caughtUp, lastProgressAtMs: now - (mono - this.#progressAt) });
      this.watch.note(batch.millisBehindLatest > 0, engine.holdsAlerts());

      const sequenceNumber = reader.lastSequenceNumber ?? null;
      const { end } = batch;
      const readRecords = batch.records.length > 0;
      // Taken in whole: its records are garbage from here. A suspended async frame keeps even a
      // dead local, so without this the batch (up to 10 000 records, 10 MiB) stayed in memory
      // through the output's round trip and the commit, which under throttling last minutes,
      // and was copied into the old generation on the way (test: shard-task-memory.test.ts).
      batch = undefined;
      await this.#emitAndCommit(rejects, republish, sequenceNumber, end, readRecords);
      await this.#whenPanesRestored(false);
      if (end) {
        this.#finished = true;
        d.log.info({ shardId: this.shardId }, 'shard finished (closed by resharding); its children take over');
        return;
      }
    }
  }

  /**
   * Sends what is due and commits, chunk by chunk (see the commit order at the top). Commits even
   * with nothing to send when records were read, so the checkpoint follows the reads.
   */
  async #emitAndCommit(
    rejects: OutputEvent[],
    republish: RepublishedRecord[],
    sequenceNumber: string | null,
    shardEnd: boolean,
    readRecords: boolean,
  ): Promise<void> {
    const d = this.#deps;
    const engine = this.#engine!;
    const chunk = d.drainChunk ?? 5_000;
    let first = true;
    do {
      this.watch.enter('process');
      const fireStart = performance.now();
      let emissions: Emission[] | undefined = engine.drain(chunk, d.now());
      const fireSeconds = (performance.now() - fireStart) / 1000;
      let out: OutputEvent[] | undefined = first ? [...rejects, ...emissions] : emissions;
      const copies = first ? republish : [];
      // Panes still restoring: alerts go out, nothing is committed (see #whenPanesRestored).
      const whole = !engine.panesPending;
      const changes = whole ? engine.takeChanges() : { puts: [], dels: [] };
      const dirty = changes.puts.length > 0 || changes.dels.length > 0;
      if (!first && out.length === 0 && !dirty) break;
      if (first && out.length === 0 && copies.length === 0 && !dirty && !readRecords && !shardEnd) return;
      if (emissions.length > 0) d.metrics.windowFireDuration.observe(fireSeconds);
      // The fence: never emit for a shard whose lease another worker may already hold. The
      // producers check it again before every PutRecords attempt, retries included.
      if (!this.#tenure.isSafe()) throw new LeaseLostError(this.shardId, 'lease not renewed in time');
      this.watch.enter('send');
      const tally = tallyEmissions(emissions);
      const sending = this.#send(out, copies);
      // Encoded and handed to the producer (as bytes): the events are garbage during the round
      // trip, as the batch is in #read.
      emissions = out = undefined;
      await sending;
      d.metrics.emissionsSent(tally, d.now());
      const last = !engine.hasPendingEmissions();
      const checkpoint = this.#checkpointNow(sequenceNumber, shardEnd && last);
      this.watch.enter('commit');
      if (whole) await this.#commit(changes, checkpoint, last);
      else this.#checkpoint = checkpoint;
      first = false;
    } while (engine.hasPendingEmissions());
    if (!engine.panesPending) await this.#shareCheckpoint(shardEnd);
  }

  /**
   * Alerts first: once the background restore has every pane in (or after waiting for it, `wait`),
   * makes the engine whole and commits the state for the first time, in place of whatever the
   * store held: the snapshot as stored with every change since on top, at the checkpoint the
   * engine is at (all its output was acknowledged). Summaries due meanwhile go out right after.
   * A pane group refused fails the task; the snapshot is not offered again by this process.
   */
  async #whenPanesRestored(wait: boolean): Promise<void> {
    const panes = this.#panes;
    if (!panes) return;
    const d = this.#deps;
    const ready = await panes.ready(wait).catch((err: unknown) => {
      d.snapshots?.refuse(panes.snapshotKey);
      d.metrics.snapshotRestores.inc({ result: 'invalid' });
      throw err;
    });
    if (!ready) return;
    this.#panes = undefined;
    const state = panes.finish();
    warnOfUnlistedPanes(d.log, this.shardId, this.#engine!);
    await this.#settleCommit();
    await d.store.deleteShard(this.shardId);
    await this.#commit({ puts: state, dels: [] }, this.#checkpointNow(null, false), !this.#engine!.hasPendingEmissions());
    d.log.info({ shardId: this.shardId, paneGroups: panes.groups, seconds: panes.seconds }, 'panes restored: state whole and committed, summaries resume');
    await this.#emitAndCommit([], [], null, false, false);
  }

  /**
   * Output and re-published payments, both acknowledged before the commit that follows. Not
   * async: the events are encoded now, and no suspended frame keeps them.
   */
  #send(out: OutputEvent[], copies: RepublishedRecord[]): Promise<void> {
    const { sink } = this.#deps;
    const moving = () => this.watch.enter('send');
    return this.#acknowledged(Promise.all([sink.emit(out, this.shardId, moving), sink.republish(copies, this.shardId, moving)]));
  }

  async #acknowledged(sends: Promise<unknown>): Promise<void> {
    try {
      await sends;
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
      // In this tick: the next commit starts only once this callback ran (#settleCommit).
      this.#snapshots?.afterCommit(checkpoint, changes.puts.length + changes.dels.length > 0);
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
   * The shared checkpoint (the lease's, ShardTenure.checkpoint) follows the local one, from the
   * last commit that landed with nothing left to drain; `force` at the shard's end and the task's.
   */
  async #shareCheckpoint(force: boolean): Promise<void> {
    await this.#settleCommit();
    if (this.#settled) await this.#tenure.checkpoint(this.#settled, force);
  }
}
