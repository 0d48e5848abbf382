/**
 * The processor's output: alerts, summaries and rejects, encoded once and handed to a producer
 * (PutRecords batches of ≤ 500 records / 5 MiB, only failed entries retried, never dropped).
 * `emit` resolves when Kinesis has acknowledged every record, which is what lets the shard task
 * write its checkpoint afterwards; awaiting it is the backpressure.
 *
 * One producer per input shard (a lane), each with one PutRecords call in flight: a card's alerts
 * and summaries all come from the one shard task that owns the card, so they stay in order, while
 * the shards no longer wait on each other's calls (one shared producer serialised every shard's
 * output, which held back the read rate under load; docs/benchmarks.md).
 */
import type { KinesisProducer } from '../../../common/src/producer.js';
import type { AlertEvent, RejectedEvent, SummaryEvent } from '../../../common/src/events.js';
import { encodeOutputs } from './encode.js';

export type OutputEvent = AlertEvent | SummaryEvent | RejectedEvent;

/** Alerts and summaries go to their card's shard; a reject to its input shard's key. */
function partitionKey(event: OutputEvent): string {
  return event.event_type === 'PAYMENT_EVENT_REJECTED' ? event.data.shard_id : event.data.card_number;
}

export class KinesisSink {
  readonly #newProducer: () => KinesisProducer;
  readonly #lanes = new Map<string, KinesisProducer>();

  constructor(newProducer: () => KinesisProducer) {
    this.#newProducer = newProducer;
  }

  async emit(events: readonly OutputEvent[], lane: string): Promise<void> {
    if (events.length === 0) return;
    let producer = this.#lanes.get(lane);
    if (!producer) this.#lanes.set(lane, (producer = this.#newProducer()));
    const data = encodeOutputs(events);
    await producer.send(events.map((e, i) => ({ data: data[i] as Buffer, partitionKey: partitionKey(e) })));
  }

  /** Flushes and closes a lane (its shard task has ended); a later emit opens a new one. */
  async release(lane: string): Promise<void> {
    const producer = this.#lanes.get(lane);
    if (!producer) return;
    this.#lanes.delete(lane);
    await producer.close();
  }

  /** Flushes and closes every lane. */
  async close(): Promise<void> {
    await Promise.all([...this.#lanes.keys()].map((lane) => this.release(lane)));
  }
}
