/**
 * One contract suite run over both backends (LevelDB on a temp dir, memory-level), in the manner
 * of Kafka Streams' AbstractKeyValueStoreTest, then what only the on-disk backend can show.
 */
import t, { type Test } from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLevel } from 'memory-level';
import { LevelStateStore, openStateStore, StateStoreError, type ShardCheckpoint, type StateStore } from '../../src/state/index.js';
import type { BatchOp } from '../../src/state/level-store.js';
import { asLevelOps, withBatch } from './helpers.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sca-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a store that is closed when the test ends (close is idempotent). */
async function opened(t: Test, open: () => Promise<StateStore>): Promise<StateStore> {
  const store = await open();
  t.teardown(() => store.close());
  return store;
}

const cp = (sequenceNumber: string | null, watermarkMs: number, shardEnd = false): ShardCheckpoint => ({
  sequenceNumber,
  watermarkMs,
  shardEnd,
});

const backends: Array<[name: string, open: (t: Test) => Promise<StateStore>]> = [
  ['leveldb', async (t) => openStateStore({ kind: 'leveldb', dir: join(await tempDir(t), 'db') })],
  ['memory', async () => openStateStore({ kind: 'memory' })],
];

for (const [backend, open] of backends) {
  t.test(`contract: ${backend}`, async (t) => {
    const store = () => opened(t, () => open(t));

    t.test('an unknown shard loads empty, without checkpoint', async (t) => {
      const s = await store();
      t.same(await s.loadShard('shardId-000000000000'), { entries: [], checkpoint: undefined });
      t.same(await s.listShards(), []);
    });

    t.test('changes and checkpoint round-trip, entries in key order', async (t) => {
      const s = await store();
      const value = { count: 3, amounts: { EUR: { total: 12.5 } }, ids: ['a', 'b'], late: false, none: null };
      await s.commitShard(
        'shardId-000000000001',
        {
          puts: [
            ['w/2', value],
            ['w/10', 'x'],
            ['a', null],
            ['ü/é', 1],
            ['with/slash/', [1, 2]],
          ],
          dels: [],
        },
        cp('49590338271490256608559692538361571095921575989136588898', 1_700_000_000_123),
      );
      const loaded = await s.loadShard('shardId-000000000001');
      t.same(loaded.entries, [
        ['a', null],
        ['w/10', 'x'],
        ['w/2', value],
        ['with/slash/', [1, 2]],
        ['ü/é', 1],
      ]);
      t.same(loaded.checkpoint, cp('49590338271490256608559692538361571095921575989136588898', 1_700_000_000_123));
    });

    t.test('a Uint8Array value (JSON already encoded) is written as its bytes and read back as the JSON they hold', async (t) => {
      const s = await store();
      const value = { card: '4111111111111111', merchant: 'Café "Ü" \\ \u2028', n: [1, 2.5] };
      // A view into a larger buffer, as the engine's writer hands them out: only the view is written.
      const bytes = Buffer.from(`xx${JSON.stringify(value)}yy`, 'utf8');
      await s.commitShard(
        'shardId-000000000002',
        {
          puts: [
            ['panes/1', bytes.subarray(2, bytes.length - 2)],
            ['plain', 'x'],
          ],
          dels: [],
        },
        cp('1', 1),
      );
      // The writer's buffer is the caller's to reuse once the commit is done.
      bytes.fill(0x20);
      t.same((await s.loadShard('shardId-000000000002')).entries, [
        ['panes/1', value],
        ['plain', 'x'],
      ]);
    });

    t.test('scanShard streams the entries in key order across chunks; loadCheckpoint reads the checkpoint alone', async (t) => {
      const s = await store();
      // More than one 1 000-entry scan chunk, and a neighbour shard whose keys must not leak in.
      const puts: [string, unknown][] = Array.from({ length: 2_345 }, (_, i) => [`k/${String(i).padStart(5, '0')}`, { i }]);
      await s.commitShard('sh-a', { puts, dels: [] }, cp('5', 50));
      await s.commitShard('sh-a-1', { puts: [['k/x', 1]], dels: [] }, cp('6', 60));
      const scanned: [string, unknown][] = [];
      for await (const entry of s.scanShard('sh-a')) scanned.push(entry);
      t.same(scanned, puts);
      t.same(scanned, (await s.loadShard('sh-a')).entries, 'the same entries as loadShard');
      t.same(await s.loadCheckpoint('sh-a'), cp('5', 50));
      t.equal(await s.loadCheckpoint('sh-never'), undefined);
    });

    t.test('exportShard is the shard as it was when called, however many commits land while it is read', async (t) => {
      const s = await store();
      const puts: [string, unknown][] = Array.from({ length: 2_345 }, (_, i) => [`k/${String(i).padStart(5, '0')}`, { i }]);
      await s.commitShard('sh-a', { puts, dels: [] }, { ...cp('5', 50), stateId: 'line' });
      await s.commitShard('sh-a-1', { puts: [['k/x', 1]], dels: [] }, cp('6', 60));
      const exporting = s.exportShard('sh-a');
      // Committed before the export is read, in the same tick as the call: must not show through.
      const later = s.commitShard(
        'sh-a',
        {
          puts: [
            ['k/00000', 'changed'],
            ['k/zzz', 'new'],
          ],
          dels: ['k/00001'],
        },
        cp('9', 90),
      );
      const exported = await exporting;
      await later;
      await s.commitShard('sh-a', { puts: [['k/00002', 'changed again']], dels: [] }, cp('10', 100));
      const read: [string, unknown][] = [];
      for await (const [key, json] of exported.entries) read.push([key, JSON.parse(json)]);
      t.same(exported.checkpoint, { ...cp('5', 50), stateId: 'line' }, 'the checkpoint of that moment');
      t.same(read, puts, 'the entries of that moment, raw JSON text, in key order, no neighbour');
      const none = await s.exportShard('sh-never');
      t.equal(none.checkpoint, undefined);
      for await (const _ of none.entries) t.fail('a shard never committed exports nothing');
    });

    t.test('a later commit overwrites, deletes, and moves the checkpoint', async (t) => {
      const s = await store();
      await s.commitShard(
        'sh-1',
        {
          puts: [
            ['a', 1],
            ['b', 2],
            ['c', 3],
          ],
          dels: [],
        },
        cp('10', 1000),
      );
      await s.commitShard('sh-1', { puts: [['b', 20]], dels: ['a', 'never-existed'] }, cp('20', 2000));
      t.same(await s.loadShard('sh-1'), {
        entries: [
          ['b', 20],
          ['c', 3],
        ],
        checkpoint: cp('20', 2000),
      });
      // A key both deleted and put in one change set ends up put (dels apply first).
      await s.commitShard('sh-1', { puts: [['c', 30]], dels: ['c'] }, cp('30', 3000));
      t.same((await s.loadShard('sh-1')).entries, [
        ['b', 20],
        ['c', 30],
      ]);
    });

    t.test('SHARD_END and a null sequence number are kept', async (t) => {
      const s = await store();
      await s.commitShard('sh-empty', { puts: [], dels: [] }, cp(null, 0, true));
      t.same(await s.loadShard('sh-empty'), { entries: [], checkpoint: cp(null, 0, true) });
      t.same(await s.listShards(), ['sh-empty'], 'a shard with only a checkpoint is listed');
    });

    t.test('shards are isolated, even with ids that prefix each other', async (t) => {
      const s = await store();
      const ids = ['a', 'a-1', 'a0', 'a.b', 'a_b', 'ab', 'shardId-1', 'shardId-10'];
      for (const id of ids)
        await s.commitShard(
          id,
          {
            puts: [
              ['k', id],
              [`${id}/own`, true],
            ],
            dels: [],
          },
          cp(id, 1),
        );
      for (const id of ids) {
        t.same(
          await s.loadShard(id),
          {
            entries: [
              [`${id}/own`, true],
              ['k', id],
            ].sort(),
            checkpoint: cp(id, 1),
          },
          id,
        );
      }
      t.same(await s.listShards(), [...ids].sort());
      await s.deleteShard('a');
      t.same(await s.loadShard('a'), { entries: [], checkpoint: undefined });
      t.same(await s.listShards(), ids.filter((id) => id !== 'a').sort());
      t.same((await s.loadShard('a-1')).entries.length, 2, 'neighbours untouched');
      t.same((await s.loadShard('a0')).entries.length, 2, 'neighbours untouched');
      await s.deleteShard('never-there');
    });

    t.test('a commit with one bad value writes nothing at all', async (t) => {
      const s = await store();
      await s.commitShard('sh-1', { puts: [['keep', 1]], dels: [] }, cp('1', 1));
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const bad of [10n, cyclic, undefined, () => 1]) {
        await t.rejects(
          s.commitShard(
            'sh-1',
            {
              puts: [
                ['new-1', 1],
                ['bad', bad],
                ['new-2', 2],
              ],
              dels: ['keep'],
            },
            cp('2', 2),
          ),
          TypeError,
        );
      }
      await t.rejects(s.commitShard('sh-1', { puts: [['new-1', 1]], dels: ['keep'] }, cp('2', Number.NaN)), TypeError);
      await t.rejects(s.commitShard('sh/1', { puts: [['new-1', 1]], dels: [] }, cp('2', 2)), TypeError);
      t.same(await s.loadShard('sh-1'), { entries: [['keep', 1]], checkpoint: cp('1', 1) });
      t.same(await s.listShards(), ['sh-1']);
    });

    t.test('stolen cards: replace removes old ones, keeps others, and is reloaded', async (t) => {
      const s = await store();
      t.same(await s.loadStolenCards(), new Set());
      await s.replaceStolenCards(['4111111111111111', '5555555555554444', '378282246310005']);
      t.same(await s.loadStolenCards(), new Set(['4111111111111111', '5555555555554444', '378282246310005']));
      await s.replaceStolenCards(new Set(['5555555555554444', '6011111111111117']));
      t.same(await s.loadStolenCards(), new Set(['5555555555554444', '6011111111111117']));
      await s.commitShard('sh-1', { puts: [['k', 1]], dels: [] }, cp('1', 1));
      t.same(await s.listShards(), ['sh-1'], 'cards are not shards');
      t.same((await s.loadShard('sh-1')).entries, [['k', 1]]);
      await t.rejects(s.replaceStolenCards(['4111111111111111', '']), TypeError);
      t.same(await s.loadStolenCards(), new Set(['5555555555554444', '6011111111111117']), 'a bad list changes nothing');
      await s.replaceStolenCards([]);
      t.same(await s.loadStolenCards(), new Set());
      t.same((await s.loadShard('sh-1')).entries, [['k', 1]], 'replacing cards leaves shards alone');
    });

    t.test('a large stolen set round-trips', async (t) => {
      const s = await store();
      const cards = Array.from({ length: 20_000 }, (_, i) => String(4_000_000_000_000_000n + BigInt(i)));
      await s.replaceStolenCards(cards);
      const loaded = await s.loadStolenCards();
      t.equal(loaded.size, cards.length);
      t.ok(cards.every((c) => loaded.has(c)));
    });

    t.test('stats grow with the data', async (t) => {
      const s = await store();
      const empty = await s.stats();
      t.equal(empty.keys, 0);
      await s.commitShard(
        'sh-1',
        {
          puts: [
            ['a', 'x'.repeat(100)],
            ['b', 1],
          ],
          dels: [],
        },
        cp('1', 1),
      );
      await s.replaceStolenCards(['4111111111111111']);
      const after = await s.stats();
      t.equal(after.keys, 4, 'two entries, one checkpoint, one card');
      t.ok(after.approximateBytes >= empty.approximateBytes);
      if (backend === 'memory') t.ok(after.approximateBytes > 100, 'memory counts key and value bytes');
      await s.deleteShard('sh-1');
      t.equal((await s.stats()).keys, 1);
    });

    t.test('open and close are idempotent', async () => {
      const s = await store();
      await s.open();
      await s.close();
      await s.close();
    });
  });
}

