/**
 * Helpers of the fault suite (issue 13): real processor processes against the local stack, faults
 * injected from outside (signals, a fault-injecting proxy, libfaketime, records a well-behaved
 * producer never writes), and observations taken on the test's own clock.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { ChildProcess } from 'node:child_process';
import { listAllShards } from '../../../common/src/shard-reader.js';
import type { PaymentEvent } from '../../../common/src/events.js';
import { hashKeyOf } from '../../src/engine/codec.js';
import { parsePrometheusText } from '../../../common/src/prom-text.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A payment as our producers write it. */
export function payment(card: string, atMs: number, over: Partial<PaymentEvent['data']> = {}): PaymentEvent {
  return {
    event_type: 'PAYMENT_EVENT',
    event_id: randomUUID(),
    event_date_origin: new Date(atMs).toISOString(),
    data: { card_number: card, amount: 12.34, currency: 'EUR', merchant_id: 'm-fault', ...over },
  };
}

/** PutRecords of raw records (text or events), in calls of at most 500; throws unless all landed. */
export async function put(client: KinesisClient, stream: string, records: Array<{ data: string | object; key: string }>): Promise<void> {
  for (let i = 0; i < records.length; i += 500) {
    const chunk = records.slice(i, i + 500);
    const out = await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: chunk.map((r) => ({
          Data: Buffer.from(typeof r.data === 'string' ? r.data : JSON.stringify(r.data)),
          PartitionKey: r.key,
        })),
      }),
    );
    if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
  }
}

/** Each shard's hash-key range, to pick partition keys that land on a given shard. */
export async function shardRanges(client: KinesisClient, stream: string): Promise<Array<{ shardId: string; start: bigint; end: bigint }>> {
  return (await listAllShards(client, stream))
    .filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber)
    .map((s) => ({ shardId: s.ShardId!, start: BigInt(s.HashKeyRange!.StartingHashKey!), end: BigInt(s.HashKeyRange!.EndingHashKey!) }));
}

export function shardOf(ranges: Awaited<ReturnType<typeof shardRanges>>, key: string): string {
  const h = hashKeyOf(key);
  return ranges.find((r) => h >= r.start && h <= r.end)!.shardId;
}

/** Per shard, one of `cards` that lands on it (throws if a shard has none). */
export function cardPerShard(ranges: Awaited<ReturnType<typeof shardRanges>>, cards: Iterable<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const card of cards) {
    const shard = shardOf(ranges, card);
    if (!out.has(shard)) out.set(shard, card);
  }
  if (out.size !== ranges.length) throw new Error(`only ${out.size} of ${ranges.length} shards have one of the cards`);
  return out;
}

export async function getJson(port: number, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

/** The processor's metric samples of one family, by label set. */
export async function samples(port: number, name: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  return parsePrometheusText(text).get(name)?.samples ?? [];
}

export async function sample(port: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return (await samples(port, name)).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/**
 * The JSON log lines of a child process, each stamped with the time THIS process received it: a
 * child whose clock is faked (libfaketime) writes wrong `time` fields, and the test's clock is the
 * one every observation must share.
 */
export function logLines(child: ChildProcess): Array<{ at: number; line: Record<string, unknown> }> {
  const out: Array<{ at: number; line: Record<string, unknown> }> = [];
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const at = Date.now();
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) {
      try {
        out.push({ at, line: JSON.parse(p) as Record<string, unknown> });
      } catch {
        // not a log line
      }
    }
  });
  return out;
}

export interface Interval {
  worker: string;
  shard: string;
  from: number;
  to: number;
}

/**
 * The intervals during which each worker had a task RUNNING per shard (from its 'shard state'
 * log lines, on the test's clock; a task still running counts up to `until`), and the pairs of
 * workers whose intervals on one shard overlap by more than `slackMs` (log delivery jitter).
 */
export function overlaps(logs: Map<string, ReturnType<typeof logLines>>, until: number, slackMs = 250): { intervals: Interval[]; found: string[] } {
  const intervals: Interval[] = [];
  for (const [worker, lines] of logs) {
    const open = new Map<string, number>();
    for (const { at, line } of lines) {
      if (line.msg !== 'shard state') continue;
      const shard = line.shardId as string;
      if (line.state === 'RUNNING') open.set(shard, at);
      if (line.state === 'CLOSED' && open.has(shard)) {
        intervals.push({ worker, shard, from: open.get(shard)!, to: at });
        open.delete(shard);
      }
    }
    for (const [shard, from] of open) intervals.push({ worker, shard, from, to: until });
  }
  const found: string[] = [];
  for (const a of intervals) {
    for (const b of intervals) {
      if (a.worker < b.worker && a.shard === b.shard && a.from + slackMs < b.to && b.from + slackMs < a.to) {
        found.push(`${a.shard}: ${a.worker} [${iso(a.from)}, ${iso(a.to)}] and ${b.worker} [${iso(b.from)}, ${iso(b.to)}]`);
      }
    }
  }
  return { intervals, found };
}

const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** libfaketime from Debian's `faketime` package: .ci/run installs it. */
export const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1'].find((p) =>
  existsSync(p),
);

/**
 * Environment that runs a child under libfaketime with its wall clock offset by the contents of
 * `file` ("+0", "+30", "-30": seconds), re-read at most once a second, and its monotonic clock
 * (timers, performance.now) left alone: a wall-clock step as NTP or a VM resume makes one.
 */
export function fakeWallClock(file: string): Record<string, string> {
  if (!LIBFAKETIME) throw new Error("libfaketime is not installed (Debian package 'faketime'; .ci/run installs it)");
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}
