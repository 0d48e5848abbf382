/**
 * Where a shard task's state comes from (source/restore.ts): every branch of the decision, as a
 * pure function, and each decision carried out against an in-memory store and a fake rebuilder.
 */
import t from 'tap';
import { pino } from 'pino';
import { ShardEngine } from '../../src/engine/index.js';
import type { Lease } from '../../src/lease/index.js';
import type { RebuildResult } from '../../src/source/rebuild.js';
import { continuesLease, decideRestore, restoreShard, type RestoreFacts, type RestoreInput } from '../../src/source/restore.js';
import { openStateStore, type ShardCheckpoint, type StateStore } from '../../src/state/index.js';
import { card, pay, toEvent, testCards } from '../engine/helpers.js';

const SHARD = 'shardId-000000000003';
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

const lease = (checkpoint: string, checkpointStateId?: string): Lease => ({
  leaseKey: SHARD,
  leaseOwner: 'w',
  leaseCounter: 3,
  checkpoint,
  ownerSwitchesSinceCheckpoint: 0,
  parentShardIds: [],
  childShardIds: [],
  checkpointWatermarkMs: 0,
  checkpointAtMs: 0,
  checkpointStateId,
});
const local = (sequenceNumber: string | null, options: { stateId?: string; shardEnd?: boolean } = {}): ShardCheckpoint => ({
  sequenceNumber,
  watermarkMs: 0,
  shardEnd: options.shardEnd ?? false,
  ...(options.stateId ? { stateId: options.stateId } : {}),
});
const decide = (f: Partial<RestoreFacts>) => decideRestore({ stored: 'nothing', lease: undefined, parents: [], ...f });

t.test('local state continues the lease checkpoint only when it provably does', async (t) => {
  const lease = (checkpoint: string, checkpointStateId?: string) =>
    ({
      leaseKey: SHARD,
      leaseOwner: 'w',
      leaseCounter: 3,
      checkpoint,
      ownerSwitchesSinceCheckpoint: 0,
      parentShardIds: [],
      childShardIds: [],
      checkpointWatermarkMs: 0,
      checkpointAtMs: 0,
      checkpointStateId,
    }) as const;
  const local = (sequenceNumber: string | null, stateId?: string) => ({
    sequenceNumber,
    watermarkMs: 0,
    shardEnd: false,
    ...(stateId ? { stateId } : {}),
  });
  t.ok(continuesLease(local('120', 'a'), lease('100', 'a')), 'same state, past the lease checkpoint (killed before the next lease checkpoint)');
  t.ok(continuesLease(local('100', 'a'), lease('100', 'a')), 'same state, at it');
  t.notOk(continuesLease(local('99', 'a'), lease('100', 'a')), 'same state, behind it: writes were lost');
  t.notOk(continuesLease(local('120', 'a'), lease('100', 'b')), 'another state wrote the lease checkpoint: someone else went on');
  t.notOk(continuesLease(local('120'), lease('100', 'b')), 'a local state without id');
  t.ok(continuesLease(local('100'), lease('100')), 'before state ids: equal checkpoints, as before');
  t.notOk(continuesLease(local('120'), lease('100')), 'before state ids: nothing else');
  t.notOk(continuesLease(undefined, lease('100', 'a')), 'no local state');
  t.notOk(continuesLease(local(null, 'a'), lease('100', 'a')), 'a local state that never read a record');
  t.notOk(continuesLease(local('120', 'a'), lease('TRIM_HORIZON', 'a')), 'no lease checkpoint');
  // Sequence numbers are compared as numbers, not strings.
  t.ok(continuesLease(local('1000', 'a'), lease('999', 'a')));
});

t.test('decision: finished', async (t) => {
  t.same(decide({ lease: lease('SHARD_END') }), { kind: 'finished' }, 'the lease is at SHARD_END');
  t.same(decide({ lease: lease('SHARD_END'), stored: local('120', { stateId: 'a' }) }), { kind: 'finished' }, 'whatever the store holds');
  t.same(decide({ stored: local('120', { shardEnd: true }) }), { kind: 'finished' }, 'nothing shared: the local checkpoint is at the end');
  t.same(
    decide({ stored: local('120', { shardEnd: true }), lease: lease('TRIM_HORIZON') }),
    { kind: 'local' },
    'a lease never checkpointed: the local end does not finish it',
  );
});