t.test('leveldb: data survives close and reopen, and size reaches disk', async (t) => {
  const dir = join(await tempDir(t), 'nested', 'db');
  const first = await openStateStore({ kind: 'leveldb', dir });
  await first.commitShard('sh-1', { puts: [['a', { n: 1 }]], dels: [] }, cp('7', 70, true));
  await first.replaceStolenCards(['4111111111111111']);
  await first.close();
  const again = await opened(t, () => openStateStore({ kind: 'leveldb', dir }));
  t.same(await again.loadShard('sh-1'), { entries: [['a', { n: 1 }]], checkpoint: cp('7', 70, true) });
  t.same(await again.loadStolenCards(), new Set(['4111111111111111']));
  // Reopening replays the write-ahead log into a table file, which approximateSize counts.
  const stats = await again.stats();
  t.equal(stats.keys, 3);
  t.ok(stats.approximateBytes > 0, `approximateBytes ${stats.approximateBytes}`);
});

t.test('leveldb: a locked directory fails with STATE_LOCKED naming it', async (t) => {
  const dir = join(await tempDir(t), 'db');
  await opened(t, () => openStateStore({ kind: 'leveldb', dir }));
  const error = await openStateStore({ kind: 'leveldb', dir }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, StateStoreError);
  t.match(error, { code: 'STATE_LOCKED', retriable: true, dir });
  t.match((error as Error).message, dir);
});

