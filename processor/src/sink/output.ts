/**
 * What the sink writes: the processor's own events, and payments re-published under their card.
 * Shared by the sink (kinesis-sink.ts), the encoder (encode.ts) and the shard task.
 */
import type { AlertEvent, RejectedEvent, SummaryEvent } from '../../../common/src/events.js';

export type OutputEvent = AlertEvent | SummaryEvent | RejectedEvent;

/** A record to write again as it is, under another partition key. */
export interface RepublishedRecord {
  data: Uint8Array;
  partitionKey: string;
}
