/**
 * The record of recent payments kept as files beside LevelDB (state/entry-files.ts): where the
 * files go, and how they keep step with the checkpoint that LevelDB holds.
 */
import t, { type Test } from 'tap';
import { access, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { LevelStateStore, openStateStore, StateStoreError, type ShardCheckpoint } from '../../src/state/index.js';
import { FILE_KEY } from '../../src/state/entry-files.js';
import type { BatchOp } from '../../src/state/level-store.js';
import { recentKey } from '../../src/engine/recent.js';
import { asLevelOps, withBatch } from './helpers.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sca-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const cp = (sequenceNumber: string, watermarkMs = 0): ShardCheckpoint => ({ sequenceNumber, watermarkMs, shardEnd: false });
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
const part = (bucket: number, n: number) => recentKey(bucket * 10_000, n);
/** A part's value as the engine commits it: its text as a JSON string, in UTF-8 bytes. */
const json = (text: string) => Buffer.from(JSON.stringify(text), 'latin1');

/** A memory-level store with files in `filesDir`, whose batches `before` sees first (and may refuse). */
function storeWith(filesDir: string, before: (ops: BatchOp[]) => Promise<void> = async () => {}) {
  const db = new MemoryLevel<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8', storeEncoding: 'view' });
  const level = withBatch(db, async (ops) => {
    await before(ops);
    await db.batch(asLevelOps(ops));
  });
  return new LevelStateStore(level, { keepsByteArrays: true, filesDir });
}

t.test("the engine's record keys are the ones kept as files", async (t) => {
  t.match(recentKey(1_765_000_000_000, 0), FILE_KEY);
  t.match(recentKey(1_765_000_000_000, 123), FILE_KEY);
  t.notMatch('panes/1765000000000/0000000000001', FILE_KEY);
});

t.test('on disk: record parts are files in <STATE_DIR>/entries, not LevelDB keys; read back in key order among the rest', async (t) => {
  const dir = join(await tempDir(t), 'db');
  const store = await openStateStore({ kind: 'leveldb', dir });
  const puts: [string, unknown][] = [
    ['meta', { v: 1 }],
    [part(2, 1), json('bb')],
    [part(1, 1), json('aa')],
    ['win/1', [1]],
  ];
  await store.commitShard('shardId-000', { puts, dels: [] }, cp('7'));
  t.ok(await exists(join(dir, 'entries', 's-shardId-000', ...part(1, 1).split('/'))), 'a part is a file named by its key');
  const loaded = await store.loadShard('shardId-000');
  t.same(
    loaded.entries,
    [
      ['meta', { v: 1 }],
      [part(1, 1), 'aa'],
      [part(2, 1), 'bb'],
      ['win/1', [1]],
    ],
    'files and database entries together, in key order, values parsed',
  );
  const exported = await store.exportShard('shardId-000');
  const texts: [string, string][] = [];
  for await (const e of exported.entries) texts.push(e);
  t.same(texts[1], [part(1, 1), '"aa"'], 'exported as the JSON text committed');
  const stats = await store.stats();
  t.equal(stats.keys, 2 + 2 + 1, 'stats count the files (meta, win, two parts, the checkpoint)');
  await store.close();
  const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  const keys = await db.keys().all();
  await db.close();
  t.notOk(
    keys.some((k) => k.includes('recent/')),
    'no record part in LevelDB',
  );
});

t.test('a part is written before the batch that commits it, and deleted after the batch that deletes it', async (t) => {
  const files = await tempDir(t);
  const path = (key: string) => join(files, 's-sh', ...key.split('/'));
  const seen: string[] = [];
  const store = storeWith(files, async () => {
    seen.push(`${await exists(path(part(1, 1)))}/${await exists(path(part(1, 2)))}`);
  });
  await store.open();
  await store.commitShard('sh', { puts: [[part(1, 1), json('a')]], dels: [] }, cp('1'));
  await store.commitShard('sh', { puts: [[part(1, 2), json('b')]], dels: [part(1, 1)] }, cp('2'));
  t.same(seen, ['true/false', 'true/true'], 'at each batch: the new part is on disk, the deleted one still is');
  t.notOk(await exists(path(part(1, 1))), 'deleted once its batch is in');
  await store.commitShard('sh', { puts: [[part(1, 3), json('c')]], dels: [part(1, 3), part(1, 2)] }, cp('3'));
  t.ok(await exists(path(part(1, 3))), 'a part both deleted and put in one commit ends up put, as in the database');
  await store.commitShard('sh', { puts: [], dels: [part(1, 3)] }, cp('4'));
  t.same(await readdir(join(files, 's-sh', 'recent')), [], "a bucket's directory goes with its last part");
});

t.test('a batch refused after its files were written (a crash between): the part is read back beside the old checkpoint', async (t) => {
  const files = await tempDir(t);
  let refuse = false;
  const store = storeWith(files, async () => {
    if (refuse) throw new Error('disk gone');
  });
  await store.open();
  await store.commitShard('sh', { puts: [[part(1, 1), json('a')]], dels: [] }, cp('1'));
  refuse = true;
  await t.rejects(store.commitShard('sh', { puts: [[part(1, 2), json('b')]], dels: [part(1, 1)] }, cp('2')), /disk gone/);
  const loaded = await store.loadShard('sh');
  t.same(loaded.checkpoint, cp('1'), 'the checkpoint before');
  t.same(
    loaded.entries.map(([k]) => k),
    [part(1, 1), part(1, 2)],
    'the deleted part is still there and the new one too (its payments are replayed and found once: engine test)',
  );
});

t.test('an export beside a commit in progress leaves its temporary file alone', async (t) => {
  const files = await tempDir(t);
  const store = storeWith(files);
  await store.open();
  await store.commitShard('sh', { puts: [[part(1, 1), json('a')]], dels: [] }, cp('1'));
  // A write that has not yet been renamed, as a commit running beside the export leaves it.
  const writing = join(files, 's-sh', ...part(1, 2).split('/')) + '.tmp';
  await writeFile(writing, '"b"');
  const exported = await store.exportShard('sh');
  const read: string[] = [];
  for await (const [key] of exported.entries) read.push(key);
  t.same(read, [part(1, 1)], 'not an entry');
  t.ok(await exists(writing), 'and still there for its commit to rename');
});

t.test('files of a shard without a checkpoint (a crash before its first batch) are no state, and a scan removes them', async (t) => {
  const files = await tempDir(t);
  const store = storeWith(files, async () => {
    throw new Error('crash before the batch');
  });
  await store.open();
  await t.rejects(
    store.commitShard(
      'child',
      {
        puts: [
          [part(1, 1), json('a')],
          ['meta', 1],
        ],
        dels: [],
      },
      cp('1'),
    ),
  );
  t.ok(await exists(join(files, 's-child')), 'the part was written before the batch failed');
  const exported = await store.exportShard('child');
  for await (const _ of exported.entries) t.fail('an export of a shard never committed holds nothing');
  const loaded = await store.loadShard('child');
  t.same([loaded.checkpoint, loaded.entries], [undefined, []], 'the shard looks as never stored (a restore then inherits or starts empty)');
  t.notOk(await exists(join(files, 's-child')), 'and its files are gone');
});

t.test('an export keeps every file it listed until it is read, however many purges land meanwhile', async (t) => {
  const files = await tempDir(t);
  const store = storeWith(files);
  await store.open();
  await store.commitShard(
    'sh',
    {
      puts: [
        [part(1, 1), json('a')],
        ['meta', 1],
      ],
      dels: [],
    },
    cp('1'),
  );
  const exported = await store.exportShard('sh');
  await store.commitShard('sh', { puts: [], dels: [part(1, 1)] }, cp('2'));
  const read: string[] = [];
  for await (const [key] of exported.entries) read.push(key);
  t.same(read, ['meta', part(1, 1)], 'the purged part is exported');
  t.notOk(await exists(join(files, 's-sh', ...part(1, 1).split('/'))), 'and removed once the export is done');
});

t.test('a temporary file (a write cut short) is not an entry and is cleared; deleteShard removes every file', async (t) => {
  const files = await tempDir(t);
  const store = storeWith(files);
  await store.open();
  await store.commitShard('sh', { puts: [[part(1, 1), json('a')]], dels: [] }, cp('1'));
  const cut = join(files, 's-sh', ...part(1, 2).split('/')) + '.tmp';
  await writeFile(cut, '"half');
  t.same(
    (await store.loadShard('sh')).entries.map(([k]) => k),
    [part(1, 1)],
  );
  t.notOk(await exists(cut), 'cleared');
  await store.deleteShard('sh');
  t.notOk(await exists(join(files, 's-sh')), 'no file of the shard is left');
  t.same((await store.loadShard('sh')).entries, []);
});

t.test('files that cannot be written: STATE_FILES_FAILED, and the batch is not committed', async (t) => {
  const parent = await tempDir(t);
  const files = join(parent, 'not-a-dir');
  await writeFile(files, 'a file where the directory should be');
  const store = storeWith(files);
  await store.open();
  await store.commitShard('sh', { puts: [['meta', 1]], dels: [] }, cp('1'));
  const error = await store
    .commitShard(
      'sh',
      {
        puts: [
          [part(1, 1), json('a')],
          ['meta', 2],
        ],
        dels: [],
      },
      cp('2'),
    )
    .catch((e: unknown) => e);
  t.type(error, StateStoreError);
  t.equal((error as StateStoreError).code, 'STATE_FILES_FAILED');
  t.match((error as Error).message, /could not write recent\//);
  await rm(files);
  const loaded = await store.loadShard('sh');
  t.same([loaded.checkpoint, loaded.entries], [cp('1'), [['meta', 1]]], 'state and checkpoint as before');
});
