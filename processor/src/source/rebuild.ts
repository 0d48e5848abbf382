/**
 * State follows the shard: a worker that gains a shard whose state it does not hold rebuilds it by
 * replaying the shard itself. Kinesis keeps 24 h and the widest window is 60 min, so the records
 * from (checkpoint time − 60 min − margin) up to the checkpoint are enough.
 *
 * The replay runs the same engine over the same records and lets what falls due go without
 * building it (ShardEngine.skipDue): the previous owner emitted all of it before its checkpoint.
 * At the end the watermark is raised to the checkpoint's (the previous owner may have advanced it
 * on the wall clock while idle, which a replay cannot see) and what that makes due goes too. The replay's watermark
 * is never above the previous owner's at the same record, so a payment the previous owner held
 * is held here too, and one it alerted is alerted (and discarded) here: the rebuilt state is the
 * previous owner's state at its checkpoint.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { ShardReader, type StartPosition } from '../../../common/src/shard-reader.js';
import { ShardEngine, type EngineConfig } from '../engine/index.js';
import { inheritEntries } from '../engine/codec.js';
import type { Lease } from '../lease/index.js';
import type { PaymentsMetrics } from '../metrics.js';
import type { StateStore } from '../state/index.js';
import { loadValidSnapshot, restoreValidSnapshot, type PanesToRestore } from '../snapshot/shard-snapshots.js';
import type { S3Snapshots } from '../snapshot/s3-snapshots.js';
import { classifyKinesisRecord, type ClassifyOptions } from './classify.js';
import type { StolenCards } from './stolen-cards.js';
import { ShardCards } from './shard-cards.js';

/** Replay starts this long before (checkpoint time − 60 min): producers' clocks and delivery delay. */
export const REBUILD_MARGIN_MS = 5 * 60_000;

export interface RebuildOptions {
  kinesis: KinesisClient;
  stream: string;
  shardId: string;
  /** Replay from AT_TIMESTAMP this instant (epoch ms); absent: from the shard's beginning. */
  fromMs?: number;
  /** Replay from AFTER_SEQUENCE_NUMBER this record instead (a snapshot's checkpoint; `initial` is its state). */
  afterSequenceNumber?: string;
  /** State to start from (a child's share of its parents' state); absent: empty. */
  initial?: ReadonlyArray<readonly [string, unknown]>;
  /**
   * Or an engine already restored (from a snapshot), with the entries it was restored from as
   * stored: the result's entries are then those plus the replay's changes, never re-serialised.
   */
  restored?: { engine: ShardEngine; stored: ReadonlyArray<readonly [string, Uint8Array]>; later?: PanesToRestore };
  /** Replay up to and including this record, or to the end of a closed shard. */
  until: { sequenceNumber: string } | 'SHARD_END';
  /** The previous owner's watermark at its checkpoint (null: it had none). */
  watermarkMs: number | null;
  stolen: StolenCards;
  engineConfig: Partial<EngineConfig>;
  maxRecordBytes: number;
  maxClockSkewMs?: number;
  getRecordsLimit: number;
  pollIntervalMs: number;
  /** Only records whose partition key passes are replayed (a child keeps its hash range). */
  keep?: (partitionKey: string) => boolean;
  signal?: AbortSignal;
  now?: () => number;
  /** Called after each replayed batch (progress, for the shard's watch). */
  onBatch?: (replayed: number) => void;
}

export interface RebuildResult {
  engine: ShardEngine;
  /**
   * Every state entry of the rebuilt engine (the initial state with the replay's changes applied);
   * none while its panes are still to restore (`later`): the state is whole only after them.
   */
  entries: Array<[string, unknown]>;
  /** Restored from a snapshot with its panes left for later: what the task restores in the background. */
  later?: PanesToRestore;
  replayed: number;
  durationMs: number;
  /** The part of durationMs spent reading and applying records (not restoring or snapshotting state). */
  replayMs: number;
  /** False when aborted before reaching the checkpoint. */
  complete: boolean;
}

