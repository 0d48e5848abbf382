/**
 * Where a rebuild starts and what a child takes over from its parents (source/rebuild.ts): the
 * pure rules, and ShardRebuilder against a fake shard listing of Kinesis and a memory store.
 */
import t from 'tap';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { ShardEngine } from '../../src/engine/index.js';
import { hashKeyOf } from '../../src/engine/codec.js';
import type { Lease } from '../../src/lease/index.js';
import { createMetrics } from '../../src/metrics.js';
import { REBUILD_MARGIN_MS, ShardRebuilder, replayFromMs, replayFromParents, type Lineage } from '../../src/source/rebuild.js';
import { openStateStore, type StateStore } from '../../src/state/index.js';
import { card, pay, stolenCards, toEvent, toPaymentEvent, token, testCards } from '../engine/helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const HOUR = 3_600_000;

t.test('a replay starts the summary range and a margin before the checkpoint, or its watermark if earlier', async (t) => {
  t.equal(replayFromMs({ checkpointAtMs: T0, checkpointWatermarkMs: T0 - 1_000 }, 0), T0 - 1_000 - HOUR - REBUILD_MARGIN_MS);
  t.equal(
    replayFromMs({ checkpointAtMs: T0, checkpointWatermarkMs: T0 + 1_000 }, 0),
    T0 - HOUR - REBUILD_MARGIN_MS,
    'a watermark ahead of the checkpoint time',
  );
  t.equal(replayFromMs({ checkpointAtMs: T0, checkpointWatermarkMs: undefined }, 0), T0 - HOUR - REBUILD_MARGIN_MS);
  t.equal(replayFromMs({ checkpointAtMs: undefined, checkpointWatermarkMs: undefined }, T0), T0 - HOUR - REBUILD_MARGIN_MS, 'no checkpoint time: now');
  t.equal(replayFromMs({ checkpointAtMs: T0, checkpointWatermarkMs: undefined }, 0, 60_000), T0 - 60_000 - REBUILD_MARGIN_MS, 'another summary range');
});

t.test("a child's replay starts from its parents' state when a parent is gone or ended within the window", async (t) => {
  const from = T0 - HOUR;
  t.notOk(replayFromParents([], from), 'a root');
  t.notOk(replayFromParents([{ checkpointAtMs: from - 1 }], from), 'the parent ended before the window: the child has all it needs');
  t.ok(replayFromParents([{ checkpointAtMs: from }], from), 'the parent ended within it');
  t.ok(replayFromParents([undefined], from), "the parent's lease is gone");
  t.ok(replayFromParents([{ checkpointAtMs: undefined }], from), 'the parent never checkpointed a time');
  t.ok(replayFromParents([{ checkpointAtMs: from - 1 }, { checkpointAtMs: from + 1 }], from), 'a merge: one of the two within it');
});

const lease = (leaseKey: string, over: Partial<Lease> = {}): Lease => ({
  leaseKey,
  leaseOwner: 'w',
  leaseCounter: 1,
  checkpoint: 'SHARD_END',
  ownerSwitchesSinceCheckpoint: 0,
  parentShardIds: [],
  childShardIds: [],
  checkpointWatermarkMs: undefined,
  checkpointAtMs: undefined,
  checkpointStateId: undefined,
  ...over,
});

const record = (seq: number, at: number, c: string): _Record => ({
  SequenceNumber: String(seq),
  PartitionKey: c,
  Data: Buffer.from(JSON.stringify(toPaymentEvent(pay({ at, card: c })))),
  ApproximateArrivalTimestamp: new Date(at),
});

/** Closed shards of the given records, read in one batch each; every GetShardIterator is recorded. */
function kinesis(shards: Record<string, _Record[]>) {
  const iterators: Array<{ shardId: string; type: string }> = [];
  const client = {
    async send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) {
        iterators.push({ shardId: command.input.ShardId!, type: command.input.ShardIteratorType! });
        return { ShardIterator: command.input.ShardId };
      }
      if (command instanceof GetRecordsCommand) return { Records: shards[command.input.ShardIterator!] ?? [], MillisBehindLatest: 0 };
      throw new Error('unexpected command');
    },
  } as unknown as KinesisClient;
  return { client, iterators };
}

function rebuilder(o: { store: StateStore; client: KinesisClient; leases: Lease[]; lineage?: Lineage; shardId?: string; infos?: Record<string, Lineage> }) {
  const metrics = createMetrics(new Registry());
  let progress = 0;
  const deps: ConstructorParameters<typeof ShardRebuilder>[2] = {
    kinesis: o.client,
    stream: 's',
    store: o.store,
    stolen: stolenCards([card(1), card(2)]),
    engineConfig: {},
    maxRecordBytes: 65_536,
    maxClockSkewMs: 5_000,
    getRecordsLimit: 100,
    pollIntervalMs: 0,
    now: () => T0,
    metrics,
    log: pino({ level: 'silent' }),
    leaseOf: async (id) => o.leases.find((l) => l.leaseKey === id),
    shardInfo: (id) => o.infos?.[id],
    onProgress: () => progress++,
  };
  const r = new ShardRebuilder(o.shardId ?? 'child', o.lineage ?? { parents: [] }, deps);
  return { r, deps, metrics, progress: () => progress };
}

