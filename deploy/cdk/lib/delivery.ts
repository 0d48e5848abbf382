/**
 * CloudFormation props of the Firehose delivery stream, mapped field by field from the Firehose API
 * input that deploy/delivery-stream.ts builds (`firehoseDeliveryStreamInput`), so that the one
 * delivery definition is the one deployed. A field of the API input that this mapping does not know
 * throws at synth: a setting added to the definition can never be dropped silently.
 */
import type { CloudWatchLoggingOptions, CreateDeliveryStreamInput, BufferingHints } from '@aws-sdk/client-firehose';
import type { CfnDeliveryStreamProps } from 'aws-cdk-lib/aws-kinesisfirehose';

function only<T extends object>(what: string, value: T | undefined, known: readonly (keyof T)[]): T {
  if (value === undefined) throw new Error(`delivery stream: ${what} is missing`);
  const unknown = Object.keys(value).filter((k) => !(known as readonly string[]).includes(k));
  if (unknown.length > 0) throw new Error(`delivery stream: ${what} has fields the CDK mapping does not handle: ${unknown.join(', ')}`);
  return value;
}

function buffering(what: string, b: BufferingHints | undefined) {
  const x = only(what, b, ['IntervalInSeconds', 'SizeInMBs']);
  return { intervalInSeconds: x.IntervalInSeconds!, sizeInMBs: x.SizeInMBs! };
}

function logging(what: string, l: CloudWatchLoggingOptions | undefined) {
  const x = only(what, l, ['Enabled', 'LogGroupName', 'LogStreamName']);
  return { enabled: x.Enabled!, logGroupName: x.LogGroupName!, logStreamName: x.LogStreamName! };
}

export function cfnDeliveryStreamProps(input: CreateDeliveryStreamInput): CfnDeliveryStreamProps {
  const top = only('input', input, ['DeliveryStreamName', 'DeliveryStreamType', 'KinesisStreamSourceConfiguration', 'ExtendedS3DestinationConfiguration']);
  const source = only('KinesisStreamSourceConfiguration', top.KinesisStreamSourceConfiguration, ['KinesisStreamARN', 'RoleARN']);
  const s3 = only('ExtendedS3DestinationConfiguration', top.ExtendedS3DestinationConfiguration, [
    'RoleARN',
    'BucketARN',
    'Prefix',
    'ErrorOutputPrefix',
    'BufferingHints',
    'CompressionFormat',
    'CloudWatchLoggingOptions',
    'ProcessingConfiguration',
    'DynamicPartitioningConfiguration',
    'S3BackupMode',
    'S3BackupConfiguration',
  ]);
  const processing = only('ProcessingConfiguration', s3.ProcessingConfiguration, ['Enabled', 'Processors']);
  const processors = (processing.Processors ?? []).map((p, i) => {
    const x = only(`Processors[${i}]`, p, ['Type', 'Parameters']);
    return {
      type: x.Type!,
      parameters: (x.Parameters ?? []).map((q, j) => {
        const y = only(`Processors[${i}].Parameters[${j}]`, q, ['ParameterName', 'ParameterValue']);
        return { parameterName: y.ParameterName!, parameterValue: y.ParameterValue! };
      }),
    };
  });
  const partitioning = only('DynamicPartitioningConfiguration', s3.DynamicPartitioningConfiguration, ['Enabled', 'RetryOptions']);
  const partitioningRetry = only('DynamicPartitioningConfiguration.RetryOptions', partitioning.RetryOptions, ['DurationInSeconds']);
  if (s3.S3BackupMode !== 'Disabled' || s3.S3BackupConfiguration !== undefined) {
    throw new Error('ExtendedS3DestinationConfiguration: a source-record backup would store card numbers; S3BackupMode must be Disabled');
  }

  return {
    deliveryStreamName: top.DeliveryStreamName,
    deliveryStreamType: top.DeliveryStreamType,
    kinesisStreamSourceConfiguration: { kinesisStreamArn: source.KinesisStreamARN!, roleArn: source.RoleARN! },
    extendedS3DestinationConfiguration: {
      roleArn: s3.RoleARN!,
      bucketArn: s3.BucketARN!,
      prefix: s3.Prefix!,
      errorOutputPrefix: s3.ErrorOutputPrefix!,
      bufferingHints: buffering('BufferingHints', s3.BufferingHints),
      compressionFormat: s3.CompressionFormat!,
      cloudWatchLoggingOptions: logging('CloudWatchLoggingOptions', s3.CloudWatchLoggingOptions),
      processingConfiguration: { enabled: processing.Enabled!, processors },
      dynamicPartitioningConfiguration: {
        enabled: partitioning.Enabled!,
        retryOptions: { durationInSeconds: partitioningRetry.DurationInSeconds! },
      },
      s3BackupMode: 'Disabled',
    },
  };
}
