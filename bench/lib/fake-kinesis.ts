/**
 * Drives the real ShardTask without a network: a KinesisClient stand-in that serves pre-encoded
 * GetRecords batches (the last one closes the shard, so the task finishes on its own), and a
 * producer stand-in behind the real KinesisSink, so output is encoded exactly as in production and
 * then only counted.
 */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import type { KinesisProducer, ProducerRecord } from '../../common/src/producer.js';
import { KinesisSink } from '../../processor/src/sink/kinesis-sink.js';
import { createMetrics } from '../../processor/src/metrics.js';
import { ShardTask } from '../../processor/src/source/shard-task.js';
import type { StateStore } from '../../processor/src/state/index.js';
import type { StolenCards } from '../../processor/src/source/stolen-cards.js';
import type { EngineConfig } from '../../processor/src/engine/index.js';

/**
 * A stateless client (the position is in the iterator), so one serves every run. Build it before
 * timing anything: its 300 000 record objects are input, and made inside a timed run they were
 * young-generation objects the run's first scavenges had to copy and promote. Each record is
 * keyed by its card and arrives 50 ms after its event time, as from a well-behaved producer
 * (anything else is set aside by the processor: see processor/src/source/classify.ts).
 */
export function fakeKinesis(batches: readonly (readonly Uint8Array[])[]): KinesisClient {
  let seq = 0;
  const records: _Record[][] = batches.map((b) =>
    b.map((data) => {
      const e = JSON.parse(Buffer.from(data).toString('utf8')) as { event_date_origin?: string; data?: { card_number?: string } };
      const arrival = Date.parse(e.event_date_origin ?? '') + 50;
      return {
        Data: data,
        SequenceNumber: String(++seq).padStart(20, '0'),
        PartitionKey: e.data?.card_number ?? 'k',
        ...(Number.isFinite(arrival) ? { ApproximateArrivalTimestamp: new Date(arrival) } : {}),
      };
    }),
  );
  const client = {
    async send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: '0' };
      if (command instanceof GetRecordsCommand) {
        const i = Number(command.input.ShardIterator);
        const last = i >= records.length - 1;
        return {
          Records: records[i] ?? [],
          NextShardIterator: last ? undefined : String(i + 1),
          MillisBehindLatest: last ? 0 : 60_000,
        };
      }
      throw new Error(`fake kinesis: unexpected command ${(command as object).constructor.name}`);
    },
  };
  return client as unknown as KinesisClient;
}

/** Counts what it is sent and acknowledges it at once, one 'batch' event a call, as the producer does. */
export class CountingProducer extends EventEmitter {
  records = 0;
  bytes = 0;
  async send(records: ProducerRecord[]): Promise<void> {
    this.records += records.length;
    let bytes = 0;
    for (const r of records) bytes += r.data.byteLength;
    this.bytes += bytes;
    this.emit('batch', { records: records.length, bytes, acknowledged: records.length, failed: 0, durationMs: 0 });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface ShardRun {
  seconds: number;
  emitted: number;
  emittedBytes: number;
}

/** Runs one ShardTask over the fake shard to its end; returns wall time and output counts. */
export async function runShardTask(
  store: StateStore,
  stolen: StolenCards,
  kinesis: KinesisClient,
  now: () => number = Date.now,
  engineConfig: Partial<EngineConfig> = {},
): Promise<ShardRun> {
  const producer = new CountingProducer();
  const task = new ShardTask(
    { shardId: 'shardId-000000000000' },
    {
      kinesis,
      stream: 'bench',
      store,
      sink: new KinesisSink(() => producer as unknown as KinesisProducer, { output: 'bench', input: 'bench' }),
      stolen,
      metrics: createMetrics(new Registry()),
      log: pino({ level: 'silent' }),
      engineConfig,
      now,
      monotonic: () => performance.now(),
      maxRecordBytes: 64 * 1024,
      maxClockSkewMs: 5_000,
      startLookbackMs: 3_600_000,
      getRecordsLimit: 10_000,
      pollIntervalMs: 0,
    },
  );
  const t0 = performance.now();
  await task.run(new AbortController().signal);
  const seconds = (performance.now() - t0) / 1000;
  if (!task.finished) throw new Error('shard task did not reach the end of the fake shard');
  return { seconds, emitted: producer.records, emittedBytes: producer.bytes };
}
