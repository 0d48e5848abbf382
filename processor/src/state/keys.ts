/**
 * Key layout of the state store. Every key is a UTF-8 string; LevelDB orders keys by their bytes,
 * which for UTF-8 is Unicode code point order. The layout is chosen so that every read the
 * processor makes is one contiguous range scan:
 *
 *   s/<shardId>/checkpoint       the shard's checkpoint (JSON ShardCheckpoint)
 *   s/<shardId>/e/<engineKey>    one engine state entry of the shard (JSON value)
 *   stolen/<cardNumber>          one stolen card (value `1`); the whole set is rewritten at start
 *
 * - A shard id never contains '/', so `s/<shardId>/` is a prefix of that shard's keys only, and
 *   its range ends just before `s/<shardId>0` ('0' is the byte after '/'). `s/a-1/…` and
 *   `s/a0/…` fall outside `s/a/…`'s range because '-' < '/' < '0'.
 * - `checkpoint` sorts before `e/`, so the entries range `s/<shardId>/e/` … `s/<shardId>/e0`
 *   holds engine entries only, in engine-key order.
 * - `stolen/` sorts after every `s/…` key ('t' > '/'), so listing shards never meets a card.
 * Engine keys are opaque: any string, '/' included (it is the last segment).
 */

/** Kinesis shard ids look like `shardId-000000000001`; anything without '/' would do. */
const SHARD_ID = /^[A-Za-z0-9_.-]{1,128}$/;

export interface KeyRange {
  readonly gte: string;
  readonly lt: string;
}

export function assertShardId(shardId: string): void {
  if (!SHARD_ID.test(shardId)) {
    throw new TypeError(`invalid shard id ${JSON.stringify(shardId)}: expected 1-128 of [A-Za-z0-9_.-]`);
  }
}

const SHARDS_PREFIX = 's/';
const STOLEN_PREFIX = 'stolen/';

/** The next string after every string starting with `prefix` ending in '/': '/' + 1 is '0'. */
const endOf = (prefixEndingInSlash: string): string => `${prefixEndingInSlash.slice(0, -1)}0`;

export const keys = {
  checkpoint(shardId: string): string {
    return `${SHARDS_PREFIX}${shardId}/checkpoint`;
  },
  entry(shardId: string, engineKey: string): string {
    return `${SHARDS_PREFIX}${shardId}/e/${engineKey}`;
  },
  /** Inverse of `entry` for a key known to belong to `shardId`'s entry range. */
  engineKeyOf(shardId: string, storeKey: string): string {
    return storeKey.slice(`${SHARDS_PREFIX}${shardId}/e/`.length);
  },
  /** Every engine entry of one shard. */
  entries(shardId: string): KeyRange {
    const prefix = `${SHARDS_PREFIX}${shardId}/e/`;
    return { gte: prefix, lt: endOf(prefix) };
  },
  /** Every key of one shard: its entries and its checkpoint. */
  shard(shardId: string): KeyRange {
    const prefix = `${SHARDS_PREFIX}${shardId}/`;
    return { gte: prefix, lt: endOf(prefix) };
  },
  /** Every key of every shard. */
  allShards: { gte: SHARDS_PREFIX, lt: endOf(SHARDS_PREFIX) } as KeyRange,
  /** The shard id a key of `allShards` belongs to. */
  shardIdOf(storeKey: string): string {
    const end = storeKey.indexOf('/', SHARDS_PREFIX.length);
    return storeKey.slice(SHARDS_PREFIX.length, end === -1 ? undefined : end);
  },
  stolen(cardNumber: string): string {
    return `${STOLEN_PREFIX}${cardNumber}`;
  },
  cardOf(storeKey: string): string {
    return storeKey.slice(STOLEN_PREFIX.length);
  },
  allStolen: { gte: STOLEN_PREFIX, lt: endOf(STOLEN_PREFIX) } as KeyRange,
  /** Every key this layout can produce (all start with an ASCII letter below DEL). */
  everything: { gte: '', lt: '\x7f' } as KeyRange,
} as const;