t.test('decision: a lease checkpoint is continued by the local state, or rebuilt', async (t) => {
  t.same(decide({ lease: lease('100', 'a'), stored: local('120', { stateId: 'a' }) }), { kind: 'reuse' });
  t.same(decide({ lease: lease('100', 'a'), stored: local('120', { stateId: 'b' }) }), { kind: 'rebuild', until: '100' }, 'another line of state');
  t.same(decide({ lease: lease('100', 'a'), stored: 'nothing' }), { kind: 'rebuild', until: '100' }, 'a lost disk');
  t.same(decide({ lease: lease('100', 'a'), stored: 'entries' }), { kind: 'rebuild', until: '100' }, 'entries without a checkpoint');
  t.same(decide({ lease: lease('100'), stored: local('100'), parents: ['p'] }), { kind: 'reuse' }, 'parents do not matter once the lease has a checkpoint');
  t.same(decide({ lease: lease('100'), stored: local('90'), parents: ['p'] }), { kind: 'rebuild', until: '100' });
});

t.test('decision: without a lease checkpoint, the store as it is, then the parents, then nothing', async (t) => {
  for (const shared of [undefined, lease('TRIM_HORIZON'), lease('AT_TIMESTAMP'), lease('LATEST')]) {
    const what = shared ? `lease at ${shared.checkpoint}` : 'nothing shared';
    t.same(decide({ lease: shared, stored: local('120') }), { kind: 'local' }, `${what}: a local checkpoint`);
    t.same(decide({ lease: shared, stored: local('120'), parents: ['p'] }), { kind: 'local' }, `${what}: a local checkpoint, parents read before`);
    t.same(decide({ lease: shared, stored: 'entries', parents: ['p'] }), { kind: 'local' }, `${what}: entries without a checkpoint`);
    t.same(decide({ lease: shared, stored: 'nothing', parents: ['p', 'q'] }), { kind: 'inherit', parents: ['p', 'q'] }, `${what}: a child never read`);
    t.same(decide({ lease: shared, stored: 'nothing' }), { kind: 'empty' }, `${what}: a root never read`);
  }
});

/** A fake rebuilder: records its calls, answers with `result` and `inherited`. */
function rebuilder(result?: Partial<RebuildResult>, inherited: Array<[string, unknown]> = []) {
  const calls: string[] = [];
  return {
    calls,
    rebuild: async (l: Lease) => {
      calls.push(`rebuild ${l.checkpoint}`);
      const engine = result?.engine ?? new ShardEngine();
      return { engine, entries: [...engine.entries()], replayed: 0, durationMs: 0, replayMs: 0, complete: true, ...result };
    },
    parentsState: async (parents: readonly string[]) => {
      calls.push(`parents ${parents.join(',')}`);
      return inherited;
    },
  };
}

/** An engine holding two stolen payments of a window, one of whose alerts is drained: `pending` leaves one due. */
function engineWithState(pending: boolean): ShardEngine {
  const engine = new ShardEngine();
  for (const at of [T0 + 100, T0 + 200, T0 + 10_000]) engine.onPayment(toEvent(pay({ at, card: card(1) })), true, at);
  engine.drain(pending ? 1 : 1_000, T0 + 11_000);
  return engine;
}

/** A memory store holding `engine`'s state under `checkpoint`; without a checkpoint, a store that has lost it. */
async function storeWith(engine: ShardEngine, checkpoint: ShardCheckpoint | undefined): Promise<StateStore> {
  const store = await openStateStore({ kind: 'memory' });
  await store.commitShard(SHARD, { puts: [...engine.entries()], dels: [] }, checkpoint ?? local('1'));
  if (!checkpoint) store.loadCheckpoint = async () => undefined;
  return store;
}

