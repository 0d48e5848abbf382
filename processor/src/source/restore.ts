/**
 * Where a shard task's state comes from when it starts: decided by `decideRestore`, a pure function
 * of what the store holds, the lease's shared checkpoint and the shard's parents, and carried out
 * by `restoreShard`. In order of preference:
 *
 * 1. finished: the lease is at SHARD_END (or, with nothing shared, the local checkpoint is);
 * 2. reuse: the local state provably continues the lease checkpoint (`continuesLease`): no replay;
 * 3. rebuild: the lease has a checkpoint the local state does not continue (a take-over, a lost
 *    disk): replay up to it (rebuild.ts), the rebuilt state replacing the local one;
 * 4. local: no lease checkpoint to follow (nothing shared, or a lease never checkpointed): the
 *    store's state as it is, if it holds any;
 * 5. inherit: a child never read takes over its parents' state for its hash-key range;
 * 6. empty: a new engine.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ShardEngine, type CardDirectory, type EngineConfig } from '../engine/index.js';
import { SHARD_END, type Lease } from '../lease/index.js';
import type { ShardCheckpoint, StateStore } from '../state/index.js';
import { restoreLocalState } from './local-state.js';
import type { PanesToRestore } from '../snapshot/shard-snapshots.js';
import type { ShardRebuilder } from './rebuild.js';

const isSequenceNumber = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);

/** What the restore is decided on. */
export interface RestoreFacts {
  /** What the store holds of the shard: its checkpoint, or without one whether it holds any entry. */
  stored: ShardCheckpoint | 'entries' | 'nothing';
  /** The shard's lease as taken, with the shared checkpoint; undefined when nothing is shared. */
  lease: Pick<Lease, 'checkpoint' | 'checkpointStateId'> | undefined;
  /** The shard's parents that still exist (all finished). */
  parents: readonly string[];
}

export type RestoreDecision =
  | { kind: 'finished' }
  | { kind: 'reuse' }
  | { kind: 'rebuild'; until: string }
  | { kind: 'local' }
  | { kind: 'inherit'; parents: readonly string[] }
  | { kind: 'empty' };

/** The decision tree at the top of this file. */
export function decideRestore({ stored, lease, parents }: RestoreFacts): RestoreDecision {
  const local = typeof stored === 'object' ? stored : undefined;
  if (lease?.checkpoint === SHARD_END || (!lease && local?.shardEnd)) return { kind: 'finished' };
  if (lease && isSequenceNumber(lease.checkpoint)) return continuesLease(local, lease) ? { kind: 'reuse' } : { kind: 'rebuild', until: lease.checkpoint };
  if (stored !== 'nothing') return { kind: 'local' };
  if (parents.length > 0) return { kind: 'inherit', parents };
  return { kind: 'empty' };
}

/**
 * Whether this worker's local checkpoint provably continues the lease's, so its state can be used
 * as it is: the lease checkpoint was written from this very line of state (same stateId) and the
 * local state is at or past it (the lease checkpoint only ever follows the local one). A lease
 * checkpoint written before state ids existed is continued only by a local checkpoint equal to it.
 */
export function continuesLease(local: ShardCheckpoint | undefined, lease: Pick<Lease, 'checkpoint' | 'checkpointStateId'>): boolean {
  if (!local?.sequenceNumber || !isSequenceNumber(lease.checkpoint)) return false;
  if (lease.checkpointStateId === undefined) return local.sequenceNumber === lease.checkpoint;
  return local.stateId === lease.checkpointStateId && BigInt(local.sequenceNumber) >= BigInt(lease.checkpoint);
}

export interface RestoreInput {
  shardId: string;
  store: StateStore;
  engineConfig: Partial<EngineConfig>;
  /** The stolen cards: stored panes name their cards by token (codec.ts). */
  cards: CardDirectory;
  log: Logger;
  /** The shard's lease as taken (ShardTenure.lease); undefined when nothing is shared. */
  lease: Lease | undefined;
  /** The shard's parents that still exist (all finished). */
  parents: readonly string[];
  /** Replays and parents' state, for `rebuild` and `inherit`. */
  rebuilder: Pick<ShardRebuilder, 'rebuild' | 'parentsState'>;
  /** A new state id (default: a random UUID). */
  newStateId?: () => string;
  /**
   * Alerts first: a take-over restoring from a snapshot leaves its panes for later (`later` in the
   * result; pane-restore.ts) instead of restoring and committing the whole state before it reads.
   */
  panesLater?: boolean;
}

/**
 * What the task starts from. `checkpoint` is the local checkpoint the engine is at (undefined:
 * never committed); `settled` is that checkpoint when it was taken with nothing left to drain, the
 * only kind the lease checkpoint may name (a crash can stop a drain between two chunks).
 */
