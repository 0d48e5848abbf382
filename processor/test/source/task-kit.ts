/** What a ShardTask needs around it in tests: a closed shard of payments, a producer that acknowledges, its dependencies. */
import { EventEmitter } from 'node:events';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import type { KinesisProducer } from '../../../common/src/producer.js';
import { createMetrics } from '../../src/metrics.js';
import { KinesisSink } from '../../src/sink/kinesis-sink.js';
import type { ShardTaskDeps } from '../../src/source/shard-task.js';
import type { StateStore } from '../../src/state/index.js';
import { card, stolenCards, toPaymentEvent, type Pay } from '../engine/helpers.js';

export const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

/**
 * Batches of payments as records, keyed by card number as producers must key them, with sequence
 * numbers counting up from `firstSequence`.
 */
export function paymentRecords(batches: readonly Pay[][], firstSequence = 1): _Record[][] {
  let seq = firstSequence;
  return batches.map((b) => b.map((p) => ({ Data: Buffer.from(JSON.stringify(toPaymentEvent(p))), SequenceNumber: String(seq++), PartitionKey: p.card })));
}

/** A client serving `batches`, one per GetRecords call, the last one closing the shard; every iterator starts at the first. */
export function closedShard(batches: readonly _Record[][]): KinesisClient {
  return {
    async send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: '0' };
      if (command instanceof GetRecordsCommand) {
        const i = Number(command.input.ShardIterator);
        return { Records: batches[i] ?? [], NextShardIterator: i >= batches.length - 1 ? undefined : String(i + 1), MillisBehindLatest: 0 };
      }
      throw new Error('unexpected command');
    },
  } as unknown as KinesisClient;
}

/** A producer that acknowledges everything at once, with the 'batch' event the sink listens to; `seen` gets every event sent. */
class AckingProducer extends EventEmitter {
  constructor(readonly seen: (event: { event_type: string }) => void) {
    super();
  }
  async send(records: Array<{ data: Uint8Array }>): Promise<void> {
    for (const r of records) this.seen(JSON.parse(Buffer.from(r.data).toString()) as { event_type: string });
    this.emit('batch', { records: records.length, bytes: 0, acknowledged: records.length, failed: 0, durationMs: 0 });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * A task's dependencies: `batches` of payments as a closed shard, `store`, a sink whose producer
 * acknowledges everything (handing each event sent to `seen`), card 1 stolen, a wall clock a minute
 * after T0, no polling pause; `over` replaces any of them.
 */
export function taskDeps(
  batches: readonly _Record[][],
  store: StateStore,
  over: Partial<ShardTaskDeps> = {},
  seen: (event: { event_type: string }) => void = () => {},
): ShardTaskDeps {
  const producer = new AckingProducer(seen);
  return {
    kinesis: closedShard(batches),
    stream: 's',
    store,
    sink: new KinesisSink(() => producer as unknown as KinesisProducer, { output: 'out', input: 's' }),
    stolen: stolenCards([card(1)]),
    metrics: createMetrics(new Registry()),
    log: pino({ level: 'silent' }),
    engineConfig: {},
    now: () => T0 + 60_000,
    monotonic: () => performance.now(),
    maxRecordBytes: 65_536,
    maxClockSkewMs: 5_000,
    startLookbackMs: 3_600_000,
    getRecordsLimit: 10,
    pollIntervalMs: 0,
    ...over,
  };
}
