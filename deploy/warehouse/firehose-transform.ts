/**
 * The Firehose data-transformation Lambda (Kinesis Data Streams source). For every record it
 * returns one newline-terminated JSON object, the warehouse row of rows.ts, and the partition key
 * `table` (events | rejects) that dynamic partitioning turns into the S3 prefix Redshift auto-copy
 * loads from. The local stand-in classifies with the same toWarehouseRow, so both agree.
 *
 * Bad input is never ProcessingFailed: it is a reject row. A record is ProcessingFailed only when
 * classifying it throws, which is a bug; Firehose then writes that record to its error prefix,
 * and the others of the batch are delivered as usual.
 *
 * Bundled by esbuild into one file (entry: this file, export `handler`): rows.ts, the event
 * contract, and the card token code with its Secrets Manager client. Every card number becomes
 * its token before the row leaves here (rows.ts: warehouseData), so the staging bucket and the
 * warehouse hold none.
 *
 * Response size. A synchronous Lambda response may not exceed 6 MB. Firehose invokes with at most
 * its processing buffer of record data (DELIVERY.transform.bufferSizeMiB, 1 MiB), and every output
 * row is bounded by the columns whatever its record: event_json_data ≤ 65 535 bytes, at most twice
 * that once escaped again inside the row's JSON; raw_data ≤ MAX_RAW_CHARS (16 000) characters;
 * detail ≤ 1 024 bytes. So a row is at most ~176 KB of base64 (tested). Our producers' records
 * give ~2.2 MB of response per MiB of data (measured with payments: each row repeats the data as
 * escaped JSON text, and base64 adds a third), well under the limit.
 * But a row CAN exceed its record many-fold, so the limit is not guaranteed for arbitrary input:
 * 16 000 control bytes (a not_json reject) are written as `\u0001`-style escapes, ~8× (~9 MB per
 * MiB, measured); exponents (9e20 → 21 digits) ~6× (~6 MB per MiB); 1-byte records become
 * ~0.3 KB rows, ~1.3× the request, whose own 6 MB limit then bounds the batch. A batch made only
 * of such records makes the invocation fail: Firehose retries it, then writes the batch to the
 * error prefix (nothing lost, but not in the rejects table). A larger buffer raises that risk.
 */
import { toWarehouseRow, type RecordPosition, type WarehouseRow } from './rows.js';
import { loadCardTokenizer, LOCAL_CARD_TOKEN_KEY_FILE, type CardTokenizer } from '../../common/src/card-token.js';

/** One record of a Firehose transformation event, Kinesis Data Streams as the source. */
export interface FirehoseKinesisRecord {
  recordId: string;
  approximateArrivalTimestamp: number;
  /** The Kinesis record's data, base64. */
  data: string;
  kinesisRecordMetadata: {
    shardId: string;
    partitionKey: string;
    approximateArrivalTimestamp: number;
    sequenceNumber: string;
    subsequenceNumber: number;
  };
}

export interface FirehoseTransformEvent {
  invocationId: string;
  deliveryStreamArn: string;
  sourceKinesisStreamArn: string;
  region: string;
  records: FirehoseKinesisRecord[];
}

export type FirehoseTransformRecordResult =
  | {
      recordId: string;
      result: 'Ok';
      /** base64 of JSON.stringify(row) + '\n'. */
      data: string;
      metadata: { partitionKeys: { table: WarehouseRow['table'] } };
    }
  /** Classifying threw (a bug): the input data is returned as it came, for the error prefix. */
  | { recordId: string; result: 'ProcessingFailed'; data: string };

export interface FirehoseTransformResponse {
  records: FirehoseTransformRecordResult[];
}

export type Classify = (bytes: Uint8Array, position: RecordPosition) => WarehouseRow;

/**
 * The card token key, read once per Lambda instance from the secret CARD_TOKEN_KEY_SECRET (the
 * stack grants this function, and the processor, read access to it, nothing else). A failed read
 * is not kept: the invocation fails, Firehose retries it, and the next one reads again.
 */
let tokenizer: Promise<CardTokenizer> | undefined;

function cardTokenizer(): Promise<CardTokenizer> {
  tokenizer ??= loadCardTokenizer({
    CARD_TOKEN_KEY_SECRET: process.env.CARD_TOKEN_KEY_SECRET,
    CARD_TOKEN_KEY_FILE: process.env.CARD_TOKEN_KEY_FILE ?? LOCAL_CARD_TOKEN_KEY_FILE,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    SECRETS_ENDPOINT: process.env.SECRETS_ENDPOINT,
  }).catch((e: unknown) => {
    tokenizer = undefined;
    throw e;
  });
  return tokenizer;
}

export async function handler(event: FirehoseTransformEvent): Promise<FirehoseTransformResponse> {
  const key = await cardTokenizer();
  return transform(event, (bytes, position) => toWarehouseRow(bytes, position, key));
}

/** The handler's work; `classify` is replaceable so tests can make it throw. One result per record, in order. */
export function transform(event: FirehoseTransformEvent, classify: Classify): FirehoseTransformResponse {
  return { records: event.records.map((record) => transformRecord(event, record, classify)) };
}

function transformRecord(event: FirehoseTransformEvent, record: FirehoseKinesisRecord, classify: Classify): FirehoseTransformRecordResult {
  try {
    const bytes = Buffer.from(record.data, 'base64');
    const meta = record.kinesisRecordMetadata;
    const { table, row } = classify(bytes, { shardId: meta.shardId, sequenceNumber: meta.sequenceNumber });
    return {
      recordId: record.recordId,
      result: 'Ok',
      data: Buffer.from(`${JSON.stringify(row)}\n`, 'utf8').toString('base64'),
      metadata: { partitionKeys: { table } },
    };
  } catch (error) {
    // No record contents, and no error message either: a message may quote the record.
    console.error(
      JSON.stringify({
        level: 'error',
        msg: 'classifying a record threw (a bug); Firehose writes it to the error prefix',
        invocationId: event.invocationId,
        recordId: record.recordId,
        shardId: record.kinesisRecordMetadata?.shardId,
        sequenceNumber: record.kinesisRecordMetadata?.sequenceNumber,
        errorType: error instanceof Error ? error.name : typeof error,
        // Only the frames: the first lines of a stack repeat the message.
        stack:
          error instanceof Error
            ? error.stack
                ?.split('\n')
                .map((line) => line.trim())
                .filter((line) => /^at .*:\d+:\d+\)?$/.test(line))
            : undefined,
      }),
    );
    return { recordId: record.recordId, result: 'ProcessingFailed', data: record.data };
  }
}