export type Restored =
  | { kind: 'finished' }
  /** `signal` aborted during a rebuild: nothing was written. */
  | { kind: 'aborted' }
  | {
      kind: 'ready';
      engine: ShardEngine;
      stateId: string;
      /** With `later`: the lease checkpoint the engine is at, not committed yet (the state is not whole). */
      checkpoint: ShardCheckpoint | undefined;
      settled: ShardCheckpoint | undefined;
      /** The panes still to restore (alerts first): nothing of this state is committed until they are in. */
      later?: PanesToRestore;
    };

/** Decides (above) and carries the decision out against the store. */
export async function restoreShard(input: RestoreInput, signal: AbortSignal): Promise<Restored> {
  const { shardId, store, log, lease } = input;
  const cfg = input.engineConfig;
  const newStateId = input.newStateId ?? randomUUID;
  const checkpoint = await store.loadCheckpoint(shardId);
  const stored = checkpoint ?? ((await holdsEntries(store, shardId)) ? 'entries' : 'nothing');
  const decision = decideRestore({ stored, lease, parents: input.parents });
  // The engine as this worker last committed it.
  const restored = (engine: ShardEngine): Restored => ({
    kind: 'ready',
    engine,
    stateId: checkpoint?.stateId ?? newStateId(),
    checkpoint,
    settled: checkpoint && !engine.hasPendingEmissions() ? checkpoint : undefined,
  });
  const result = await carryOut();
  // Whichever way the engine was restored (local state, a snapshot, a rebuild from one); with its
  // panes still to restore, the task says it once they are in.
  if (result.kind === 'ready' && !result.later) warnOfUnlistedPanes(log, shardId, result.engine);
  return result;

  async function carryOut(): Promise<Restored> {
    switch (decision.kind) {
      case 'finished':
        return { kind: 'finished' };
      case 'reuse': {
        const result = restored((await restoreLocalState(store, shardId, cfg, input.cards)).engine);
        log.info({ shardId, local: checkpoint?.sequenceNumber, lease: lease?.checkpoint, replayed: 0 }, 'local state continues the lease checkpoint: reused');
        return result;
      }
      case 'rebuild': {
        const result = await input.rebuilder.rebuild(lease!, signal, { panesLater: input.panesLater === true });
        if (!result.complete) return { kind: 'aborted' };
        const stateId = newStateId();
        const rebuilt: ShardCheckpoint = {
          sequenceNumber: decision.until,
          watermarkMs: result.engine.watermarkMs ?? Number.MIN_SAFE_INTEGER,
          shardEnd: false,
          stateId,
        };
        if (result.later) {
          log.info({ shardId, paneGroups: result.later.panes.length }, 'alert state restored: alerting while the panes restore (summaries wait for them)');
          return { kind: 'ready', engine: result.engine, stateId, checkpoint: rebuilt, settled: undefined, later: result.later };
        }
        await store.deleteShard(shardId);
        await store.commitShard(shardId, { puts: result.entries, dels: [] }, rebuilt);
        return { kind: 'ready', engine: result.engine, stateId, checkpoint: rebuilt, settled: rebuilt };
      }
      case 'local':
        return restored((await restoreLocalState(store, shardId, cfg, input.cards)).engine);
      case 'inherit': {
        const stateId = newStateId();
        const inherited = await input.rebuilder.parentsState(decision.parents, signal);
        const engine = ShardEngine.restore(inherited, cfg, input.cards);
        // Make the inherited state this shard's own before reading anything.
        const own: ShardCheckpoint = {
          sequenceNumber: null,
          watermarkMs: engine.watermarkMs ?? Number.MIN_SAFE_INTEGER,
          shardEnd: false,
          stateId,
        };
        await store.commitShard(shardId, { puts: inherited, dels: [] }, own);
        log.info({ shardId, parents: decision.parents, entries: inherited.length }, "took over the parents' state");
        return { kind: 'ready', engine, stateId, checkpoint: own, settled: engine.hasPendingEmissions() ? undefined : own };
      }
      case 'empty':
        return { kind: 'ready', engine: new ShardEngine(cfg, undefined, input.cards), stateId: newStateId(), checkpoint: undefined, settled: undefined };
    }
  }
}

/** Whether the store holds any entry of the shard (asked only when it has no checkpoint). */
async function holdsEntries(store: StateStore, shardId: string): Promise<boolean> {
  for await (const _ of store.scanShard(shardId)) return true;
  return false;
}

/** Logs the stored panes a restore left out because their card is no longer on the stolen list. */
export function warnOfUnlistedPanes(log: Logger, shardId: string, engine: ShardEngine): void {
  if (engine.unlistedPanesAtRestore === 0) return;
  log.warn({ shardId, panes: engine.unlistedPanesAtRestore }, 'stored panes of cards no longer on the stolen list were left out: no summary counts them');
}
