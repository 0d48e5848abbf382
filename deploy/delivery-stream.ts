/**
 * The one definition of the delivery stream that lands every Kinesis record in the warehouse.
 * In AWS it is a Firehose delivery stream (Kinesis source → S3 staging → Redshift COPY with JSON
 * paths), built by the CDK app from `firehoseDeliveryStreamInput`. Locally, the Firehose stand-in
 * (deploy/local/firehose-standin.ts) reads the same table, column mapping and buffering from here.
 */
import type { CreateDeliveryStreamInput } from '@aws-sdk/client-firehose';

export const DELIVERY_STREAM_NAME = 'payments-to-warehouse';

/**
 * Column ← JSON path of the record. COPY ... FORMAT AS JSON 's3://…/jsonpaths.json' maps them by
 * position; an object path ($.data) is loaded as its JSON text, which is what the stand-in writes.
 * event_dw_regdate is left to the column default (GETDATE()).
 */
export const COLUMN_PATHS = [
  ['event_type', '$.event_type'],
  ['event_id', '$.event_id'],
  ['event_date_origin', '$.event_date_origin'],
  ['event_json_data', '$.data'],
] as const;

export const DELIVERY = Object.freeze({
  name: DELIVERY_STREAM_NAME,
  table: 'staging.payment_events',
  rejectsTable: 'staging.payment_events_rejects',
  columns: COLUMN_PATHS.map(([column]) => column),
  jsonPaths: { jsonpaths: COLUMN_PATHS.map(([, path]) => path) },
  /** Firehose buffering in AWS: whichever comes first. */
  buffering: { intervalSeconds: 60, sizeMiB: 5 },
  /** The stand-in flushes at least every second, so local rows appear quickly. */
  localBuffering: { intervalSeconds: 1, sizeMiB: 5 },
  /** How long Firehose retries a failed COPY before writing to the error prefix. */
  retryDurationSeconds: 3600,
  s3Prefix: 'payments/!{timestamp:yyyy/MM/dd/HH}/',
  s3ErrorPrefix: 'errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/',
});

export interface DeliveryStreamParams {
  kinesisStreamArn: string;
  /** Role Firehose assumes to read the stream and to write the staging bucket. */
  sourceRoleArn: string;
  deliveryRoleArn: string;
  bucketArn: string;
  kmsKeyArn?: string;
  clusterJdbcUrl: string;
  /** Secrets Manager secret with the cluster's username and password. */
  secretArn: string;
  /** S3 URI of the JSON paths file holding DELIVERY.jsonPaths. */
  jsonPathsS3Uri: string;
}

/** The Firehose API input for the AWS delivery stream, from the same settings the stand-in uses. */
export function firehoseDeliveryStreamInput(p: DeliveryStreamParams): CreateDeliveryStreamInput {
  return {
    DeliveryStreamName: DELIVERY.name,
    DeliveryStreamType: 'KinesisStreamAsSource',
    KinesisStreamSourceConfiguration: { KinesisStreamARN: p.kinesisStreamArn, RoleARN: p.sourceRoleArn },
    RedshiftDestinationConfiguration: {
      RoleARN: p.deliveryRoleArn,
      ClusterJDBCURL: p.clusterJdbcUrl,
      SecretsManagerConfiguration: { Enabled: true, SecretARN: p.secretArn, RoleARN: p.deliveryRoleArn },
      CopyCommand: {
        DataTableName: DELIVERY.table,
        DataTableColumns: DELIVERY.columns.join(','),
        CopyOptions: `FORMAT AS JSON '${p.jsonPathsS3Uri}' TIMEFORMAT 'auto' TRUNCATECOLUMNS`,
      },
      RetryOptions: { DurationInSeconds: DELIVERY.retryDurationSeconds },
      S3Configuration: {
        RoleARN: p.deliveryRoleArn,
        BucketARN: p.bucketArn,
        Prefix: DELIVERY.s3Prefix,
        ErrorOutputPrefix: DELIVERY.s3ErrorPrefix,
        BufferingHints: { IntervalInSeconds: DELIVERY.buffering.intervalSeconds, SizeInMBs: DELIVERY.buffering.sizeMiB },
        CompressionFormat: 'UNCOMPRESSED',
        ...(p.kmsKeyArn
          ? { EncryptionConfiguration: { KMSEncryptionConfig: { AWSKMSKeyARN: p.kmsKeyArn } } }
          : {}),
      },
    },
  };
}
