/**
 * The one StateStore implementation, over any abstract-level database holding UTF-8 strings:
 * classic-level (LevelDB on disk) in production, memory-level in tests and benches. Values are
 * JSON text written and parsed here, so that JSON `null` is storable (abstract-level refuses null
 * values) and every encoding error is thrown before a batch is handed to the database.
 */
import { z } from 'zod';
import { EntryFiles, isFileKey } from './entry-files.js';
import { StateStoreError } from './errors.js';
import { assertShardId, keys, type KeyRange } from './keys.js';
import type { ChangeSet, LoadedShard, ShardCheckpoint, ShardExport, StateStore, StoreStats } from './types.js';

export type BatchOp =
  | { type: 'put'; key: string; value: string }
  /** JSON already encoded as UTF-8 bytes: written as they are, read back as text like any other. */
  | { type: 'put'; key: string; value: Uint8Array; valueEncoding: 'view' }
  | { type: 'del'; key: string };

/** The part of abstract-level this store uses; ClassicLevel and MemoryLevel both satisfy it. */
export interface LevelLike {
  readonly status: string;
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: string): Promise<string | undefined>;
  batch(operations: BatchOp[]): Promise<void>;
  keys(options: KeyRange): {
    next(): Promise<string | undefined>;
    nextv(size: number): Promise<string[]>;
    seek(target: string): void;
    close(): Promise<void>;
  };
  iterator(options: KeyRange): {
    nextv(size: number): Promise<Array<[string, string]>>;
    close(): Promise<void>;
  };
}

export interface LevelStateStoreOptions {
  /** Directory of an on-disk database, for error messages. */
  dir?: string;
  /** On-disk size of a key range (classic-level's approximateSize); else bytes are counted. */
  approximateSize?: (gte: string, lt: string) => Promise<number>;
  /**
   * The database keeps the byte arrays it is given (memory-level) rather than copying them
   * (LevelDB): a value of encoded bytes, often a view into its writer's whole buffer, is then copied first, so
   * the store holds only its bytes and nothing the caller does later can change them.
   */
  keepsByteArrays?: boolean;
  /**
   * Where the entries that entry-files.ts names (the record of recent payments) are kept as
   * files instead of in the database; without it, they are kept in the database like the rest.
   */
  filesDir?: string;
}

const SCAN_CHUNK = 1000;
const STOLEN_VALUE = '1';

const checkpointSchema = z.strictObject({
  sequenceNumber: z.string().min(1).nullable(),
  watermarkMs: z.number().refine(Number.isFinite, 'must be finite'),
  shardEnd: z.boolean(),
  stateId: z.string().min(1).max(64).optional(),
});

function encodeValue(what: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new TypeError(`${what}: value is not JSON-serializable`, { cause });
  }
  if (text === undefined) throw new TypeError(`${what}: value is not JSON-serializable (${typeof value})`);
  return text;
}

function decodeValue(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new StateStoreError('STATE_CORRUPT', `${what}: stored value is not JSON`, { cause });
  }
}

/**
 * Takes from the front of `fileKeys` (sorted) every key before `key` (all when undefined) and
 * yields its entry: a shard's files, read between its database entries, in key order.
 */
async function* filesBefore<T>(key: string | undefined, fileKeys: string[], read: (key: string) => Promise<T>): AsyncGenerator<T> {
  while (fileKeys.length > 0 && (key === undefined || (fileKeys[0] as string) < key)) yield await read(fileKeys.shift() as string);
}

function isLockError(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === 'LEVEL_LOCKED') return true;
  }
  return false;
}

export class LevelStateStore implements StateStore {
  readonly #db: LevelLike;
  readonly #dir: string | undefined;
  readonly #approximateSize: LevelStateStoreOptions['approximateSize'];
  readonly #copyBytes: boolean;
  readonly #files: EntryFiles | undefined;

  constructor(db: LevelLike, options: LevelStateStoreOptions = {}) {
    this.#db = db;
    this.#dir = options.dir;
    this.#approximateSize = options.approximateSize;
    this.#copyBytes = options.keepsByteArrays ?? false;
    this.#files = options.filesDir === undefined ? undefined : new EntryFiles(options.filesDir);
  }