/** The cards whose payments the entries hold, found by token (values as stored, or as the engine holds them: with Maps and Sets). */
const cardsIn = (entries: Array<[string, unknown]>) => {
  const text = JSON.stringify(entries, (_k, v: unknown) =>
    v instanceof Map || v instanceof Set ? [...v] : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8') : v,
  );
  if ([card(1), card(2)].some((c) => text.includes(c))) throw new Error('a card number in the state');
  return [card(1), card(2)].filter((c) => text.includes(token(c)));
};
const signal = new AbortController().signal;

/** A parent's state as it stood at its end: a stolen payment of each card, held for its alert. */
async function finishedLocally(store: StateStore, shardId: string): Promise<void> {
  const engine = new ShardEngine();
  for (const c of [card(1), card(2)]) engine.onPayment(toEvent(pay({ at: T0 - 2_000, card: c })), true, T0 - 2_000);
  await store.commitShard(shardId, { puts: [...engine.entries()], dels: [] }, { sequenceNumber: '9', watermarkMs: engine.watermarkMs!, shardEnd: true });
}

t.test("a child's share of its parents' state: local when read to the end here or without a lease, for its range", async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  await finishedLocally(store, 'p1');
  const { client, iterators } = kinesis({});
  const { r } = rebuilder({ store, client, leases: [lease('p1')] });
  t.same(cardsIn(await r.parentsState(['p1'], signal)), [card(1), card(2)], 'finished here: its local state');
  const h = hashKeyOf(card(1));
  t.same(cardsIn(await r.parentsState(['p1'], signal, { start: h, end: h })), [card(1)], "only the cards of the child's hash-key range");
  t.same(iterators, [], 'nothing replayed');

  // A parent this worker never finished, whose lease is gone (trimmed or deleted): what is here is all.
  const partial = await openStateStore({ kind: 'memory' });
  await partial.commitShard('p2', { puts: [...(await store.loadShard('p1')).entries], dels: [] }, { sequenceNumber: '5', watermarkMs: 0, shardEnd: false });
  const { r: r2 } = rebuilder({ store: partial, client, leases: [] });
  t.same(cardsIn(await r2.parentsState(['p2'], signal)), [card(1), card(2)]);
  t.same(iterators, [], 'nothing replayed');
});

t.test("a parent finished by another worker is replayed to its end, through its own parents' if need be", async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  await finishedLocally(store, 'gp');
  const { client, iterators } = kinesis({ p: [record(10, T0 - 1_000, card(1)), record(11, T0 - 900, card(2))] });
  // p ended within the window of its own replay, and its parent gp ended then too: gp's state first.
  const leases = [lease('p', { checkpointAtMs: T0, parentShardIds: ['gp'] }), lease('gp', { checkpointAtMs: T0 - 1_000 })];
  const { r, metrics, progress } = rebuilder({ store, client, leases, infos: { p: { parents: ['gp'] } } });
  const entries = await r.parentsState(['p'], signal);
  t.same(iterators, [{ shardId: 'p', type: 'TRIM_HORIZON' }], "replayed from its beginning on top of its parent's state");
  t.same(cardsIn(entries), [card(1), card(2)]);
  t.ok(progress() > 0, 'each replayed batch is progress');
  t.equal((await metrics.recordsReplayed.get()).values[0]?.value, 2);
});

t.test('a rebuild replays the last hour before the lease checkpoint, or the child from its parents', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  await finishedLocally(store, 'p');
  const { client, iterators } = kinesis({ child: [record(20, T0 - 500, card(1)), record(21, T0 - 400, card(1))] });
  const own = lease('child', { checkpoint: '21', checkpointAtMs: T0, checkpointWatermarkMs: T0 - 1_400 });

  const old = rebuilder({ store, client, leases: [lease('p', { checkpointAtMs: T0 - 2 * HOUR })], lineage: { parents: ['p'] } });
  const alone = await old.r.rebuild(own, signal);
  t.ok(alone.complete);
  t.same(iterators.splice(0), [{ shardId: 'child', type: 'AT_TIMESTAMP' }], 'its parent ended long before: its own last hour is all there is');
  t.same(cardsIn(alone.entries), [card(1)]);

  const recent = rebuilder({ store, client, leases: [lease('p', { checkpointAtMs: T0 - 10_000 })], lineage: { parents: ['p'] } });
  const inherited = await recent.r.rebuild(own, signal);
  t.same(
    iterators.splice(0),
    [{ shardId: 'child', type: 'TRIM_HORIZON' }],
    "its parent ended within the hour: from the parent's state and the child's beginning",
  );
  t.same(cardsIn(inherited.entries), [card(1), card(2)]);
  const h = hashKeyOf(card(1));
  const ranged = rebuilder({
    store,
    client,
    leases: [lease('p', { checkpointAtMs: T0 - 10_000 })],
    lineage: { parents: ['p'], hashKeyRange: { start: h, end: h } },
  });
  t.same(cardsIn((await ranged.r.rebuild(own, signal)).entries), [card(1)], "only its range of the parent's state");
});