/** Replays one shard from `fromMs` (or its beginning) to `until`, letting what falls due go. */
export async function rebuildEngine(o: RebuildOptions): Promise<RebuildResult> {
  const now = o.now ?? Date.now;
  const started = performance.now();
  const engine =
    o.restored?.engine ?? (o.initial ? ShardEngine.restore(o.initial, o.engineConfig, o.stolen) : new ShardEngine(o.engineConfig, undefined, o.stolen));
  const cards = new ShardCards(o.stolen, engine.reported);
  const replayStarted = performance.now();
  const until = o.until === 'SHARD_END' ? undefined : BigInt(o.until.sequenceNumber);
  const start: StartPosition =
    o.afterSequenceNumber !== undefined
      ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: o.afterSequenceNumber }
      : o.fromMs === undefined
        ? { type: 'TRIM_HORIZON' }
        : { type: 'AT_TIMESTAMP', timestampMs: o.fromMs };
  const reader = new ShardReader(o.kinesis, o.stream, o.shardId, start, {
    ...(o.signal ? { signal: o.signal } : {}),
    limit: o.getRecordsLimit,
    minCallIntervalMs: o.pollIntervalMs,
  });
  let replayed = 0;
  let complete = false;
  while (!o.signal?.aborted) {
    const batch = await reader.next();
    const options: ClassifyOptions = {
      maxRecordBytes: o.maxRecordBytes,
      nowMs: now(),
      stolen: cards,
      recent: engine.recent,
      ...(o.maxClockSkewMs === undefined ? {} : { maxClockSkewMs: o.maxClockSkewMs }),
    };
    for (const record of batch.records) {
      if (until !== undefined && BigInt(record.SequenceNumber!) > until) {
        complete = true;
        break;
      }
      if (o.keep && !o.keep(record.PartitionKey ?? '')) continue;
      replayed++;
      // The live task's decisions, made again from the same record: its skew, key and stolen verdicts.
      const c = classifyKinesisRecord(record, options);
      if (c.kind === 'payment') engine.onPayment(c.event, true, c.eventTimeMs);
      else if (c.kind === 'not_stolen') engine.onNotStolenPayment(c.eventTimeMs);
      else if (c.kind === 'clock_ahead' && c.event) engine.onClockAheadPayment(c.event, c.eventTimeMs, c.arrivalMs);
      else if (c.kind === 'status') engine.onStatus(c);
    }
    engine.skipDue();
    o.onBatch?.(replayed);
    const last = batch.records.at(-1)?.SequenceNumber;
    if (until !== undefined && last !== undefined && BigInt(last) >= until) complete = true;
    if (complete || batch.end) {
      complete = true;
      break;
    }
    // Caught up without meeting the checkpoint: the record is gone (trimmed); what is here is all.
    if (batch.records.length === 0 && batch.millisBehindLatest === 0) {
      complete = true;
      break;
    }
  }
  if (o.watermarkMs !== null && complete) {
    const c = engine.config;
    // An idle advance to exactly the checkpoint's watermark: "now − idle lag" = watermarkMs.
    engine.onIdle({ nowMs: o.watermarkMs + c.idleLagMs, caughtUp: true, lastProgressAtMs: Number.MIN_SAFE_INTEGER });
    engine.skipDue();
  }
  const replayMs = performance.now() - replayStarted;
  const timing = { replayed, durationMs: performance.now() - started, replayMs, complete };
  const later = o.restored?.later;
  if (later && engine.panesPending) return { engine, entries: [], later, ...timing };
  return { engine, entries: rebuiltEntries(engine, o.restored?.stored), ...timing };
}

/**
 * The rebuilt state, whole: the engine's entries; or, from a snapshot, its stored entries with the
 * replay's changes applied (a key is either put or deleted in one set of changes).
 */
export function rebuiltEntries(engine: ShardEngine, stored: ReadonlyArray<readonly [string, Uint8Array]> | undefined): Array<[string, unknown]> {
  if (!stored) {
    // Written whole (engine.entries()), so the pending changes are moot.
    engine.discardChanges();
    return [...engine.entries()];
  }
  const state = new Map<string, unknown>(stored);
  const changes = engine.takeChanges();
  for (const key of changes.dels) state.delete(key);
  for (const [key, value] of changes.puts) state.set(key, value);
  return [...state];
}

/** A shard's place among its relatives: its parents that still exist, and its hash-key range. */
export interface Lineage {
  parents: readonly string[];
  hashKeyRange?: HashKeyRange;
}

export interface HashKeyRange {
  start: bigint;
  end: bigint;
}

/**
 * Where a replay up to `lease`'s checkpoint starts: its checkpoint time (or its watermark, if
 * earlier) − the summary range − REBUILD_MARGIN_MS. `nowMs` stands in for a checkpoint time the
 * lease does not have.
 */
