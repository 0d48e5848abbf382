/**
 * The processor's output: alerts, summaries and rejects, encoded once and handed to the shared
 * producer (PutRecords batches of ≤ 500 records / 5 MiB, only failed entries retried, never
 * dropped). `emit` resolves when Kinesis has acknowledged every record, which is what lets the
 * shard task write its checkpoint afterwards; awaiting it is the backpressure.
 */
import type { KinesisProducer } from '../../../common/src/producer.js';
import type { AlertEvent, RejectedEvent, SummaryEvent } from '../../../common/src/events.js';
import { encodeOutput } from './encode.js';

export type OutputEvent = AlertEvent | SummaryEvent | RejectedEvent;

/** Alerts and summaries go to their card's shard; a reject to its input shard's key. */
function partitionKey(event: OutputEvent): string {
  return event.event_type === 'PAYMENT_EVENT_REJECTED' ? event.data.shard_id : event.data.card_number;
}

export class KinesisSink {
  #producer: KinesisProducer;
  constructor(producer: KinesisProducer) {
    this.#producer = producer;
  }

  async emit(events: readonly OutputEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#producer.send(
      events.map((e) => ({ data: encodeOutput(e), partitionKey: partitionKey(e) })),
    );
  }

  flush(): Promise<void> {
    return this.#producer.flush();
  }
}