  async open(): Promise<void> {
    if (this.#db.status === 'open') return;
    try {
      await this.#db.open();
    } catch (cause) {
      const where = this.#dir ?? 'memory';
      if (isLockError(cause)) {
        throw new StateStoreError('STATE_LOCKED', `state store ${where} is locked by another process (or is already open in this one)`, {
          dir: this.#dir,
          retriable: true,
          cause,
        });
      }
      throw new StateStoreError('STATE_OPEN_FAILED', `state store ${where} could not be opened: ${(cause as Error).message}`, {
        dir: this.#dir,
        cause,
      });
    }
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  async commitShard(shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint): Promise<void> {
    assertShardId(shardId);
    const valid = checkpointSchema.safeParse(checkpoint);
    if (!valid.success) throw new TypeError(`commitShard(${shardId}): invalid checkpoint: ${valid.error.message}`);
    const files = this.#files;
    const ops: BatchOp[] = [];
    const filePuts: [string, Uint8Array | string][] = [];
    const fileDels: string[] = [];
    for (const key of changes.dels) {
      if (files && isFileKey(key)) fileDels.push(key);
      else ops.push({ type: 'del', key: keys.entry(shardId, key) });
    }
    for (const [key, value] of changes.puts) {
      const what = `commitShard(${shardId}) key ${JSON.stringify(key)}`;
      if (files && isFileKey(key)) {
        filePuts.push([key, value instanceof Uint8Array ? value : encodeValue(what, value)]);
      } else if (value instanceof Uint8Array) {
        ops.push({
          type: 'put',
          key: keys.entry(shardId, key),
          value: this.#copyBytes ? new Uint8Array(value) : value,
          valueEncoding: 'view',
        });
      } else ops.push({ type: 'put', key: keys.entry(shardId, key), value: encodeValue(what, value) });
    }
    // Last, see StateStore.commitShard: the checkpoint never becomes durable ahead of its state.
    ops.push({ type: 'put', key: keys.checkpoint(shardId), value: JSON.stringify(valid.data) });
    if (!files) {
      await this.#db.batch(ops);
      return;
    }
    // Files before the batch and removals after it (entry-files.ts says why); a key both deleted
    // and put in this change set ends up put, as in the database.
    await files.write(shardId, filePuts);
    await this.#db.batch(ops);
    const put = new Set(filePuts.map(([key]) => key));
    await files.remove(
      shardId,
      fileDels.filter((key) => !put.has(key)),
    );
  }

  async loadShard(shardId: string): Promise<LoadedShard> {
    const entries: Array<[string, unknown]> = [];
    for await (const entry of this.scanShard(shardId)) entries.push(entry);
    return { entries, checkpoint: await this.loadCheckpoint(shardId) };
  }

  async *scanShard(shardId: string): AsyncGenerator<[string, unknown]> {
    assertShardId(shardId);
    const fileKeys = this.#files ? await this.#ownFileKeys(shardId) : [];
    const it = this.#db.iterator(keys.entries(shardId));
    try {
      const read = async (key: string): Promise<[string, unknown]> => [key, decodeValue(`${shardId} file ${key}`, await this.#readFile(shardId, key))];
      for (let chunk = await it.nextv(SCAN_CHUNK); chunk.length > 0; chunk = await it.nextv(SCAN_CHUNK)) {
        for (const [storeKey, text] of chunk) {
          const key = keys.engineKeyOf(shardId, storeKey);
          yield* filesBefore(key, fileKeys, read);
          yield [key, decodeValue(storeKey, text)];
        }
      }
      yield* filesBefore(undefined, fileKeys, read);
    } finally {
      await it.close();
    }
  }

  /**
   * The keys of the shard's files, for a scan (a restore: nothing of the shard is being written,
   * so writes cut short are cleared). Files are written before the batch that writes a shard's
   * first checkpoint and removed after the batch that deletes it: files of a shard without a
   * checkpoint are left from a crash between the two, never state. They are removed, so that
   * they neither make the shard look stored nor join a later state of it.
   */
  async #ownFileKeys(shardId: string): Promise<string[]> {
    const files = this.#files as EntryFiles;
    if ((await this.#db.get(keys.checkpoint(shardId))) === undefined) {
      await files.removeShard(shardId);
      return [];
    }
    return files.keys(shardId, true);
  }

  #readFile(shardId: string, key: string): Promise<string> {
    return (this.#files as EntryFiles).read(shardId, key);
  }

  async exportShard(shardId: string): Promise<ShardExport> {
    assertShardId(shardId);
    // Created before the first await: LevelDB (and memory-level) iterators read the database as it
    // was when they were created, so later commits never show through. The files the export will
    // read stay until it is done (entry-files.ts).
    const it = this.#db.iterator(keys.shard(shardId));
    const files = this.#files;
    const endExport = files?.beginExport(shardId);
    const checkpointKey = keys.checkpoint(shardId);
    let first: Array<[string, string]>;
    let fileKeys: string[];
    try {
      first = await it.nextv(SCAN_CHUNK);
      // Without a checkpoint the shard has no state, and its files are none of it (#ownFileKeys).
      fileKeys = files && first[0]?.[0] === checkpointKey ? await files.keys(shardId) : [];
    } catch (error) {
      await it.close();
      await endExport?.();
      throw error;
    }
    // `checkpoint` sorts before `e/`, so when the shard has one it is the first key of its range.
    const checkpoint = first[0]?.[0] === checkpointKey ? this.#parseCheckpoint(shardId, first.shift()![1]) : undefined;
    const read = async (key: string): Promise<[string, string]> => [key, await this.#readFile(shardId, key)];
    async function* entries(): AsyncGenerator<[string, string]> {
      try {
        for (let chunk = first; chunk.length > 0; chunk = await it.nextv(SCAN_CHUNK)) {
          for (const [storeKey, text] of chunk) {
            const key = keys.engineKeyOf(shardId, storeKey);
            yield* filesBefore(key, fileKeys, read);
            yield [key, text];
          }
        }
        yield* filesBefore(undefined, fileKeys, read);
      } finally {
        await it.close();
        await endExport?.();
      }
    }
    return { checkpoint, entries: entries() };
  }

  async loadCheckpoint(shardId: string): Promise<ShardCheckpoint | undefined> {
    assertShardId(shardId);
    const text = await this.#db.get(keys.checkpoint(shardId));
    if (text === undefined) return undefined;
    return this.#parseCheckpoint(shardId, text);
  }

  #parseCheckpoint(shardId: string, text: string): ShardCheckpoint {
    const parsed = checkpointSchema.safeParse(decodeValue(keys.checkpoint(shardId), text));
    if (!parsed.success) {
      throw new StateStoreError('STATE_CORRUPT', `checkpoint of ${shardId} has an unexpected shape: ${parsed.error.message}`, {
        dir: this.#dir,
      });
    }
    return parsed.data;
  }

  async deleteShard(shardId: string): Promise<void> {
    assertShardId(shardId);
    // One batch rather than db.clear(): clear is not atomic in classic-level, and a half-deleted
    // shard could be left with entries but no checkpoint after a crash.
    const all = await this.#keysIn(keys.shard(shardId));
    if (all.length > 0) await this.#db.batch(all.map((key) => ({ type: 'del', key })));
    // After the batch: files left by a crash here are read back only with a new state of this shard,
    // as entries from its past that its first purges delete.
    await this.#files?.removeShard(shardId);
  }

  async listShards(): Promise<string[]> {
    const shards: string[] = [];
    const it = this.#db.keys(keys.allShards);
    try {
      for (let key = await it.next(); key !== undefined; key = await it.next()) {
        const shardId = keys.shardIdOf(key);
        shards.push(shardId);
        it.seek(keys.shard(shardId).lt); // skip the rest of this shard's keys
      }
    } finally {
      await it.close();
    }
    // Key order is by `<shardId>/`, which differs from shard-id order ('a-1/' < 'a/').
    return shards.sort();
  }

  async replaceStolenCards(cards: Iterable<string>): Promise<void> {
    const wanted = new Set<string>();
    for (const card of cards) {
      // Never echo the card itself: it must not reach a log line.
      if (typeof card !== 'string' || card.length === 0) throw new TypeError('replaceStolenCards: every card must be a non-empty string');
      wanted.add(card);
    }
    const ops: BatchOp[] = [];
    for (const storeKey of await this.#keysIn(keys.allStolen)) {
      if (!wanted.delete(keys.cardOf(storeKey))) ops.push({ type: 'del', key: storeKey });
    }
    // `wanted` now holds only the cards not stored yet.
    for (const card of wanted) ops.push({ type: 'put', key: keys.stolen(card), value: STOLEN_VALUE });
    if (ops.length > 0) await this.#db.batch(ops);
  }

  async loadStolenCards(): Promise<Set<string>> {
    return new Set((await this.#keysIn(keys.allStolen)).map((k) => keys.cardOf(k)));
  }

  async stats(): Promise<StoreStats> {
    const db = await this.#dbStats();
    if (!this.#files) return db;
    const files = await this.#files.size();
    return { keys: db.keys + files.files, approximateBytes: db.approximateBytes + files.bytes };
  }

  async #dbStats(): Promise<StoreStats> {
    const range = keys.everything;
    if (this.#approximateSize) {
      const it = this.#db.keys(range);
      let count = 0;
      try {
        for (let chunk = await it.nextv(SCAN_CHUNK); chunk.length > 0; chunk = await it.nextv(SCAN_CHUNK)) count += chunk.length;
      } finally {
        await it.close();
      }
      return { keys: count, approximateBytes: await this.#approximateSize(range.gte, range.lt) };
    }
    let count = 0;
    let bytes = 0;
    const it = this.#db.iterator(range);
    try {
      for (let chunk = await it.nextv(SCAN_CHUNK); chunk.length > 0; chunk = await it.nextv(SCAN_CHUNK)) {
        count += chunk.length;
        for (const [k, v] of chunk) bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
      }
    } finally {
      await it.close();
    }
    return { keys: count, approximateBytes: bytes };
  }

  async #keysIn(range: KeyRange): Promise<string[]> {
    const out: string[] = [];
    const it = this.#db.keys(range);
    try {
      for (let chunk = await it.nextv(SCAN_CHUNK); chunk.length > 0; chunk = await it.nextv(SCAN_CHUNK)) out.push(...chunk);
    } finally {
      await it.close();
    }
    return out;
  }
}
