/**
 * A task's own stream consumer for enhanced fan-out, and the grants to read through it (the
 * processor's and the console's). IAM names a consumer by its ARN (with its creation timestamp)
 * for SubscribeToShard, but as <stream ARN>/consumer/<name>, without the timestamp, when it is
 * described by stream and name (common/src/stream-consumer.ts does): so DescribeStreamConsumer is
 * granted under both names, of this one consumer only. No RegisterStreamConsumer: the stack
 * registers it.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';

export function fanOutConsumer(scope: Construct, task: ecs.TaskDefinition, streamArn: string, consumerName: string): kinesis.CfnStreamConsumer {
  const consumer = new kinesis.CfnStreamConsumer(scope, 'StreamConsumer', { consumerName, streamArn });
  task.addToTaskRolePolicy(
    new iam.PolicyStatement({
      sid: 'FanOutConsumer',
      actions: ['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard'],
      resources: [consumer.attrConsumerArn],
    }),
  );
  task.addToTaskRolePolicy(
    new iam.PolicyStatement({
      sid: 'FanOutConsumerByName',
      actions: ['kinesis:DescribeStreamConsumer'],
      resources: [`${streamArn}/consumer/${consumerName}`],
    }),
  );
  return consumer;
}