const input = (store: StateStore, fake: ReturnType<typeof rebuilder>, over: Partial<RestoreInput> = {}): RestoreInput => {
  let n = 0;
  return {
    shardId: SHARD,
    store,
    engineConfig: {},
    cards: testCards,
    log: pino({ level: 'silent' }),
    lease: undefined,
    parents: [],
    rebuilder: fake,
    newStateId: () => `new-${++n}`,
    ...over,
  };
};
const run = (i: RestoreInput) => restoreShard(i, new AbortController().signal);

t.test('carried out: finished writes nothing and replays nothing', async (t) => {
  const store = await storeWith(engineWithState(false), local('120', { stateId: 'a' }));
  const fake = rebuilder();
  t.same(await run(input(store, fake, { lease: lease('SHARD_END') })), { kind: 'finished' });
  t.same(fake.calls, []);
  t.same((await store.loadCheckpoint(SHARD))?.sequenceNumber, '120', 'the store is as it was');
});

t.test('carried out: reuse restores the store, keeps its state id, settled only when nothing is left to drain', async (t) => {
  for (const pending of [false, true]) {
    const engine = engineWithState(pending);
    const checkpoint = local('120', { stateId: 'a' });
    const store = await storeWith(engine, checkpoint);
    const fake = rebuilder();
    const r = await run(input(store, fake, { lease: lease('100', 'a') }));
    if (r.kind !== 'ready') throw new Error(r.kind);
    t.equal(r.stateId, 'a');
    t.same(r.checkpoint, checkpoint);
    t.same(r.settled, pending ? undefined : checkpoint, pending ? 'a drain stopped halfway: not settled' : 'settled');
    t.equal(r.engine.watermarkMs, engine.watermarkMs);
    t.equal(r.engine.hasPendingEmissions(), pending);
    t.same(fake.calls, [], 'nothing replayed');
  }
});

t.test('carried out: rebuild replaces the local state with the replay, checkpointed at the lease checkpoint', async (t) => {
  const store = await storeWith(engineWithState(false), local('120', { stateId: 'b' }));
  const rebuilt = new ShardEngine();
  rebuilt.onPayment(toEvent(pay({ at: T0 + 50, card: card(2) })), true, T0 + 50);
  rebuilt.discardChanges();
  const fake = rebuilder({ engine: rebuilt });
  const r = await run(input(store, fake, { lease: lease('100', 'a') }));
  if (r.kind !== 'ready') throw new Error(r.kind);
  t.same(fake.calls, ['rebuild 100']);
  const expected = { sequenceNumber: '100', watermarkMs: rebuilt.watermarkMs!, shardEnd: false, stateId: 'new-1' };
  t.same(r.checkpoint, expected);
  t.same(r.settled, expected);
  t.equal(r.stateId, 'new-1');
  t.equal(r.engine, rebuilt);
  const saved = await store.loadShard(SHARD);
  t.same(saved.checkpoint, expected, 'the rebuilt checkpoint is stored');
  t.same(new Map(saved.entries), new Map(rebuilt.entries()), 'only the rebuilt state is stored');
});

t.test('carried out: a rebuild aborted writes nothing', async (t) => {
  const checkpoint = local('120', { stateId: 'b' });
  const store = await storeWith(engineWithState(false), checkpoint);
  const r = await run(input(store, rebuilder({ complete: false }), { lease: lease('100', 'a') }));
  t.same(r, { kind: 'aborted' });
  t.same(await store.loadCheckpoint(SHARD), checkpoint, 'the local state is untouched');
});

t.test('carried out: local restores the store as it is', async (t) => {
  const engine = engineWithState(false);
  const checkpoint = local('120', { stateId: 'a' });
  const fake = rebuilder();
  const r = await run(input(await storeWith(engine, checkpoint), fake));
  if (r.kind !== 'ready') throw new Error(r.kind);
  t.same([r.stateId, r.checkpoint, r.settled], ['a', checkpoint, checkpoint]);
  t.equal(r.engine.watermarkMs, engine.watermarkMs);

  const noId = local('120');
  const r2 = await run(input(await storeWith(engine, noId), fake));
  if (r2.kind !== 'ready') throw new Error(r2.kind);
  t.equal(r2.stateId, 'new-1', 'a checkpoint written before state ids gets a new one');

  const r3 = await run(input(await storeWith(engine, undefined), fake, { parents: ['p'] }));
  if (r3.kind !== 'ready') throw new Error(r3.kind);
  t.same([r3.stateId, r3.checkpoint, r3.settled], ['new-1', undefined, undefined], 'entries without a checkpoint: restored, never settled');
  t.equal(r3.engine.watermarkMs, engine.watermarkMs);
  t.same(fake.calls, [], 'neither replayed nor inherited');
});

