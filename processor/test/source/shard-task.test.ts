/**
 * ShardTask's commits: a commit is written while the next batch is processed, but commits land
 * one at a time and in order, the last one is durable when the task ends, and a failed commit
 * stops the task with its error.
 */
import t from 'tap';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import type { KinesisProducer } from '../../../common/src/producer.js';
import { createMetrics } from '../../src/metrics.js';
import { KinesisSink } from '../../src/sink/kinesis-sink.js';
import { ShardTask } from '../../src/source/shard-task.js';
import { openStateStore, type ChangeSet, type ShardCheckpoint, type StateStore } from '../../src/state/index.js';
import { card, pay, stolenCards, toPaymentEvent } from '../engine/helpers.js';
import { EventEmitter } from 'node:events';

/** A producer that acknowledges everything at once, with the 'batch' event the sink listens to. */
class AckingProducer extends EventEmitter {
  async send(records: unknown[]): Promise<void> {
    this.emit('batch', { records: records.length, bytes: 0, acknowledged: records.length, failed: 0, durationMs: 0 });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

const SHARD = 'shardId-000000000000';
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

/** A shard of `batches` GetRecords answers (the last one closes the shard), sequence numbers 1, 2, ... */
function shard(batches: Uint8Array[][]): KinesisClient {
  let seq = 0;
  // Keyed by card, as producers must key payments.
  const records = batches.map((b) =>
    b.map((data) => ({
      Data: data,
      SequenceNumber: String(++seq),
      PartitionKey: (JSON.parse(Buffer.from(data).toString()) as { data: { card_number: string } }).data.card_number,
    })),
  );
  return {
    async send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: '0' };
      if (command instanceof GetRecordsCommand) {
        const i = Number(command.input.ShardIterator);
        return { Records: records[i] ?? [], NextShardIterator: i >= records.length - 1 ? undefined : String(i + 1), MillisBehindLatest: 0 };
      }
      throw new Error('unexpected command');
    },
  } as unknown as KinesisClient;
}

/** Ten batches of ten payments of one stolen card, a second apart, so every batch has state to commit. */
function payments(): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let b = 0; b < 10; b++) {
    out.push(Array.from({ length: 10 }, (_, i) => Buffer.from(JSON.stringify(toPaymentEvent(pay({ at: T0 + b * 1_000 + i, card: card(1) }))))));
  }
  return out;
}

function task(store: StateStore, batches: Uint8Array[][]): ShardTask {
  const producer = new AckingProducer();
  return new ShardTask(
    { shardId: SHARD },
    {
      kinesis: shard(batches),
      stream: 's',
      store,
      sink: new KinesisSink(() => producer as unknown as KinesisProducer, { output: 's', input: 's' }),
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
    },
  );
}

t.test('commits land one at a time, in order, and the last is durable when the task ends', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  const commit = store.commitShard.bind(store);
  const log: string[] = [];
  let writing = 0;
  let overlapped = false;
  store.commitShard = async (shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint) => {
    overlapped ||= writing > 0;
    writing++;
    log.push(`start ${checkpoint.sequenceNumber}`);
    await new Promise((r) => setTimeout(r, 5));
    await commit(shardId, changes, checkpoint);
    log.push(`end ${checkpoint.sequenceNumber}`);
    writing--;
  };
  const run = task(store, payments());
  await run.run(new AbortController().signal);
  t.ok(run.finished);
  t.notOk(overlapped, 'no commit started before the one before it had landed');
  const sequences = log.filter((l) => l.startsWith('start')).map((l) => Number(l.split(' ')[1]));
  t.same(
    sequences,
    [...sequences].sort((a, b) => a - b),
    'in sequence-number order',
  );
  t.equal(log.at(-1), 'end 100', 'the last commit landed before run() returned');
  const saved = await store.loadCheckpoint(SHARD);
  t.same(saved, { sequenceNumber: '100', watermarkMs: saved?.watermarkMs, shardEnd: true, stateId: saved?.stateId });
});

t.test('a failed commit stops the task with its error', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  const commit = store.commitShard.bind(store);
  let calls = 0;
  store.commitShard = async (shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint) => {
    if (++calls === 3) throw new Error('disk full');
    await commit(shardId, changes, checkpoint);
  };
  await t.rejects(task(store, payments()).run(new AbortController().signal), /disk full/);
  t.equal((await store.loadCheckpoint(SHARD))?.sequenceNumber, '20', 'the store keeps the last commit that landed');
  t.ok(calls <= 4, `at most one more commit was started after the failed one (${calls} calls)`);
});
