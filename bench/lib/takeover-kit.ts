/**
 * Pieces shared by the take-over scenarios (takeover.ts: one shard, two processors; failover.ts:
 * several shards, a fleet, a backfilled history): waiting on children, reading a processor's
 * /metrics, finding the first alert emitted after a kill, and the new owner's own account of the
 * take-over from its log.
 */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Child } from './child.js';
import { startS3 } from './s3.js';
import { startDynamoEmulator } from '../../deploy/local/dynamodb-emulator.js';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { ReadCapProxy, KINESIS_READ_CAPS } from '../../common/test/read-cap-proxy.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What a take-over scenario runs against: the Kinesis emulator it brings, the read-cap proxy in
 * front of it (the processors' endpoint), dynalite (leases), s3rver with `bucket` (snapshots) and a
 * Kinesis client straight to the emulator (the bench's own reads, uncharged); close() stops all.
 */
export async function startTakeoverRig(kinesis: { endpoint: string; close(): Promise<void> }, bucket: string) {
  const proxy = new ReadCapProxy({ target: kinesis.endpoint, ...KINESIS_READ_CAPS });
  const proxyEndpoint = await proxy.start();
  const dynamo = await startDynamoEmulator();
  const s3 = await startS3([bucket]);
  const client = createKinesisClient({ region: 'us-east-1', endpoint: kinesis.endpoint });
  return {
    proxy,
    proxyEndpoint,
    dynamo,
    s3,
    client,
    close: async () => {
      client.destroy();
      await proxy.stop();
      await s3.close();
      await dynamo.close();
      await kinesis.close();
    },
  };
}

/** A shard id as Kinesis (and kinesalite) names the n-th shard of a new stream. */
export const shardIdOf = (n: number) => `shardId-${String(n).padStart(12, '0')}`;

export interface ShardMetrics {
  state?: string;
  behindLatestS?: number;
  watermarkLagS?: number;
}

export interface Scrape {
  /** Shards RUNNING. */
  running: number;
  /** PAYMENT_EVENT records read. */
  payments: number;
  /** Per owned shard: its state and how far it is behind the tip. */
  shards: Map<string, ShardMetrics>;
}

/** A processor's /metrics, or undefined while it does not serve. */
export async function scrape(port: number): Promise<Scrape | undefined> {
  let text: string;
  try {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    return undefined;
  }
  const s: Scrape = { running: 0, payments: 0, shards: new Map() };
  const shard = (labels: string) => {
    const id = /shard="([^"]*)"/.exec(labels)?.[1] ?? '';
    let m = s.shards.get(id);
    if (!m) s.shards.set(id, (m = {}));
    return m;
  };
  for (const line of text.split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, labels = '', v] = m;
    if (name === 'payments_shard_state' && Number(v) === 1) shard(labels).state = /state="([^"]*)"/.exec(labels)?.[1];
    if (name === 'payments_shard_state' && labels.includes('state="RUNNING"')) s.running += Number(v);
    if (name === 'payments_shard_behind_latest_seconds') shard(labels).behindLatestS = Number(v);
    if (name === 'payments_shard_watermark_lag_seconds') shard(labels).watermarkLagS = Number(v);
    if (name === 'payments_records_read_total' && labels.includes('"PAYMENT_EVENT"')) s.payments += Number(v);
  }
  return s;
}

/** Polls `check` every 200 ms until it holds; throws when a child exits or after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, children: Child[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    const dead = children.find((c) => c.proc.exitCode !== null);
    if (dead) throw new Error(`waiting for ${what}: a child exited (${dead.proc.exitCode}): ${dead.stderr().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * Reads `shardId` of `stream` (behind the proxy) from `fromMs` on (or from a shard iterator taken
 * earlier: kinesalite finds AT_TIMESTAMP by scanning the shard from its start, minutes on a big
 * stream), and resolves with the first
 * PAYMENT_ALERT whose payment is stamped after `afterMs`: its arrival in the stream and its own
 * creation time.
 */
export async function firstAlertAfter(
  client: KinesisClient,
  stream: string,
  fromMs: number | string,
  afterMs: number,
  signal: AbortSignal,
  shardId = 'shardId-000000000000',
  /** Only alerts of cards whose token passes (alerts are keyed by token: a card's may be in any output shard). */
  accept: (cardToken: string) => boolean = () => true,
) {
  let iterator =
    typeof fromMs === 'string'
      ? fromMs
      : (
          await client.send(
            new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(fromMs) }),
          )
        ).ShardIterator;
  while (iterator && !signal.aborted) {
    const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    for (const r of page.Records ?? []) {
      const text = Buffer.from(r.Data!).toString('utf8');
      if (!text.startsWith('{"event_type":"PAYMENT_ALERT"')) continue;
      const e = JSON.parse(text) as { event_date_origin: string; data: { payment_date_origin: string; card_token: string } };
      if (Date.parse(e.data.payment_date_origin) <= afterMs || !accept(e.data.card_token)) continue;
      return {
        arrivalMs: r.ApproximateArrivalTimestamp!.getTime(),
        createdMs: Date.parse(e.event_date_origin),
        paymentMs: Date.parse(e.data.payment_date_origin),
      };
    }
    iterator = page.NextShardIterator;
    await sleep(100);
  }
  return undefined;
}

export interface TakeoverLog {
  restoringMs?: number;
  runningMs?: number;
  fromSnapshot: boolean;
  entries?: number;
  replayed?: number;
  rebuildS?: number;
}

/**
 * The new owner's own account of the take-over, from its log: the first RESTORING and RUNNING of
 * the shard, whether it restored from a snapshot, how many records it replayed. With `shardId`,
 * only that shard's lines; with `sinceMs`, only lines logged from then on.
 */
export function takeoverLog(stdout: string, shardId?: string, sinceMs = -Infinity): TakeoverLog {
  const out: TakeoverLog = { fromSnapshot: false };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { msg?: string; state?: string; time?: string; shardId?: string; entries?: number; replayed?: number; seconds?: number };
    const at = e.time ? Date.parse(e.time) : NaN;
    if (shardId !== undefined && e.shardId !== shardId) continue;
    if (at < sinceMs) continue;
    if (e.msg === 'shard state' && e.state === 'RESTORING') out.restoringMs ??= at;
    if (e.msg === 'shard state' && e.state === 'RUNNING') out.runningMs ??= at;
    if (e.msg?.startsWith('restoring shard state from a snapshot')) {
      out.fromSnapshot = true;
      out.entries = e.entries;
    }
    if (e.msg === 'shard state rebuilt') {
      out.replayed ??= e.replayed;
      out.rebuildS ??= e.seconds;
    }
  }
  return out;
}

/**
 * Reads `shardId` of `stream` from `iterator` (or its start) to its current end, handing each
 * record's text and arrival time to `onRecord`. For checks after a run: reads as fast as the
 * endpoint serves, so give it the emulator itself, not the read-cap proxy.
 */
export async function readShardToEnd(
  client: KinesisClient,
  stream: string,
  shardId: string,
  onRecord: (text: string, arrivalMs: number) => void,
  iterator?: string,
): Promise<number> {
  let it =
    iterator ?? (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
  let n = 0;
  while (it) {
    const page = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
    const records = page.Records ?? [];
    for (const r of records) onRecord(Buffer.from(r.Data!).toString('utf8'), r.ApproximateArrivalTimestamp!.getTime());
    n += records.length;
    if (records.length === 0) return n;
    it = page.NextShardIterator;
  }
  return n;
}
