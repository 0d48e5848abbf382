/**
 * The one definition of the delivery stream that lands every Kinesis record in the warehouse.
 *
 * In AWS it is a Firehose delivery stream, built by the CDK app from `firehoseDeliveryStreamInput`:
 *   Kinesis source → transformation Lambda (deploy/warehouse/firehose-transform.ts) → S3, one
 *   prefix per table (dynamic partitioning on the Lambda's `table` key) → Redshift auto-copy jobs
 *   (deploy/cdk/lib/warehouse.ts) load `tables/events/` and `tables/rejects/`.
 * Source records are not backed up (they hold card numbers; the stream is the replay source). A
 * record the Lambda cannot classify lands under `errors/processing-failed/`, as received (the one
 * place in the bucket where a card number can be: see docs/deployment.md); nothing blocks a batch.
 *
 * Locally, the Firehose stand-in (deploy/local/firehose-standin.ts) classifies records with the same
 * function (deploy/warehouse/rows.ts) and writes the same tables directly.
 */
import type { CreateDeliveryStreamInput } from '@aws-sdk/client-firehose';
import { EVENT_COLUMNS, REJECT_COLUMNS } from './warehouse/rows.js';

export const DELIVERY_STREAM_NAME = 'payments-to-warehouse';

/** The S3 prefix (under the staging bucket) that a table's auto-copy job loads. */
export const tablePrefix = (table: 'events' | 'rejects') => `tables/${table}/`;

export const DELIVERY = Object.freeze({
  name: DELIVERY_STREAM_NAME,
  table: 'staging.payment_events',
  rejectsTable: 'staging.payment_events_rejects',
  /** Columns the auto-copy job fills (COPY … FORMAT AS JSON 'auto': the rows' keys are these names). */
  columns: EVENT_COLUMNS,
  rejectsColumns: REJECT_COLUMNS,
  /** Firehose buffering in AWS, whichever comes first. 64 MiB is the minimum with dynamic partitioning. */
  buffering: { intervalSeconds: 60, sizeMiB: 64 },
  /** The stand-in flushes at least every second, so local rows appear quickly. */
  localBuffering: { intervalSeconds: 1, sizeMiB: 5 },
  /** How long Firehose retries a failed S3 delivery of a partition before writing it to the error prefix. */
  retryDurationSeconds: 3600,
  /** The transformation Lambda: Firehose invokes it with at most this much data, retries it this often. */
  transform: { bufferSizeMiB: 1, bufferIntervalSeconds: 60, retries: 3 },
  prefix: 'tables/!{partitionKeyFromLambda:table}/!{timestamp:yyyy/MM/dd/HH}/',
  errorPrefix: 'errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/',
  /**
   * Every prefix of the staging bucket (tables/, errors/) keeps its objects this long: the same for
   * both, so a record and its error never outlive each other, and long enough to find a problem in
   * a monthly reconciliation.
   */
  retentionDays: 35,
  /** CloudWatch Logs streams of the delivery's error log (one per destination). */
  logStreams: { destination: 'DestinationDelivery' },
});

export interface DeliveryStreamParams {
  kinesisStreamArn: string;
  /** Role Firehose assumes to read the stream. */
  sourceRoleArn: string;
  /** Role Firehose assumes to invoke the Lambda, write the bucket and its error log. */
  deliveryRoleArn: string;
  bucketArn: string;
  transformLambdaArn: string;
  logGroupName: string;
}

/** The Firehose API input for the AWS delivery stream. */
export function firehoseDeliveryStreamInput(p: DeliveryStreamParams): CreateDeliveryStreamInput {
  const logging = (stream: string) => ({ Enabled: true, LogGroupName: p.logGroupName, LogStreamName: stream });
  return {
    DeliveryStreamName: DELIVERY.name,
    DeliveryStreamType: 'KinesisStreamAsSource',
    KinesisStreamSourceConfiguration: { KinesisStreamARN: p.kinesisStreamArn, RoleARN: p.sourceRoleArn },
    ExtendedS3DestinationConfiguration: {
      RoleARN: p.deliveryRoleArn,
      BucketARN: p.bucketArn,
      Prefix: DELIVERY.prefix,
      ErrorOutputPrefix: DELIVERY.errorPrefix,
      BufferingHints: { IntervalInSeconds: DELIVERY.buffering.intervalSeconds, SizeInMBs: DELIVERY.buffering.sizeMiB },
      CompressionFormat: 'GZIP',
      CloudWatchLoggingOptions: logging(DELIVERY.logStreams.destination),
      ProcessingConfiguration: {
        Enabled: true,
        Processors: [
          {
            Type: 'Lambda',
            Parameters: [
              { ParameterName: 'LambdaArn', ParameterValue: p.transformLambdaArn },
              { ParameterName: 'BufferSizeInMBs', ParameterValue: String(DELIVERY.transform.bufferSizeMiB) },
              { ParameterName: 'BufferIntervalInSeconds', ParameterValue: String(DELIVERY.transform.bufferIntervalSeconds) },
              { ParameterName: 'NumberOfRetries', ParameterValue: String(DELIVERY.transform.retries) },
            ],
          },
        ],
      },
      DynamicPartitioningConfiguration: { Enabled: true, RetryOptions: { DurationInSeconds: DELIVERY.retryDurationSeconds } },
      // No backup of the source records: they hold card numbers (PCI DSS 3.2.1: keep stored account
      // data to a minimum). The input stream is the replay source; tables/ holds every row, tokenised.
      S3BackupMode: 'Disabled',
    },
  };
}
