/**
 * Snapshots of one shard's state: written while its task runs, read by the next owner.
 *
 * Writing: after a commit lands, at most every SNAPSHOT_INTERVAL_MS and one at a time, the state
 * store exports the shard as that commit left it (a LevelDB snapshot: later commits do not show),
 * and the export is uploaded in the background; the task never waits for it. When the task ends
 * (release, shutdown, the shard's end) one more is written at its last checkpoint, before the final
 * lease checkpoint, so that a graceful hand-over replays nothing.
 *
 * Which snapshot a new owner may use — the fence. The lease names the line of state (`stateId`)
 * and the checkpoint C its owner last shared, and only the lease's owner can write them (DynamoDB
 * conditional writes). A snapshot is valid for that lease iff it is of the same line and at or
 * before C; the newest valid one is restored and the shard replayed from it up to C, nothing
 * emitted (rebuild.ts). A stale owner's later snapshots are past C or of a line the lease no longer
 * names, so they are never used, whatever their age.
 *
 * Cleaning up: after each write, the line's snapshots older than the newest one at or before the
 * lease checkpoint this task shared are deleted, and, once the lease names this task's line and
 * the lease is safe, every other line's. The bucket's lifecycle rule removes what a crash leaves.
 */
import type { Logger } from 'pino';
import { SHARD_END, type Lease } from '../lease/index.js';
import type { PaymentsMetrics } from '../metrics.js';
import type { ShardCheckpoint, ShardExport, StateStore } from '../state/index.js';
import type { Readable } from 'node:stream';
import { PANE_KEY_PREFIX, ShardEngine, type CardDirectory, type EngineConfig } from '../engine/index.js';
import { decodeSnapshot, encodeSnapshot, readSnapshot, snapshotHeader, type SnapshotHeader, type SnapshotRef } from './format.js';
import type { S3Snapshots } from './s3-snapshots.js';

export interface SnapshotDeps {
  snapshots: S3Snapshots;
  store: StateStore;
  stream: string;
  /** SNAPSHOT_INTERVAL_MS: the least time between two snapshots of one shard. */
  intervalMs: number;
  now: () => number;
  monotonic: () => number;
  log: Logger;
  metrics: PaymentsMetrics;
}

/** What the writer needs of the shard's tenure (ownership.ts). */
export interface SnapshotFence {
  /** The lease is ours and renewed in time. */
  isSafe(): boolean;
  /** The lease checkpoint this tenure last wrote (so the lease names this task's line), if any. */
  sharedCheckpoint(): string | undefined;
}

const bySequence = (a: SnapshotRef, b: SnapshotRef): number => {
  const x = BigInt(a.sequenceNumber);
  const y = BigInt(b.sequenceNumber);
  return x < y ? -1 : x > y ? 1 : 0;
};

export class ShardSnapshotWriter {
  readonly #shardId: string;
  readonly #d: SnapshotDeps;
  readonly #fence: SnapshotFence;
  #inFlight: Promise<void> | undefined;
  #startedAt = Number.NEGATIVE_INFINITY;
  /** The newest snapshot this writer wrote. */
  #newest: SnapshotRef | undefined;
  /**
   * The state changed since the last snapshot started. True at first: a task's line of state (new
   * after a restore) needs a snapshot of its own before a new owner can use one.
   */
  #changed = true;

  constructor(shardId: string, deps: SnapshotDeps, fence: SnapshotFence) {
    this.#shardId = shardId;
    this.#d = deps;
    this.#fence = fence;
  }

  /** The newest snapshot written by this task (for tests and the log). */
  get newest(): SnapshotRef | undefined {
    return this.#newest;
  }

