/**
 * Processors sharing one lease table, each reaching Kinesis through its own proxy that records
 * every output record it forwards (when, and to which shard its key routes it): so a test can tell
 * exactly who emitted for which shard and when, on the test's own clock, whatever the processes'
 * clocks say. Alerts and summaries are keyed by card, so the shard an output record lands on is
 * the input shard it was emitted for.
 */
import type { Test } from 'tap';
import { join } from 'node:path';
import { startChaosProxy, type ChaosProxy } from '../../../common/test/chaos-proxy.js';
import { freePort } from '../../../deploy/local/loopback.js';
import { withDynamo } from '../lease/helpers.js';
import { LeaseTable } from '../../src/lease/table.js';
import type { startStack } from '../integration/harness.js';
import { getJson, logLines, shardOf, shardRanges } from './helpers.js';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Proc = Awaited<ReturnType<Stack['startProcessor']>>;

export interface Emission {
  worker: string;
  shard: string;
  at: number;
}

export interface Worker {
  id: string;
  proc: Proc;
  port: number;
  kinesis: ChaosProxy;
  dynamo: ChaosProxy;
  logs: ReturnType<typeof logLines>;
}

export const FAILOVER_MS = 10_000;
export const RENEW_MS = Math.floor(FAILOVER_MS / 3);

export async function leasedFleet(t: Test, stack: Stack) {
  const dynamo = await withDynamo(t);
  const table = new LeaseTable(dynamo.client, 'leases');
  const ranges = await shardRanges(stack.kinesis.client, stack.kinesis.stream);
  const emissions: Emission[] = [];
  const workers = new Map<string, Worker>();
  // Alerts and summaries are keyed by their card's token: the shard they were emitted for is their
  // card's input shard (anything else, e.g. a misrouted payment's copy, by its own key).
  const shardOfToken = new Map([...stack.stolen].map((c) => [stack.tokenizer.token(c), shardOf(ranges, c)]));
  const emittedFor = (key: string) => shardOfToken.get(key) ?? shardOf(ranges, key);

  async function start(id: string, env: Record<string, string> = {}): Promise<Worker> {
    const kinesis = await startChaosProxy(t, stack.kinesis.endpoint);
    const dynamoProxy = await startChaosProxy(t, dynamo.endpoint);
    kinesis.onRequest((op, body: { Records?: Array<{ PartitionKey: string }> }) => {
      if (op === 'PutRecords') {
        const at = Date.now();
        for (const r of body.Records ?? []) emissions.push({ worker: id, shard: emittedFor(r.PartitionKey), at });
      }
      return undefined;
    });
    const port = await freePort();
    const proc = await stack.startProcessor({
      LEASE_TABLE: 'leases',
      DYNAMODB_ENDPOINT: dynamoProxy.endpoint,
      KINESIS_ENDPOINT: kinesis.endpoint,
      WORKER_ID: id,
      FAILOVER_TIME_MS: String(FAILOVER_MS),
      HTTP_PORT: String(port),
      STATE_DIR: join(stack.dir, `state-${id}`),
      LOG_LEVEL: 'info',
      ...env,
    });
    const w: Worker = { id, proc, port, kinesis, dynamo: dynamoProxy, logs: logLines(proc.child) };
    // FAULT_LOG_DIR=dir keeps each worker's output there, to read after a failure.
    if (process.env.FAULT_LOG_DIR) {
      const { writeFileSync } = await import('node:fs');
      t.teardown(() => writeFileSync(join(process.env.FAULT_LOG_DIR!, `${id}.log`), proc.output.stdout + proc.output.stderr));
    }
    workers.set(id, w);
    return w;
  }

  /** Lease owners of the open shards, by shard. */
  async function owners(): Promise<Map<string, string | undefined>> {
    const leases = (await table.scan().catch(() => [])).filter((l) => l.checkpoint !== 'SHARD_END');
    return new Map(leases.map((l) => [l.leaseKey, l.leaseOwner]));
  }

  /** Every open shard owned, each worker of `ids` holding `per` of them. */
  async function settled(ids: string[], per: number): Promise<boolean> {
    const o = await owners();
    if (o.size !== ranges.length || [...o.values()].some((w) => w === undefined)) return false;
    return ids.every((id) => [...o.values()].filter((w) => w === id).length === per);
  }

  /**
   * Per shard, the spans [first, last] during which each worker emitted for it after `from`; two
   * workers' spans on one shard that overlap (by more than `slackMs`) are two emitters at once.
   */
  function emitters(from: number, slackMs = 0): { spans: Map<string, Map<string, [number, number]>>; overlapping: string[] } {
    const spans = new Map<string, Map<string, [number, number]>>();
    for (const e of emissions) {
      if (e.at < from) continue;
      const byWorker = spans.get(e.shard) ?? new Map<string, [number, number]>();
      spans.set(e.shard, byWorker);
      const s = byWorker.get(e.worker);
      if (s) s[1] = e.at;
      else byWorker.set(e.worker, [e.at, e.at]);
    }
    const overlapping: string[] = [];
    for (const [shard, byWorker] of spans) {
      const list = [...byWorker];
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const [a, [a0, a1]] = list[i]!;
          const [b, [b0, b1]] = list[j]!;
          if (a0 + slackMs < b1 && b0 + slackMs < a1) overlapping.push(`${shard}: ${a} emitted ${iso(a0)}–${iso(a1)}, ${b} ${iso(b0)}–${iso(b1)}`);
        }
      }
    }
    return { spans, overlapping };
  }

  return { start, owners, settled, emitters, emissions, workers, ranges, table };
}

const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** Every shard of `port`'s processor RUNNING with a watermark within 5 s of now: it is processing. */
export async function processing(port: number, shards: number): Promise<boolean> {
  const r = await getJson(port, '/ready').catch(() => undefined);
  const list = (r?.body?.shards ?? []) as Array<{ state: string; watermarkLagMs: number | null }>;
  return list.length === shards && list.every((s) => s.state === 'RUNNING' && s.watermarkLagMs !== null && s.watermarkLagMs < 5_000);
}
