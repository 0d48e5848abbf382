/**
 * Lease test helpers: a real dynalite per test (closed by t.teardown), a fake clock that only moves
 * when told, and several LeaseManager workers in one process sharing one table.
 */
import type { Test } from 'tap';
import type { Shard } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { pino } from 'pino';
import { startDynamoEmulator } from '../../../deploy/local/dynamodb-emulator.js';
import { createDynamoClient } from '../../src/lease/dynamo.js';
import { LeaseManager } from '../../src/lease/manager.js';
import type { LeaseManagerOptions } from '../../src/lease/options.js';
import type { Lease } from '../../src/lease/types.js';
import { seeded } from '../../../common/test/helpers.js';

export { seeded };

export const silent = pino({ level: 'silent' });

/** An in-memory dynalite on a free port and a client for it; both closed when the test ends. */
export async function withDynamo(t: Test): Promise<{ endpoint: string; client: DynamoDBClient }> {
  const emulator = await startDynamoEmulator();
  const client = createDynamoClient({ region: 'us-east-1', endpoint: emulator.endpoint });
  t.teardown(async () => {
    client.destroy();
    await emulator.close();
  });
  return { endpoint: emulator.endpoint, client };
}

/** Epoch ms that move only by advance(). */
export class FakeClock {
  ms: number;
  constructor(start = 1_700_000_000_000) {
    this.ms = start;
  }
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export const FAILOVER_MS = 10_000;

export function makeWorker(client: DynamoDBClient, table: string, workerId: string, clock: FakeClock, extra: Partial<LeaseManagerOptions> = {}): LeaseManager {
  return new LeaseManager({
    dynamo: client,
    table,
    workerId,
    failoverTimeMs: FAILOVER_MS,
    now: clock.now,
    random: seeded([...workerId].reduce((h, c) => h * 31 + c.charCodeAt(0), 7)),
    retry: { attempts: 3, backoff: { initialMs: 1, factor: 2, maxMs: 5, jitter: 0 } },
    log: silent,
    ...extra,
  });
}

export const shardId = (i: number): string => `shardId-${String(i).padStart(12, '0')}`;

/** A shard as ListShards returns it; `closed` gives it an ending sequence number. */
export function shard(i: number, options: { parents?: number[]; closed?: boolean } = {}): Shard {
  const [parent, adjacent] = options.parents ?? [];
  return {
    ShardId: shardId(i),
    ...(parent !== undefined ? { ParentShardId: shardId(parent) } : {}),
    ...(adjacent !== undefined ? { AdjacentParentShardId: shardId(adjacent) } : {}),
    HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
    SequenceNumberRange: {
      StartingSequenceNumber: String(10 * i + 1),
      ...(options.closed ? { EndingSequenceNumber: String(10 * i + 9) } : {}),
    },
  };
}

/** `count` open shards without parents. */
export function openShards(count: number, from = 0): Shard[] {
  return Array.from({ length: count }, (_, i) => shard(from + i));
}

/**
 * Asserts the table and the workers agree: every lease is held by at most one worker, and a lease
 * a worker holds names that worker as leaseOwner. Call it after the round's renewals, when every
 * worker has had the chance to learn about a steal.
 */
export async function assertExclusive(t: Test, workers: readonly LeaseManager[], leases: readonly Lease[], what: string): Promise<void> {
  for (const lease of leases) {
    const holders = workers.filter((w) => w.held().includes(lease.leaseKey)).map((w) => w.workerId);
    if (holders.length > 1) t.fail(`${what}: ${lease.leaseKey} held by ${holders.join(' and ')}`);
    if (holders.length === 1 && holders[0] !== lease.leaseOwner) {
      t.fail(`${what}: ${lease.leaseKey} held by ${holders[0]} but the table names ${lease.leaseOwner}`);
    }
  }
}

/** Leases per owner in the table (owners of finished leases included). */
export function ownerCounts(leases: readonly Lease[], workerIds: readonly string[]): Map<string, number> {
  const counts = new Map(workerIds.map((w) => [w, 0]));
  for (const l of leases) if (l.leaseOwner !== undefined) counts.set(l.leaseOwner, (counts.get(l.leaseOwner) ?? 0) + 1);
  return counts;
}

/**
 * One round as start() would run it: every worker rebalances, then every worker renews, then the
 * table is checked for exclusive ownership. Returns the table as it stood after the round.
 */
export async function round(t: Test, workers: readonly LeaseManager[], what: string): Promise<Lease[]> {
  for (const w of workers) await w.rebalance();
  for (const w of workers) await w.renew();
  const leases = await workers[0]!.snapshot();
  await assertExclusive(t, workers, leases, what);
  return leases;
}

export function spread(counts: ReadonlyMap<string, number>): number {
  const values = [...counts.values()];
  return Math.max(...values) - Math.min(...values);
}