export function replayFromMs(lease: Pick<Lease, 'checkpointAtMs' | 'checkpointWatermarkMs'>, nowMs: number, summaryRangeMs = 3_600_000): number {
  const at = lease.checkpointAtMs ?? nowMs;
  return Math.min(at, lease.checkpointWatermarkMs ?? at) - summaryRangeMs - REBUILD_MARGIN_MS;
}

/**
 * Whether a child's replay from `fromMs` must start from its parents' state (and the child's
 * beginning) instead: when a parent's lease is gone or a parent ended within the replayed window,
 * the child's state of then began as its share of its parents' state.
 */
export function replayFromParents(parentLeases: ReadonlyArray<Pick<Lease, 'checkpointAtMs'> | undefined>, fromMs: number): boolean {
  return parentLeases.some((p) => p === undefined || (p.checkpointAtMs ?? Infinity) >= fromMs);
}

export interface ShardRebuilderDeps {
  kinesis: KinesisClient;
  stream: string;
  store: StateStore;
  stolen: StolenCards;
  engineConfig: Partial<EngineConfig>;
  maxRecordBytes: number;
  maxClockSkewMs: number;
  getRecordsLimit: number;
  /** Pause between GetRecords calls while replaying. */
  pollIntervalMs: number;
  now: () => number;
  metrics: PaymentsMetrics;
  log: Logger;
  /** The lease of any shard (a parent's), as the table has it now (ShardTenure.leaseOf). */
  leaseOf: (shardId: string) => Promise<Lease | undefined>;
  /** The lineage of any listed shard, from the last ListShards. */
  shardInfo?: (shardId: string) => Lineage | undefined;
  /** Where shard snapshots are (SNAPSHOT_BUCKET): a replay then starts from the newest valid one. */
  snapshots?: S3Snapshots;
  /** Called after each replayed batch: a rebuild of an hour of a busy shard takes minutes. */
  onProgress: () => void;
}

/**
 * The state one shard task cannot find in its store: rebuilt by replay up to its lease checkpoint,
 * or taken over from its parents. A child's state began as its share of its parents' state, so
 * its replay may need theirs first, rebuilt in turn (locally when this worker read them to their
 * end, else by replaying them to SHARD_END).
 */
export class ShardRebuilder {
  readonly #d: ShardRebuilderDeps;
  readonly #shardId: string;
  readonly #lineage: Lineage;

  constructor(shardId: string, lineage: Lineage, deps: ShardRebuilderDeps) {
    this.#shardId = shardId;
    this.#lineage = lineage;
    this.#d = deps;
  }

  /**
   * Replays the shard up to the lease's checkpoint. `panesLater` (alerts first): restored from a
   * snapshot, the engine comes back with its panes still to restore (`RebuildResult.later`).
   */
  rebuild(lease: Lease, signal: AbortSignal, options: { panesLater?: boolean } = {}): Promise<RebuildResult> {
    return this.#replay(this.#shardId, lease, { sequenceNumber: lease.checkpoint }, this.#lineage, signal, options.panesLater ? 'panes later' : 'stored');
  }

