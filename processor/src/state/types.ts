/**
 * The state store contract. The store owns the LevelDB handle; the engine hands it change sets,
 * the source hands it checkpoints, and http only ever sees numbers derived from `stats()`.
 *
 * Performance note: every write is a LevelDB batch (one per commit, one for the stolen-card
 * set), never a put per key. A batch is one write-ahead-log append, so committing N changes costs
 * about one write, and callers should commit per shard per flush interval, not per record.
 */

/**
 * What the engine changed in one shard since the last commit. Values must survive a
 * `JSON.stringify` → `JSON.parse` round trip (plain objects, arrays, strings, finite numbers,
 * booleans, null), or be a Uint8Array holding JSON text already encoded as UTF-8 (written as it
 * is, read back parsed like any other value). `dels` are applied before `puts`, so a key in both
 * ends up put.
 */
export interface ChangeSet {
  readonly puts: ReadonlyArray<readonly [key: string, value: unknown]>;
  readonly dels: readonly string[];
}

/**
 * How far a shard has been processed. Restart reads from AFTER_SEQUENCE_NUMBER `sequenceNumber`
 * (or from the configured start when it is null) with the engine state committed beside it.
 */
export interface ShardCheckpoint {
  /** Last Kinesis sequence number whose effects are in the committed state; null before any. */
  readonly sequenceNumber: string | null;
  /** The shard's watermark (event time, epoch ms) at that point; finite. */
  readonly watermarkMs: number;
  /** True once the shard was read to its end (Kinesis SHARD_END) and its windows flushed. */
  readonly shardEnd: boolean;
  /**
   * Names this line of state: a random id given when the state began (empty, rebuilt by replay or
   * inherited from parents) and kept by every later commit. The lease checkpoint carries it too,
   * so that a restart can tell its own state from a state someone else went on with.
   */
  readonly stateId?: string;
}

export interface LoadedShard {
  /** Every engine entry of the shard, in key order (UTF-8 byte order). */
  readonly entries: Array<[key: string, value: unknown]>;
  /** Undefined when the shard was never committed. */
  readonly checkpoint: ShardCheckpoint | undefined;
}

/**
 * One shard exactly as it was stored at the moment `exportShard` was called (a LevelDB snapshot),
 * however many commits land while it is read: what a state snapshot is written from.
 */
export interface ShardExport {
  /** Undefined when the shard was never committed. */
  readonly checkpoint: ShardCheckpoint | undefined;
  /** Every engine entry in key order, values as the JSON text stored; readable once. */
  readonly entries: AsyncIterable<[key: string, json: string]>;
}

export interface StoreStats {
  /** Number of keys in the store (engine entries, checkpoints and stolen cards), entries kept as files included. */
  readonly keys: number;
  /**
   * Size estimate in bytes. LevelDB: on-disk size from `approximateSize` (compressed tables; the
   * write buffer not yet flushed, at most a few MiB, is not counted). Memory: UTF-8 bytes of
   * every key and value. Entries kept as files (entry-files.ts) add their files' bytes.
   */
  readonly approximateBytes: number;
}

export interface StateStore {
  /** Opens the backend; idempotent. `openStateStore` returns a store already open. */
  open(): Promise<void>;
  /** Closes the backend; idempotent. Pending writes finish first. */
  close(): Promise<void>;

  /**
   * Writes a shard's changes and its checkpoint in ONE atomic batch, checkpoint last.
   *
   * Commit order is the delivery guarantee. The caller must have had every output record up to
   * `checkpoint` acknowledged by the sink BEFORE calling this; then state and checkpoint land
   * together or not at all. A crash before this call replays from the previous checkpoint with the
   * previous state, so at most un-checkpointed output is emitted again (at-least-once) and no state
   * is lost or applied twice. The checkpoint is the last op so that, even if a backend ever had to
   * split the batch, the checkpoint would never be durable ahead of the state it describes.
   *
   * Encoding problems (a value JSON cannot represent, an invalid shard id, a non-finite
   * watermark) throw before anything is written.
   */
  commitShard(shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint): Promise<void>;

  /** One range scan for the entries plus one read for the checkpoint. */
  loadShard(shardId: string): Promise<LoadedShard>;

  /**
   * The shard's entries in key order, read a chunk at a time: a restore builds its engine from
   * them without ever holding the whole stored state (hundreds of MB for a busy shard) beside it.
   */
  scanShard(shardId: string): AsyncIterable<[key: string, value: unknown]>;

  /**
   * A consistent export of one shard (see ShardExport). The view is fixed before this returns its
   * promise's first tick, so calling it right after a commit landed exports that commit's state.
   */
  exportShard(shardId: string): Promise<ShardExport>;

  /** The shard's checkpoint alone (one read); undefined when the shard was never committed. */
  loadCheckpoint(shardId: string): Promise<ShardCheckpoint | undefined>;

  /** Removes every key of the shard (entries and checkpoint) in one atomic batch. */
  deleteShard(shardId: string): Promise<void>;

  /** Every shard with at least one key, in shard-id order. Costs one seek per shard. */
  listShards(): Promise<string[]>;

  /**
   * Makes the stolen set exactly `cards`, atomically: cards no longer listed are deleted and new
   * ones put in ONE batch (at most 100 000 stolen cards, a few MiB of batch). The set is reloaded
   * from the cards file at every start; the store keeps it so that it can be read back cheaply.
   */
  replaceStolenCards(cards: Iterable<string>): Promise<void>;
  loadStolenCards(): Promise<Set<string>>;

  /**
   * Key count and size estimate for metrics. Counts keys with one key-only scan (O(keys)):
   * call it on a timer or per scrape, not per record.
   */
  stats(): Promise<StoreStats>;
}

export type StateStoreKind = 'leveldb' | 'memory';
