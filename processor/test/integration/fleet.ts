/**
 * A fleet of processors sharing one DynamoDB lease table (dynalite), for the lease integration
 * tests: start workers, read the table, tell when the spread has settled, and check from the
 * processors' own logs that no shard was ever RUNNING on two workers at once.
 */
import type { Test } from 'tap';
import { join } from 'node:path';
import { withDynamo } from '../lease/helpers.js';
import { LeaseTable } from '../../src/lease/table.js';
import { freePort, type startStack } from './harness.js';

export const FAILOVER_MS = 10_000;
export const RENEW_MS = Math.floor(FAILOVER_MS / 3);
const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString().slice(11, 23) : 'open');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Stack = Awaited<ReturnType<typeof startStack>>;
type Proc = Awaited<ReturnType<Stack['startProcessor']>>;

export async function fleet(t: Test, stack: Stack) {
  const dynamo = await withDynamo(t);
  const table = new LeaseTable(dynamo.client, 'leases');
  const procs = new Map<string, Proc>();
  const killedAt = new Map<string, number>();
  const outputs = new Map<string, () => string>();
  const start = async (id: string, extra: Record<string, string> = {}) => {
    const p = await stack.startProcessor({
      LEASE_TABLE: 'leases',
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      WORKER_ID: id,
      FAILOVER_TIME_MS: String(FAILOVER_MS),
      HTTP_PORT: String(await freePort()),
      STATE_DIR: join(stack.dir, `state-${id}`),
      LOG_LEVEL: process.env.FLEET_LOG_LEVEL ?? 'info',
      ...extra,
    });
    procs.set(id, p);
    if (process.env.FLEET_LOG_DIR) {
      const { writeFileSync } = await import('node:fs');
      t.teardown(() => writeFileSync(join(process.env.FLEET_LOG_DIR!, `${id}.log`), p.output.stdout + p.output.stderr));
    }
    outputs.set(id, () => p.output.stdout);
    return p;
  };
  const owners = async () => {
    const leases = (await table.scan().catch(() => [])).filter((l) => l.checkpoint !== 'SHARD_END');
    const byWorker = new Map<string, string[]>();
    for (const l of leases) if (l.leaseOwner) byWorker.set(l.leaseOwner, [...(byWorker.get(l.leaseOwner) ?? []), l.leaseKey]);
    return { leases, byWorker, unowned: leases.filter((l) => !l.leaseOwner).length };
  };
  /** Every open lease owned, by exactly the given workers, within one of even. */
  const settled = async (workers: string[], shards: number) => {
    const o = await owners();
    if (o.leases.length !== shards || o.unowned > 0) return false;
    if ([...o.byWorker.keys()].some((w) => !workers.includes(w))) return false;
    const counts = workers.map((w) => o.byWorker.get(w)?.length ?? 0);
    return Math.max(...counts) - Math.min(...counts) <= 1;
  };
  /** RUNNING intervals per shard from every processor's log; true when two workers overlap. */
  const overlaps = () => {
    const intervals: { shard: string; worker: string; from: number; to: number }[] = [];
    for (const [worker, out] of outputs) {
      const open = new Map<string, number>();
      for (const line of out().split('\n')) {
        if (!line.includes('"shard state"')) continue;
        const e = JSON.parse(line) as { shardId: string; state: string; time: string };
        const at = Date.parse(e.time);
        if (e.state === 'RUNNING') open.set(e.shardId, at);
        if (e.state === 'CLOSED' && open.has(e.shardId)) {
          intervals.push({ shard: e.shardId, worker, from: open.get(e.shardId)!, to: at });
          open.delete(e.shardId);
        }
      }
      // A worker killed with SIGKILL logs no CLOSED: it stopped emitting when it was killed.
      for (const [shard, from] of open) intervals.push({ shard, worker, from, to: killedAt.get(worker) ?? Infinity });
    }
    const found: string[] = [];
    for (const a of intervals) {
      for (const b of intervals) {
        if (a.worker < b.worker && a.shard === b.shard && a.from < b.to && b.from < a.to)
          found.push(`${a.shard}: ${a.worker} [${iso(a.from)}, ${iso(a.to)}] and ${b.worker} [${iso(b.from)}, ${iso(b.to)}]`);
      }
    }
    return { intervals: intervals.length, found };
  };
  const kill9 = async (id: string) => {
    killedAt.set(id, Date.now());
    procs.get(id)!.child.kill('SIGKILL');
    await procs.get(id)!.exit;
  };
  return { procs, start, owners, settled, overlaps, table, kill9 };
}
