/**
 * Which queued records go into the next PutRecords call (producer.ts), under the order-key rule:
 * a call never holds two records of one orderKey, and no record goes while an earlier record of
 * its orderKey is in a call or waiting to be retried. Records of other keys, and records without
 * one, go ahead of a waiting record, so batches stay full while the queue holds many keys.
 */

/** What the rule needs to know of a queued record. */
export interface Queued {
  readonly orderKey: string | undefined;
  /** Data + partition key, as Kinesis counts them. */
  readonly bytes: number;
}

export interface TakenBatch<E> {
  batch: E[];
  /** The queue after the batch was taken: `queue` itself, shortened, when nothing was skipped. */
  queue: E[];
  /** Bytes of `batch`. */
  bytes: number;
}

/**
 * The queue's records in order, within both batch limits, skipping (and leaving in place) each
 * one whose orderKey is already in this batch or `held` by a call. The first record that does not
 * fit ends the batch, so records without an orderKey still leave in queue order. Empty only when
 * every queued record is skipped. One pass over the part of the queue it scans.
 */
export function takeBatch<E extends Queued>(queue: E[], held: ReadonlySet<string>, maxRecords: number, maxBytes: number): TakenBatch<E> {
  const batch: E[] = [];
  const skipped: E[] = [];
  const taken = new Set<string>();
  let bytes = 0;
  let i = 0;
  for (; i < queue.length && batch.length < maxRecords; i++) {
    const e = queue[i]!;
    if (e.orderKey !== undefined && (taken.has(e.orderKey) || held.has(e.orderKey))) {
      skipped.push(e);
      continue;
    }
    if (batch.length > 0 && bytes + e.bytes > maxBytes) break;
    batch.push(e);
    bytes += e.bytes;
    if (e.orderKey !== undefined) taken.add(e.orderKey);
  }
  if (skipped.length === 0) {
    queue.splice(0, i);
    return { batch, queue, bytes };
  }
  return { batch, queue: skipped.concat(queue.slice(i)), bytes };
}