  /** A child's share of its parents' state: their entries for the child's hash-key range. */
  async parentsState(parents: readonly string[], signal: AbortSignal, range = this.#lineage.hashKeyRange): Promise<Array<[string, unknown]>> {
    const states: Array<Array<[string, unknown]>> = [];
    for (const parent of parents) states.push(await this.#finishedState(parent, signal));
    return inheritEntries(
      states,
      (card) => {
        if (!range) return true;
        // The card's hash key, from its card ref's encrypted route (the state holds no card number).
        const h = this.#d.stolen.hashKeyOf(card);
        return h >= range.start && h <= range.end;
      },
      this.#d.stolen,
    );
  }

  /**
   * Replays `shardId` to `until` from the newest snapshot valid for its lease (shard-snapshots.ts),
   * or else from its lease's checkpoint time − 60 min − margin. A child
   * shard's state began as its share of its parents' state: while the parents still exist and
   * ended within that window, the share is rebuilt first (local, or by replay in turn) and the
   * child replayed from its beginning; otherwise its own last 60 minutes are all there is.
   */
  async #replay(
    shardId: string,
    lease: Lease,
    until: { sequenceNumber: string } | 'SHARD_END',
    lineage: Lineage | undefined,
    signal: AbortSignal,
    /**
     * `stored`: the result's entries may hold stored JSON bytes (to commit); `parsed`: values only
     * (to cut for children); `panes later`: as `stored`, from a snapshot with its panes left for later.
     */
    form: 'stored' | 'parsed' | 'panes later' = 'parsed',
  ): Promise<RebuildResult> {
    const d = this.#d;
    const from = d.snapshots ? await this.#fromSnapshot({ ...d, snapshots: d.snapshots }, shardId, lease, form) : undefined;
    if (from) {
      d.log.info(
        { shardId, snapshot: from.afterSequenceNumber, until, entries: from.entries },
        'restoring shard state from a snapshot, then replaying to the lease checkpoint',
      );
      return this.#run(shardId, lease, until, signal, from.start);
    }
    let fromMs: number | undefined = replayFromMs(lease, d.now(), d.engineConfig.summaryRangeMs);
    let initial: Array<[string, unknown]> | undefined;
    if (lineage && lineage.parents.length > 0) {
      const parentLeases = await Promise.all(lineage.parents.map((p) => d.leaseOf(p)));
      if (replayFromParents(parentLeases, fromMs)) {
        initial = await this.parentsState(lineage.parents, signal, lineage.hashKeyRange);
        fromMs = undefined;
      }
    }
    d.log.info(
      { shardId, from: fromMs === undefined ? 'TRIM_HORIZON' : new Date(fromMs).toISOString(), until, fromParents: initial !== undefined },
      'rebuilding shard state by replay',
    );
    return this.#run(shardId, lease, until, signal, { ...(fromMs === undefined ? {} : { fromMs }), ...(initial ? { initial } : {}) });
  }

  /** Where a replay starts from the newest snapshot valid for `lease`, if there is one. */
  async #fromSnapshot(
    d: ShardRebuilderDeps & { snapshots: S3Snapshots },
    shardId: string,
    lease: Lease,
    form: 'stored' | 'parsed' | 'panes later',
  ): Promise<{ afterSequenceNumber: string; entries: number; start: Pick<RebuildOptions, 'afterSequenceNumber' | 'initial' | 'restored'> } | undefined> {
    if (form !== 'parsed') {
      const s = await restoreValidSnapshot(d, shardId, lease, d.engineConfig, d.stolen, { panesLater: form === 'panes later' });
      const at = s?.header.checkpoint.sequenceNumber;
      return s && at ? { afterSequenceNumber: at, entries: s.stored.length, start: { afterSequenceNumber: at, restored: s } } : undefined;
    }
    const s = await loadValidSnapshot(d, shardId, lease);
    const at = s?.header.checkpoint.sequenceNumber;
    return s && at ? { afterSequenceNumber: at, entries: s.entries.length, start: { afterSequenceNumber: at, initial: s.entries } } : undefined;
  }

  async #run(
    shardId: string,
    lease: Lease,
    until: { sequenceNumber: string } | 'SHARD_END',
    signal: AbortSignal,
    start: Pick<RebuildOptions, 'fromMs' | 'afterSequenceNumber' | 'initial' | 'restored'>,
  ): Promise<RebuildResult> {
    const d = this.#d;
    const result = await rebuildEngine({
      kinesis: d.kinesis,
      stream: d.stream,
      shardId,
      ...start,
      until,
      watermarkMs: lease.checkpointWatermarkMs ?? null,
      stolen: d.stolen,
      engineConfig: d.engineConfig,
      maxRecordBytes: d.maxRecordBytes,
      maxClockSkewMs: d.maxClockSkewMs,
      getRecordsLimit: d.getRecordsLimit,
      pollIntervalMs: d.pollIntervalMs,
      signal,
      now: d.now,
      onBatch: () => d.onProgress(),
    });
    d.metrics.rebuildDuration.observe(result.durationMs / 1000);
    d.metrics.recordsReplayed.inc(result.replayed);
    d.log.info({ shardId, replayed: result.replayed, seconds: +(result.durationMs / 1000).toFixed(3) }, 'shard state rebuilt');
    return result;
  }

  /** The state a finished shard ended with: local when this worker read it to its end, else replayed. */
  async #finishedState(shardId: string, signal: AbortSignal): Promise<Array<[string, unknown]>> {
    const d = this.#d;
    const local = await d.store.loadShard(shardId);
    const lease = await d.leaseOf(shardId);
    if (local.checkpoint?.shardEnd || !lease) return local.entries;
    return (await this.#replay(shardId, lease, 'SHARD_END', d.shardInfo?.(shardId), signal)).entries;
  }
}