t.test('carried out: inherit makes the parents state the childs own before reading anything', async (t) => {
  const parent = engineWithState(false);
  const inherited = [...parent.entries()];
  const store = await openStateStore({ kind: 'memory' });
  const fake = rebuilder(undefined, inherited);
  const r = await run(input(store, fake, { parents: ['p1', 'p2'] }));
  if (r.kind !== 'ready') throw new Error(r.kind);
  t.same(fake.calls, ['parents p1,p2']);
  const expected = { sequenceNumber: null, watermarkMs: parent.watermarkMs!, shardEnd: false, stateId: 'new-1' };
  t.same(r.checkpoint, expected);
  t.same(r.settled, expected, 'nothing left to drain');
  t.equal(r.engine.watermarkMs, parent.watermarkMs);
  const saved = await store.loadShard(SHARD);
  t.same(saved.checkpoint, expected);
  t.same(new Map(saved.entries), new Map(inherited));

  const pending = engineWithState(true);
  const r2 = await run(input(await openStateStore({ kind: 'memory' }), rebuilder(undefined, [...pending.entries()]), { parents: ['p1'] }));
  if (r2.kind !== 'ready') throw new Error(r2.kind);
  t.equal(r2.settled, undefined, 'inherited alerts still due: not settled');
  t.ok(r2.checkpoint);
});

t.test('carried out: empty starts a new engine and writes nothing', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  const fake = rebuilder();
  const r = await run(input(store, fake));
  if (r.kind !== 'ready') throw new Error(r.kind);
  t.same([r.stateId, r.checkpoint, r.settled, r.engine.watermarkMs], ['new-1', undefined, undefined, null]);
  t.same(await store.listShards(), []);
  t.same(fake.calls, []);
});

t.test('carried out: panes left out because their card left the stolen list are logged, whichever way the engine came back', async (t) => {
  const unlisted = { refOfToken: () => undefined };
  const warnings = (lines: string[]) => lines.filter((l) => /no longer on the stolen list/.test(l)).map((l) => JSON.parse(l).panes as number);
  const logTo = (lines: string[]) => pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
  // Local state (reuse).
  const reuseLines: string[] = [];
  const store = await storeWith(engineWithState(false), local('120', { stateId: 'a' }));
  const reused = await run(input(store, rebuilder(), { lease: lease('100', 'a'), cards: unlisted, log: logTo(reuseLines) }));
  if (reused.kind !== 'ready') throw new Error(reused.kind);
  t.same(warnings(reuseLines), [reused.engine.unlistedPanesAtRestore], 'reuse: one warning with the count');
  t.ok(reused.engine.unlistedPanesAtRestore > 0);
  // A rebuild whose engine came from a snapshot that held such panes.
  const snapshotted = engineWithState(false);
  const fromSnapshot = ShardEngine.restore([...snapshotted.entries()], {}, unlisted);
  const rebuildLines: string[] = [];
  const rebuilt = await run(
    input(await storeWith(engineWithState(false), local('120', { stateId: 'b' })), rebuilder({ engine: fromSnapshot }), {
      lease: lease('100', 'a'),
      log: logTo(rebuildLines),
    }),
  );
  if (rebuilt.kind !== 'ready') throw new Error(rebuilt.kind);
  t.same(warnings(rebuildLines), [fromSnapshot.unlistedPanesAtRestore], 'rebuild from a snapshot: the same warning');
  // With every card listed, no warning.
  const quiet: string[] = [];
  await run(input(await storeWith(engineWithState(false), local('120', { stateId: 'a' })), rebuilder(), { lease: lease('100', 'a'), log: logTo(quiet) }));
  t.same(warnings(quiet), [], 'none when every card is listed');
});
