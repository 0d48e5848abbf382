/**
 * CloudFormation props of the Firehose delivery stream, mapped field by field from the Firehose API
 * input that deploy/delivery-stream.ts builds (`firehoseDeliveryStreamInput`), so that the one
 * delivery definition is the one deployed. A field of the API input that this mapping does not know
 * throws at synth: a setting added to the definition can never be dropped silently.
 */
import type { CreateDeliveryStreamInput } from '@aws-sdk/client-firehose';
import type { CfnDeliveryStreamProps } from 'aws-cdk-lib/aws-kinesisfirehose';

function only<T extends object>(what: string, value: T | undefined, known: readonly (keyof T)[]): T {
  if (value === undefined) throw new Error(`delivery stream: ${what} is missing`);
  const unknown = Object.keys(value).filter((k) => !(known as readonly string[]).includes(k));
  if (unknown.length > 0) throw new Error(`delivery stream: ${what} has fields the CDK mapping does not handle: ${unknown.join(', ')}`);
  return value;
}

export function cfnDeliveryStreamProps(input: CreateDeliveryStreamInput): CfnDeliveryStreamProps {
  const top = only('input', input, ['DeliveryStreamName', 'DeliveryStreamType', 'KinesisStreamSourceConfiguration', 'RedshiftDestinationConfiguration']);
  const source = only('KinesisStreamSourceConfiguration', top.KinesisStreamSourceConfiguration, ['KinesisStreamARN', 'RoleARN']);
  const rs = only('RedshiftDestinationConfiguration', top.RedshiftDestinationConfiguration, [
    'RoleARN',
    'ClusterJDBCURL',
    'SecretsManagerConfiguration',
    'CopyCommand',
    'RetryOptions',
    'S3Configuration',
  ]);
  const secret = only('SecretsManagerConfiguration', rs.SecretsManagerConfiguration, ['Enabled', 'SecretARN', 'RoleARN']);
  const copy = only('CopyCommand', rs.CopyCommand, ['DataTableName', 'DataTableColumns', 'CopyOptions']);
  const retry = only('RetryOptions', rs.RetryOptions, ['DurationInSeconds']);
  const s3 = only('S3Configuration', rs.S3Configuration, [
    'RoleARN',
    'BucketARN',
    'Prefix',
    'ErrorOutputPrefix',
    'BufferingHints',
    'CompressionFormat',
    'EncryptionConfiguration',
  ]);
  const buffering = only('BufferingHints', s3.BufferingHints, ['IntervalInSeconds', 'SizeInMBs']);
  const kmsArn = s3.EncryptionConfiguration?.KMSEncryptionConfig?.AWSKMSKeyARN;

  return {
    deliveryStreamName: top.DeliveryStreamName,
    deliveryStreamType: top.DeliveryStreamType,
    kinesisStreamSourceConfiguration: { kinesisStreamArn: source.KinesisStreamARN!, roleArn: source.RoleARN! },
    redshiftDestinationConfiguration: {
      roleArn: rs.RoleARN!,
      clusterJdbcurl: rs.ClusterJDBCURL!,
      secretsManagerConfiguration: { enabled: secret.Enabled!, secretArn: secret.SecretARN!, roleArn: secret.RoleARN! },
      copyCommand: { dataTableName: copy.DataTableName!, dataTableColumns: copy.DataTableColumns!, copyOptions: copy.CopyOptions! },
      retryOptions: { durationInSeconds: retry.DurationInSeconds! },
      s3Configuration: {
        roleArn: s3.RoleARN!,
        bucketArn: s3.BucketARN!,
        prefix: s3.Prefix!,
        errorOutputPrefix: s3.ErrorOutputPrefix!,
        bufferingHints: { intervalInSeconds: buffering.IntervalInSeconds!, sizeInMBs: buffering.SizeInMBs! },
        compressionFormat: s3.CompressionFormat!,
        ...(kmsArn ? { encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: kmsArn } } } : {}),
      },
    },
  };
}