t.test('from a snapshot: the newest valid one, then only the records after it; its stored JSON committed as is gives the same state', async (t) => {
  const { withS3 } = await import('../../../common/test/helpers.js');
  const { S3Snapshots } = await import('../../src/snapshot/s3-snapshots.js');
  const { ShardSnapshotWriter, loadValidSnapshot } = await import('../../src/snapshot/shard-snapshots.js');
  const { rebuildEngine } = await import('../../src/source/rebuild.js');
  const s3 = await withS3(t, ['snaps']);
  const snapshots = await S3Snapshots.create({ client: s3.client, bucket: 'snaps', prefix: 'snapshots/', stream: 's' });
  const store = await openStateStore({ kind: 'memory' });
  // The previous owner's state at record 10: payments of both cards, one window fired, one held.
  const engine = new ShardEngine();
  engine.onPayment(toEvent(pay({ at: T0 - 9_000, card: card(1) })), true, T0 - 9_000);
  engine.onPayment(toEvent(pay({ at: T0 - 1_500, card: card(2) })), true, T0 - 1_500);
  engine.drain(100, T0);
  await store.commitShard('s1', engine.takeChanges(), { sequenceNumber: '10', watermarkMs: engine.watermarkMs!, shardEnd: false, stateId: 'A' });
  const metrics = createMetrics(new Registry());
  const log = pino({ level: 'silent' });
  await new ShardSnapshotWriter(
    's1',
    { snapshots, store, stream: 's', intervalMs: 1, now: () => T0, monotonic: () => 0, log, metrics },
    { isSafe: () => true, sharedCheckpoint: () => undefined },
  ).final({
    sequenceNumber: '10',
    watermarkMs: 0,
    shardEnd: false,
    stateId: 'A',
  });
  const after = [record(11, T0 - 500, card(1)), record(12, T0 + 3_000, card(2))];
  const { client, iterators } = kinesis({ s1: after });
  const own = lease('s1', { checkpoint: '12', checkpointStateId: 'A', checkpointAtMs: T0 + 3_000, checkpointWatermarkMs: T0 + 2_000 });
  const r = new ShardRebuilder('s1', { parents: [] }, { ...rebuilder({ store, client, leases: [own] }).deps, snapshots });
  const result = await r.rebuild(own, signal);
  t.same(iterators, [{ shardId: 's1', type: 'AFTER_SEQUENCE_NUMBER' }], 'read from just after the snapshot, not the last hour');
  t.equal(result.replayed, 2, 'only the records after the snapshot replayed');
  t.ok(
    result.entries.some(([, v]) => v instanceof Uint8Array),
    "the snapshot's entries kept as the bytes it holds",
  );

  // The same replay from the parsed snapshot, state written whole from the engine: the reference.
  const parsed = (await loadValidSnapshot({ snapshots, log, metrics }, 's1', own))!;
  const reference = await rebuildEngine({
    kinesis: kinesis({ s1: after }).client,
    stream: 's',
    shardId: 's1',
    afterSequenceNumber: '10',
    initial: parsed.entries,
    until: { sequenceNumber: '12' },
    watermarkMs: own.checkpointWatermarkMs!,
    stolen: stolenCards([card(1), card(2)]),
    engineConfig: {},
    maxRecordBytes: 65_536,
    getRecordsLimit: 100,
    pollIntervalMs: 0,
    now: () => T0,
  });
  const committed = async (entries: Array<[string, unknown]>) => {
    const s = await openStateStore({ kind: 'memory' });
    await s.commitShard('x', { puts: entries, dels: [] }, { sequenceNumber: '12', watermarkMs: 0, shardEnd: false });
    return [...ShardEngine.restore((await s.loadShard('x')).entries, {}, testCards).entries()];
  };
  t.same(await committed(result.entries), await committed(reference.entries), 'stored + changes restores to the engine a whole write restores to');
  t.same(await committed(result.entries), [...result.engine.entries()], 'and to the rebuilt engine itself');

  // Alerts first: the same rebuild with the panes left for later, restored in the background.
  const { PaneRestore } = await import('../../src/source/pane-restore.js');
  const later = await new ShardRebuilder(
    's1',
    { parents: [] },
    { ...rebuilder({ store, client: kinesis({ s1: after }).client, leases: [own] }).deps, snapshots },
  ).rebuild(own, signal, { panesLater: true });
  t.ok(later.engine.panesPending && later.later && later.later.panes.length > 0, 'the engine comes back with its pane groups still to restore');
  t.same(later.entries, [], 'and no state to commit yet');
  t.equal(later.replayed, 2);
  const restore = new PaneRestore(later.engine, later.later!);
  await restore.run(signal);
  t.ok(restore.done);
  t.same(await committed(restore.finish()), await committed(reference.entries), 'once the panes are in: the state the whole rebuild commits');
});