  /**
   * Call right after a commit landed, in the same tick (nothing else may commit in between): starts
   * a snapshot of that state when one is due and none is being written. `changed`: the commit put
   * or deleted state (an idle shard's commits only move the checkpoint: no snapshot for them, a
   * snapshot rewrites the whole state). Never throws.
   */
  afterCommit(checkpoint: ShardCheckpoint, changed = true): void {
    this.#changed ||= changed;
    const mono = this.#d.monotonic();
    if (this.#inFlight || !this.#changed || mono - this.#startedAt < this.#d.intervalMs || !checkpoint.sequenceNumber || !checkpoint.stateId) return;
    this.#startedAt = mono;
    this.#changed = false;
    const exported = this.#d.store.exportShard(this.#shardId);
    this.#inFlight = this.#write(exported).finally(() => (this.#inFlight = undefined));
  }

  /**
   * At the task's end, after its last commit landed: waits for the snapshot being written, then
   * writes one of the state as it is now unless the newest already is at that checkpoint.
   */
  async final(checkpoint: ShardCheckpoint | undefined): Promise<void> {
    await this.#inFlight;
    if (!checkpoint?.sequenceNumber || !checkpoint.stateId) return;
    if (this.#newest?.sequenceNumber === checkpoint.sequenceNumber && this.#newest.stateId === checkpoint.stateId) return;
    await this.#write(this.#d.store.exportShard(this.#shardId));
  }

  async #write(exporting: Promise<ShardExport>): Promise<void> {
    const d = this.#d;
    const started = performance.now();
    try {
      const exported = await exporting;
      const checkpoint = exported.checkpoint;
      if (!checkpoint?.sequenceNumber || !checkpoint.stateId) return;
      const header = snapshotHeader(d.stream, this.#shardId, checkpoint, d.now());
      const { body, entries } = await encodeSnapshot(header, exported.entries);
      const ref = await d.snapshots.put(header, body);
      this.#newest = ref;
      const seconds = (performance.now() - started) / 1000;
      d.metrics.snapshotsWritten.inc({ result: 'written' });
      d.metrics.snapshotWriteDuration.observe(seconds);
      d.metrics.snapshotBytes.inc(body.length);
      d.log.debug({ shardId: this.#shardId, key: ref.key, entries, bytes: body.length, seconds: +seconds.toFixed(3) }, 'state snapshot written');
    } catch (err) {
      // The next commit tries again, whatever it changed.
      this.#changed = true;
      // A snapshot not written only makes the next take-over replay more; the task goes on. The
      // counter (and the age of the newest snapshot, in the log) is how an operator sees it.
      d.metrics.snapshotsWritten.inc({ result: 'failed' });
      d.log.warn({ shardId: this.#shardId, err }, 'state snapshot not written; a take-over replays from the previous one');
      return;
    }
    // Spare snapshots left behind cost storage only: the next write, or the lifecycle rule, removes them.
    await this.#prune(this.#newest!).catch((err: unknown) =>
      d.log.warn({ shardId: this.#shardId, err }, 'spare snapshots not deleted; retried after the next one'),
    );
  }

  async #prune(written: SnapshotRef): Promise<void> {
    const shared = this.#fence.sharedCheckpoint();
    if (shared === undefined) return;
    const all = await this.#d.snapshots.list(this.#shardId);
    const mine = all.filter((r) => r.stateId === written.stateId).sort(bySequence);
    // The newest snapshot a new owner may use now; everything of this line before it is spare.
    const limit = shared === SHARD_END ? undefined : BigInt(shared);
    const usable = mine.filter((r) => limit === undefined || BigInt(r.sequenceNumber) <= limit).at(-1);
    const spare = usable ? mine.filter((r) => bySequence(r, usable) < 0) : [];
    // The lease names this line, so no other line's snapshot can be used again (unless this task
    // is a stale owner, which isSafe rules out up to the lease layer's margin).
    const others = this.#fence.isSafe() ? all.filter((r) => r.stateId !== written.stateId) : [];
    if (spare.length + others.length > 0) await this.#d.snapshots.delete([...spare, ...others]);
  }
}

/**
 * The newest snapshot valid for `lease` (see the fence above), read and checked by `read`;
 * undefined when there is none or none can be read (each refusal is logged and counted, and an
 * older one tried).
 */
async function readNewestValid<T>(
  d: Pick<SnapshotDeps, 'snapshots' | 'log' | 'metrics'>,
  shardId: string,
  lease: Pick<Lease, 'checkpoint' | 'checkpointStateId'>,
  read: (ref: SnapshotRef, body: Readable) => Promise<T>,
): Promise<T | undefined> {
  const stateId = lease.checkpointStateId;
  if (!stateId || !lease.checkpoint) return undefined;
  let refs: SnapshotRef[];
  try {
    refs = await d.snapshots.list(shardId, stateId);
  } catch (err) {
    d.log.warn({ shardId, err }, 'snapshots could not be listed; replaying instead');
    d.metrics.snapshotRestores.inc({ result: 'unreadable' });
    return undefined;
  }
  const limit = lease.checkpoint === SHARD_END ? undefined : BigInt(lease.checkpoint);
  const candidates = refs.filter((r) => (limit === undefined || BigInt(r.sequenceNumber) <= limit) && !d.snapshots.isRefused(r.key)).sort(bySequence);
  for (const ref of candidates.reverse()) {
    try {
      const result = await read(ref, await d.snapshots.open(ref));
      d.metrics.snapshotRestores.inc({ result: 'used' });
      return result;
    } catch (err) {
      d.metrics.snapshotRestores.inc({ result: 'invalid' });
      d.log.warn({ shardId, key: ref.key, err }, 'snapshot refused; trying an older one');
    }
  }
  return undefined;
}

/** The newest valid snapshot's entries, parsed (a parent's state, cut for its children). */
export function loadValidSnapshot(
  d: Pick<SnapshotDeps, 'snapshots' | 'log' | 'metrics'>,
  shardId: string,
  lease: Pick<Lease, 'checkpoint' | 'checkpointStateId'>,
): Promise<{ header: SnapshotHeader; entries: Array<[string, unknown]> } | undefined> {
  return readNewestValid(d, shardId, lease, decodeSnapshot);
}

/** An engine restored from a snapshot whose panes are still to restore (alerts first; source/pane-restore.ts). */
export interface PanesToRestore {
  /** The snapshot's pane groups, as stored, not yet parsed nor restored (`engine.restorePanes`). */
  panes: ReadonlyArray<readonly [string, Uint8Array]>;
  /** Every entry of the snapshot as stored (the panes among them): the state, with the engine's changes on top. */
  stored: ReadonlyArray<readonly [string, Uint8Array]>;
  /** The snapshot's object key, for errors. */
  snapshotKey: string;
}

/** A shard's engine restored from a snapshot, and the snapshot's entries as stored, to commit as they are. */
export interface RestoredSnapshot {
  header: SnapshotHeader;
  engine: ShardEngine;
  /** Every entry with its value as the JSON bytes the snapshot holds (a ChangeSet takes them as they are). */
  stored: Array<[string, Uint8Array]>;
  /** With `panesLater`: the panes the engine still has to take. */
  later?: PanesToRestore;
}

/**
 * The newest valid snapshot, streamed into an engine as it is read (the engine refusing an entry
 * refuses the snapshot). Committing its stored JSON as it is, rather than serialising the restored
 * engine again, took a restore of 100 000 active cards from 5.6–6.7 s to 3.7–4.4 s (bench "snapshot").
 * `panesLater` (alerts first): the pane groups, nearly all of the bytes, are neither parsed nor
 * restored here but returned for the engine to take later (`later`).
 */
export function restoreValidSnapshot(
  d: Pick<SnapshotDeps, 'snapshots' | 'log' | 'metrics'>,
  shardId: string,
  lease: Pick<Lease, 'checkpoint' | 'checkpointStateId'>,
  engineConfig: Partial<EngineConfig>,
  cards: CardDirectory,
  options: { panesLater?: boolean } = {},
): Promise<RestoredSnapshot | undefined> {
  const panesLater = options.panesLater === true;
  return readNewestValid(d, shardId, lease, async (ref, body) => {
    const restorer = ShardEngine.restorer(engineConfig, cards, { panesLater });
    const stored: Array<[string, Uint8Array]> = [];
    const laterPanes: Array<[string, Uint8Array]> = [];
    const header = await readSnapshot(
      ref,
      body,
      (key, value, bytes) => {
        const entry: [string, Uint8Array] = [key, bytes];
        stored.push(entry);
        if (value === undefined) laterPanes.push(entry);
        else restorer.add(key, value);
      },
      panesLater ? { unparsed: PANE_KEY_PREFIX } : {},
    );
    const later = panesLater ? { later: { panes: laterPanes, stored, snapshotKey: ref.key } } : {};
    return { header, engine: restorer.finish(), stored, ...later };
  });
}