t.test('leveldb: a path that cannot be a directory fails with STATE_OPEN_FAILED', async (t) => {
  const file = join(await tempDir(t), 'a-file');
  await writeFile(file, 'not a db');
  await t.rejects(openStateStore({ kind: 'leveldb', dir: file }), { name: 'StateStoreError', code: 'STATE_OPEN_FAILED' });
  await t.rejects(openStateStore({ kind: 'leveldb', dir: join(file, 'below') }), { code: 'STATE_OPEN_FAILED' });
});

t.test('a commit is exactly one batch call, checkpoint last', async (t) => {
  const db = new MemoryLevel<string, string>({ valueEncoding: 'utf8' });
  const batches: BatchOp[][] = [];
  const spy = withBatch(db, async (ops) => {
    batches.push(ops);
    return db.batch(asLevelOps(ops));
  });
  const store = new LevelStateStore(spy);
  await store.open();
  t.teardown(() => store.close());
  await store.commitShard(
    'sh-1',
    {
      puts: [
        ['a', 1],
        ['b', 2],
      ],
      dels: ['c'],
    },
    cp('5', 50),
  );
  t.equal(batches.length, 1);
  t.same(
    batches[0]?.map((op) => `${op.type} ${op.key}`),
    ['del s/sh-1/e/c', 'put s/sh-1/e/a', 'put s/sh-1/e/b', 'put s/sh-1/checkpoint'],
  );
  await store.replaceStolenCards(['4111111111111111', '5555555555554444']);
  await store.deleteShard('sh-1');
  t.equal(batches.length, 3, 'replacing cards and deleting a shard are one batch each');
});

