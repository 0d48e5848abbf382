/**
 * The processor's output: alerts, summaries and rejects, encoded once and handed to a producer
 * (PutRecords batches of ≤ 500 records / 5 MiB, only failed entries retried, never dropped), and
 * payments re-published to the input stream keyed by their card (see classify.ts, `misrouted`).
 * `emit` and `republish` resolve when Kinesis has acknowledged every record, which is what lets
 * the shard task write its checkpoint afterwards; awaiting them is the backpressure.
 *
 * One producer per input shard and target stream (a lane), each with one PutRecords call in
 * flight, so the shards never wait on each other's calls (one shared producer serialised every
 * shard's output, which held back the read rate under load; docs/benchmarks.md). A card's alerts
 * and summaries all come from the one shard task that owns the card, and go out with the card as
 * their order key: they land in the stream in the order the engine emitted them, even when a
 * PutRecords call fails in part and is retried (see common/src/producer.ts).
 */
import type { KinesisProducer, ProducerRecord } from '../../../common/src/producer.js';
import { encodeOutputs } from './encode.js';
import type { OutputEvent, RepublishedRecord } from './output.js';

/** Makes the producer of one lane: output of shard `lane`, written to `stream`. */
export type ProducerFactory = (lane: string, stream: string) => KinesisProducer;

export class KinesisSink {
  readonly #newProducer: ProducerFactory;
  readonly #output: string;
  readonly #input: string;
  /** Producers by lane, then by stream (one when the output stream is the input stream). */
  readonly #lanes = new Map<string, Map<string, KinesisProducer>>();

  constructor(newProducer: ProducerFactory, streams: { output: string; input: string }) {
    this.#newProducer = newProducer;
    this.#output = streams.output;
    this.#input = streams.input;
  }

  /**
   * Sends `events` and resolves when all are acknowledged. `progress` is called after every
   * PutRecords call that got records acknowledged: a long send (one card's burst goes out one
   * record per call) is moving, not stuck. Not async: `events` are encoded before it returns and
   * not kept while Kinesis acknowledges them (ShardTask#emitAndCommit).
   */
  emit(events: readonly OutputEvent[], lane: string, progress?: () => void): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const data = encodeOutputs(events);
    const records = events.map((e, i) =>
      // Alerts and summaries are keyed by their card's token (a card's go to one shard, in order;
      // never by its number: the output stream holds none); a reject by its input shard.
      e.event_type === 'PAYMENT_EVENT_REJECTED'
        ? { data: data[i] as Buffer, partitionKey: e.data.shard_id }
        : { data: data[i] as Buffer, partitionKey: e.data.card_token, orderKey: e.data.card_token },
    );
    return this.#send(this.#producer(lane, this.#output), records, progress);
  }

  /** Writes `records` to the input stream (where their partition keys route them to their shards). */
  async republish(records: readonly RepublishedRecord[], lane: string, progress?: () => void): Promise<void> {
    if (records.length === 0) return;
    await this.#send(this.#producer(lane, this.#input), records, progress);
  }

  async #send(producer: KinesisProducer, records: readonly ProducerRecord[], progress: (() => void) | undefined): Promise<void> {
    if (!progress) return producer.send(records);
    const onBatch = (info: { acknowledged: number }) => {
      if (info.acknowledged > 0) progress();
    };
    producer.on('batch', onBatch);
    try {
      await producer.send(records);
    } finally {
      producer.off('batch', onBatch);
    }
  }

  /** Flushes and closes a lane (its shard task has ended); a later emit opens a new one. */
  async release(lane: string): Promise<void> {
    const producers = this.#lanes.get(lane);
    if (!producers) return;
    this.#lanes.delete(lane);
    await Promise.all([...producers.values()].map((p) => p.close()));
  }

  /** Flushes and closes every lane. */
  async close(): Promise<void> {
    await Promise.all([...this.#lanes.keys()].map((lane) => this.release(lane)));
  }

  #producer(lane: string, stream: string): KinesisProducer {
    let producers = this.#lanes.get(lane);
    if (!producers) this.#lanes.set(lane, (producers = new Map()));
    let producer = producers.get(stream);
    if (!producer) producers.set(stream, (producer = this.#newProducer(lane, stream)));
    return producer;
  }
}
