/**
 * ShardTask keeps neither a batch's records nor the events it emitted while Kinesis acknowledges
 * the output. Held through that round trip, each 10 000-record batch survived young-generation
 * collections and was copied into the old generation, a cost the bench's "cpu" scenario measured.
 * Checked with WeakRefs and forced collections while the output's acknowledgement is withheld.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setImmediate as tick } from 'node:timers/promises';
import { EventEmitter } from 'node:events';
import t from 'tap';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import type { KinesisProducer } from '../../../common/src/producer.js';
import { ShardTask } from '../../src/source/shard-task.js';
import { KinesisSink } from '../../src/sink/kinesis-sink.js';
import { openStateStore } from '../../src/state/index.js';
import { card, pay } from '../engine/helpers.js';
import { T0, paymentRecords, taskDeps } from './task-kit.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects, across tasks, so that a WeakRef's target made in an earlier job can go. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await tick();
    gc();
  }
}

/**
 * A closed shard of two batches whose records are made on each call and kept by nobody but the
 * task. The second batch's payments move the watermark past the first batch's alert windows, so
 * the first output is sent while the task has the second batch in hand: `batch` and `record`
 * watch that batch's array and one of its records.
 */
function watchedShard(): { client: KinesisClient; watched: { batch?: WeakRef<_Record[]>; record?: WeakRef<_Record> } } {
  const watched: { batch?: WeakRef<_Record[]>; record?: WeakRef<_Record> } = {};
  // Ten payments of a stolen card (alerts to emit) in each batch, the second 10 s after the first.
  const make = (i: number): _Record[] =>
    paymentRecords([Array.from({ length: 10 }, (_, k) => pay({ at: T0 + i * 10_000 + k, card: card(1) }))], i * 10 + 1)[0]!;
  const client = {
    async send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: '0' };
      if (command instanceof GetRecordsCommand) {
        const i = Number(command.input.ShardIterator);
        const records = make(i);
        if (i === 1) {
          watched.batch = new WeakRef(records);
          watched.record = new WeakRef(records[0]!);
        }
        return { Records: records, NextShardIterator: i >= 1 ? undefined : String(i + 1), MillisBehindLatest: 0 };
      }
      throw new Error('unexpected command');
    },
  } as unknown as KinesisClient;
  return { client, watched };
}

/** A producer that withholds its first acknowledgement until `release` is called. */
class WithholdingProducer extends EventEmitter {
  sent = 0;
  #release: (() => void) | undefined;
  readonly firstSend: Promise<void>;
  #onFirst!: () => void;

  constructor() {
    super();
    this.firstSend = new Promise((r) => (this.#onFirst = r));
  }

  async send(records: Array<{ data: Uint8Array }>): Promise<void> {
    if (this.sent++ === 0) {
      const held = new Promise<void>((r) => (this.#release = r));
      this.#onFirst();
      await held;
    }
    this.emit('batch', { records: records.length, bytes: 0, acknowledged: records.length, failed: 0, durationMs: 0 });
  }

  release(): void {
    this.#release?.();
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

t.test('neither the batch nor the emitted events are kept while the output is being acknowledged', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  const { client, watched } = watchedShard();
  const producer = new WithholdingProducer();
  const sink = new KinesisSink(() => producer as unknown as KinesisProducer, { output: 'out', input: 's' });
  // The events handed to the sink, watched as they go by (the wrapper keeps none of them).
  const events: Array<WeakRef<object>> = [];
  const emit = sink.emit.bind(sink);
  sink.emit = (out, lane, progress) => {
    for (const e of out) events.push(new WeakRef(e));
    return emit(out, lane, progress);
  };
  const task = new ShardTask({ shardId: 'shardId-000000000000' }, { ...taskDeps([], store), kinesis: client, sink });
  const running = task.run(new AbortController().signal);

  await producer.firstSend;
  await collect();
  t.ok(events.length > 0, `the first batch's alerts were handed to the sink (${events.length})`);
  t.ok(watched.batch, 'while the second batch was in hand');
  t.equal(watched.batch?.deref(), undefined, 'the batch of records is not kept during the round trip');
  t.equal(watched.record?.deref(), undefined, 'nor any of its records');
  t.equal(events.filter((e) => e.deref() !== undefined).length, 0, 'nor the events sent (encoded, they are the producer’s bytes)');

  producer.release();
  await running;
  t.ok(task.finished, 'and the task then finishes the shard as usual');
  t.equal((await store.loadCheckpoint('shardId-000000000000'))?.sequenceNumber, '20', 'up to its last record');
});