t.test('a batch the database refuses leaves nothing behind', async (t) => {
  const db = new MemoryLevel<string, string>({ valueEncoding: 'utf8' });
  let fail = false;
  const flaky = withBatch(db, async (ops) => {
    if (fail) throw new Error('disk full');
    return db.batch(asLevelOps(ops));
  });
  const store = new LevelStateStore(flaky);
  await store.open();
  t.teardown(() => store.close());
  await store.commitShard('sh-1', { puts: [['a', 1]], dels: [] }, cp('1', 1));
  fail = true;
  await t.rejects(store.commitShard('sh-1', { puts: [['b', 2]], dels: ['a'] }, cp('2', 2)), /disk full/);
  t.same(await store.loadShard('sh-1'), { entries: [['a', 1]], checkpoint: cp('1', 1) });
});

t.test('a corrupt checkpoint is reported, not returned', async (t) => {
  const db = new MemoryLevel<string, string>({ valueEncoding: 'utf8' });
  const store = new LevelStateStore(db);
  await store.open();
  t.teardown(() => store.close());
  await db.put('s/sh-1/checkpoint', '{"sequenceNumber":5}');
  await t.rejects(store.loadShard('sh-1'), { code: 'STATE_CORRUPT' });
  await db.put('s/sh-1/checkpoint', 'not json');
  await t.rejects(store.loadShard('sh-1'), { code: 'STATE_CORRUPT' });
});
