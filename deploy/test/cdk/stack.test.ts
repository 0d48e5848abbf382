/**
 * The AWS stack, synthesized offline once: every resource and its key properties, each IAM role's
 * exact permissions, and cdk-nag's AwsSolutions pack (no unacknowledged finding, a reason for each).
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IPrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnElement } from 'aws-cdk-lib';
import type { AwsCustomResource } from 'aws-cdk-lib/custom-resources';
import { buildApp } from '../../cdk/lib/build-app.js';
import { cfnDeliveryStreamProps } from '../../cdk/lib/delivery.js';
import { CARDS_KEY, JSON_PATHS_KEY, WAREHOUSE } from '../../cdk/lib/payments-stack.js';
import { DELIVERY, firehoseDeliveryStreamInput } from '../../delivery-stream.js';
import { PROCESSOR_CONTAINER, SIMULATOR_COMMAND } from '../../../ecs/processor-service.js';

const outdir = t.testdir();
const { app, stack } = buildApp({ outdir });
const started = Date.now();
app.synth();
t.comment(`synth with cdk-nag: ${Date.now() - started} ms`);
const template = Template.fromStack(stack);
const r = (v: unknown) => stack.resolve(v);
const crId = (c: AwsCustomResource) => stack.getLogicalId(c.node.findChild('Resource').node.defaultChild as CfnElement);
type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };
const resources = template.toJSON().Resources as Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, v]) => v.Type === type);
const only = (type: string) => {
  const found = ofType(type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]![1].Properties;
};

/** An AwsCustomResource call as JSON, with each CloudFormation reference shown as <LogicalId>. */
function sdkCall(value: { 'Fn::Join': [string, unknown[]] }) {
  const text = value['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : `<${(p as { Ref: string }).Ref}>`)).join('');
  return JSON.parse(text) as { service: string; action: string; parameters: Record<string, any> };
}

interface Statement {
  actions: string[];
  resources: unknown[];
}
/** Every statement of every policy attached to the role behind `principal`, normalized. */
function statementsOf(principal: IPrincipal, tt: Test): Statement[] {
  const role = r((principal as unknown as { roleName: string }).roleName);
  const out: Statement[] = [];
  for (const [, p] of ofType('AWS::IAM::Policy')) {
    if (!(p.Properties.Roles as unknown[]).some((x) => JSON.stringify(x) === JSON.stringify(role))) continue;
    for (const s of p.Properties.PolicyDocument.Statement) {
      tt.equal(s.Effect, 'Allow', 'Allow statements only');
      const actions = [s.Action].flat().sort();
      out.push({ actions, resources: [s.Resource].flat() });
    }
  }
  return out;
}
function sameGrants(tt: Test, principal: IPrincipal, expected: Statement[], what: string) {
  const norm = (ss: Statement[]) => ss.map((s) => JSON.stringify({ a: [...s.actions].sort(), r: s.resources })).sort();
  tt.same(norm(statementsOf(principal, tt)), norm(expected.map((s) => ({ actions: s.actions, resources: s.resources.map(r) })))
    , `${what}: exactly these actions on exactly these resources`);
}

t.test('cdk-nag AwsSolutions: no finding left, every acknowledgement has a reason', async (t) => {
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: { pluginName: string }) => p.pluginName === 'AwsSolutions');
  t.ok(nag, 'the AwsSolutions pack ran');
  t.equal(nag.conclusion, 'success');
  t.same(nag.violations, []);
  for (const v of nag.suppressedViolations) t.ok(typeof v.reason === 'string' && v.reason.length >= 40, `${v.ruleName} at ${v.acknowledgedAt} has a written reason`);
  t.ok(nag.suppressedViolations.length > 0);
});

t.test('parameters: shard count, Firehose CIDR (no default: it depends on the region), node type', async (t) => {
  template.hasParameter('ShardCount', { Type: 'Number', Default: 4, MinValue: 1 });
  const cidr = template.toJSON().Parameters.FirehoseCidr;
  t.equal(cidr.Type, 'String');
  t.equal(cidr.Default, undefined);
  template.hasParameter('RedshiftNodeType', { Type: 'String' });
});

t.test('Kinesis stream: shards from the parameter, 24 h retention, KMS with its own key', async (t) => {
  const p = only('AWS::Kinesis::Stream');
  t.same(p.ShardCount, { Ref: 'ShardCount' });
  t.equal(p.RetentionPeriodHours, 24);
  t.same(p.StreamEncryption, { EncryptionType: 'KMS', KeyId: r(stack.streamKey.keyArn) });
  t.same(p.StreamModeDetails, { StreamMode: 'PROVISIONED' });
  template.hasResourceProperties('AWS::KMS::Key', { Description: 'Payments stream encryption', EnableKeyRotation: true });
});

t.test('lease table: on demand, point-in-time recovery, partition key leaseKey (string)', async (t) => {
  const p = only('AWS::DynamoDB::Table');
  t.same(p.KeySchema, [{ AttributeName: 'leaseKey', KeyType: 'HASH' }]);
  t.same(p.AttributeDefinitions, [{ AttributeName: 'leaseKey', AttributeType: 'S' }]);
  t.equal(p.BillingMode, 'PAY_PER_REQUEST');
  t.same(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
});

t.test('staging bucket: encrypted, no public access, TLS only, lifecycle on the Firehose prefixes', async (t) => {
  const [, bucket] = Object.entries(resources).find(([id]) => JSON.stringify(r(stack.staging.bucketName)) === JSON.stringify({ Ref: id }))!;
  const p = bucket.Properties;
  t.same(p.BucketEncryption.ServerSideEncryptionConfiguration, [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
  t.same(p.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  const rules = p.LifecycleConfiguration.Rules as { Prefix?: string; ExpirationInDays?: number; Status: string }[];
  const prefixes = [DELIVERY.s3Prefix, DELIVERY.s3ErrorPrefix].map((x) => x.split('/')[0] + '/');
  for (const prefix of prefixes) t.ok(rules.some((x) => x.Prefix === prefix && x.ExpirationInDays && x.Status === 'Enabled'), `objects under ${prefix} expire`);
  t.notOk(rules.some((x) => x.Prefix !== undefined && JSON_PATHS_KEY.startsWith(x.Prefix) && x.ExpirationInDays), 'the JSON paths file never expires');
  t.ok(p.LoggingConfiguration?.DestinationBucketName, 'server access logs');
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: r(stack.staging.bucketName),
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
  });
});

t.test('Firehose: built from deploy/delivery-stream.ts, Kinesis source, Redshift COPY with JSON paths', async (t) => {
  const p = only('AWS::KinesisFirehose::DeliveryStream');
  const expected = cfnDeliveryStreamProps(
    firehoseDeliveryStreamInput({
      kinesisStreamArn: stack.stream.streamArn,
      sourceRoleArn: stack.firehoseSourceRole.roleArn,
      deliveryRoleArn: stack.firehoseDeliveryRole.roleArn,
      bucketArn: stack.staging.bucketArn,
      clusterJdbcUrl: `jdbc:redshift://${stack.warehouse.attrEndpointAddress}:${stack.warehouse.attrEndpointPort}/${WAREHOUSE.database}`,
      secretArn: stack.secret.secretArn,
      jsonPathsS3Uri: `s3://${stack.staging.bucketName}/${JSON_PATHS_KEY}`,
    }),
  );
  t.same(expected.redshiftDestinationConfiguration && r(expected).redshiftDestinationConfiguration.copyCommand, {
    dataTableName: p.RedshiftDestinationConfiguration.CopyCommand.DataTableName,
    dataTableColumns: p.RedshiftDestinationConfiguration.CopyCommand.DataTableColumns,
    copyOptions: p.RedshiftDestinationConfiguration.CopyCommand.CopyOptions,
  }, 'the COPY command is the one firehoseDeliveryStreamInput builds');
  t.throws(() => cfnDeliveryStreamProps({ ...firehoseDeliveryStreamInput({} as never), Tags: [] } as never), /Tags/, 'an unmapped field of the definition fails the synth');
  t.equal(p.DeliveryStreamName, DELIVERY.name);
  t.equal(p.DeliveryStreamType, 'KinesisStreamAsSource');
  t.same(p.KinesisStreamSourceConfiguration.KinesisStreamARN, r(stack.stream.streamArn));
  const rs = p.RedshiftDestinationConfiguration;
  t.equal(rs.CopyCommand.DataTableName, 'staging.payment_events');
  t.equal(rs.CopyCommand.DataTableColumns, DELIVERY.columns.join(','));
  t.match(JSON.stringify(rs.CopyCommand.CopyOptions), /FORMAT AS JSON 's3:\/\//);
  t.match(JSON.stringify(rs.CopyCommand.CopyOptions), new RegExp(`/${JSON_PATHS_KEY}'`));
  t.same(rs.RetryOptions, { DurationInSeconds: DELIVERY.retryDurationSeconds });
  t.equal(rs.S3Configuration.Prefix, DELIVERY.s3Prefix);
  t.equal(rs.S3Configuration.ErrorOutputPrefix, DELIVERY.s3ErrorPrefix);
  t.same(rs.S3Configuration.BufferingHints, { IntervalInSeconds: DELIVERY.buffering.intervalSeconds, SizeInMBs: DELIVERY.buffering.sizeMiB });
  t.same(rs.SecretsManagerConfiguration, { Enabled: true, SecretARN: r(stack.secret.secretArn), RoleARN: r(stack.firehoseDeliveryRole.roleArn) });
  t.notOk(rs.Password, 'no password in the template');
  const deps = Object.values(resources).find((x) => x.Type === 'AWS::KinesisFirehose::DeliveryStream')!.DependsOn ?? [];
  for (const cr of [stack.stagingDdl, stack.jsonPaths]) {
    t.ok(deps.includes(crId(cr)), `delivery waits for ${cr.node.id}`);
  }
});

t.test('the JSON paths file is written to the staging bucket by a custom resource', async (t) => {
  const call = sdkCall(resources[crId(stack.jsonPaths)]!.Properties.Create);
  t.equal(call.service, 'S3');
  t.equal(call.action, 'PutObject');
  t.equal(call.parameters.Bucket, '<Staging12D1754E>');
  t.equal(call.parameters.Key, JSON_PATHS_KEY);
  t.same(JSON.parse(call.parameters.Body), DELIVERY.jsonPaths, 'the body is DELIVERY.jsonPaths');
});

t.test('Redshift: single node, encrypted, TLS, credentials in Secrets Manager, 5439 from the Firehose CIDR only', async (t) => {
  const p = only('AWS::Redshift::Cluster');
  t.equal(p.ClusterType, 'single-node');
  t.equal(p.Encrypted, true);
  t.ok(p.KmsKeyId);
  t.equal(p.Port, 5439);
  t.equal(p.DBName, WAREHOUSE.database);
  t.match(JSON.stringify(p.MasterUserPassword), /resolve:secretsmanager/);
  t.same(p.VpcSecurityGroupIds, [r(stack.warehouseSecurityGroup.securityGroupId)]);
  template.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password' }) });
  template.hasResourceProperties('AWS::Redshift::ClusterParameterGroup', {
    Parameters: Match.arrayWith([{ ParameterName: 'require_ssl', ParameterValue: 'true' }]),
  });
  const sg = resources[r(stack.warehouseSecurityGroup.securityGroupId)['Fn::GetAtt'][0]]!.Properties;
  t.same(sg.SecurityGroupIngress, [{ CidrIp: { Ref: 'FirehoseCidr' }, Description: 'Amazon Data Firehose', FromPort: 5439, IpProtocol: 'tcp', ToPort: 5439 }]);
  const world = JSON.stringify(resources).includes('"CidrIp":"0.0.0.0/0","Description":"Amazon');
  t.notOk(world, 'never the world');
  t.notOk(ofType('AWS::EC2::SecurityGroupIngress').length, 'no other ingress rule');
});

t.test('the staging DDL runs through the Redshift Data API as part of the deployment', async (t) => {
  const sql = readFileSync(new URL('../../warehouse/staging.sql', import.meta.url), 'utf8');
  t.ok(stack.stagingStatements.length >= 3);
  for (const s of stack.stagingStatements) t.notMatch(s, /--|;/);
  t.ok(stack.stagingStatements.some((s) => s.startsWith('CREATE TABLE IF NOT EXISTS staging.payment_events (')));
  t.match(sql, /CREATE SCHEMA IF NOT EXISTS staging/);
  const call = sdkCall(resources[crId(stack.stagingDdl)]!.Properties.Create);
  t.equal(call.service, 'RedshiftData');
  t.equal(call.action, 'BatchExecuteStatement');
  t.same(call.parameters, { ClusterIdentifier: '<Warehouse>', Database: WAREHOUSE.database, SecretArn: '<WarehouseSecret3BF9F785>', Sqls: stack.stagingStatements });
});

t.test('ECS: cluster, Fargate service with circuit breaker rollback, tasks bounded by the shard count', async (t) => {
  template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  const svc = only('AWS::ECS::Service');
  t.same(svc.DeploymentConfiguration.DeploymentCircuitBreaker, { Enable: true, Rollback: true });
  t.equal(svc.LaunchType, 'FARGATE');
  t.equal(svc.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  const target = only('AWS::ApplicationAutoScaling::ScalableTarget');
  t.same(target.MaxCapacity, { Ref: 'ShardCount' });
  t.equal(target.MinCapacity, 1);
  template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
});

t.test('processor task: health check, stop timeout, ephemeral state, logs, environment', async (t) => {
  const td = r(stack.processor.taskDefinition.taskDefinitionArn) as { Ref: string };
  const p = resources[td.Ref]!.Properties;
  const c = PROCESSOR_CONTAINER;
  t.same(p.EphemeralStorage, { SizeInGiB: c.ephemeralStorageGiB });
  t.same(p.Volumes, [{ Name: 'state' }]);
  const [container] = p.ContainerDefinitions;
  t.same(container.HealthCheck.Command, ['CMD', ...c.healthCheckCommand]);
  t.ok(container.StopTimeout * 1000 > c.shutdownTimeoutMs, 'stop timeout longer than the shutdown');
  t.same(container.MountPoints, [{ ContainerPath: c.stateDir, ReadOnly: false, SourceVolume: 'state' }]);
  t.equal(container.LogConfiguration.LogDriver, 'awslogs');
  t.equal(container.User, c.user);
  t.equal(container.ReadonlyRootFilesystem, true);
  t.equal(container.LinuxParameters.InitProcessEnabled, true);
  const env = Object.fromEntries((container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
  t.same(env.LEASE_TABLE, r(stack.leaseTable.tableName));
  t.same(env.KINESIS_STREAM, r(stack.stream.streamName));
  t.equal(env.KINESIS_ENDPOINT, '');
  t.equal(env.DYNAMODB_ENDPOINT, '');
  t.equal(env.STATE_DIR, c.stateDir);
  t.equal(Number(env.SHUTDOWN_TIMEOUT_MS), c.shutdownTimeoutMs);
  t.same(env.CARDS_FILE, r(`s3://${stack.cards.bucketName}/${CARDS_KEY}`), 'the cards file from the Cards bucket');
});

t.test('the Cards bucket: private, encrypted, TLS only, versioned, logged, kept on stack deletion', async (t) => {
  const id = (r(stack.cards.bucketName) as { Ref: string }).Ref;
  const b = resources[id]!;
  t.same(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault, { SSEAlgorithm: 'AES256' });
  t.same(b.Properties.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  t.same(b.Properties.VersioningConfiguration, { Status: 'Enabled' });
  t.equal(b.Properties.LoggingConfiguration.LogFilePrefix, 'cards/');
  t.equal((b as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
  t.ok(Object.values(resources).some((x) => x.Type === 'AWS::S3::BucketPolicy' && x.Properties.Bucket.Ref === id && JSON.stringify(x.Properties.PolicyDocument).includes('aws:SecureTransport')), 'TLS enforced');
  t.ok(template.toJSON().Outputs.CardsFile, 'the CardsFile output names where to upload it');
});

t.test('optional simulator task definition', async (t) => {
  const td = r(stack.processor.simulatorTaskDefinition!.taskDefinitionArn) as { Ref: string };
  t.same(resources[td.Ref]!.Properties.ContainerDefinitions[0].Command, [...SIMULATOR_COMMAND]);
  const without = buildApp({ outdir: t.testdir(), context: { simulator: 'false' } });
  t.equal(without.stack.processor.simulatorTaskDefinition, undefined);
});

t.test('IAM: each role has exactly the actions its component uses, on exactly its resources', async (t) => {
  const streamArn = stack.stream.streamArn;
  const keyArn = stack.streamKey.keyArn;
  sameGrants(t, stack.processor.taskDefinition.taskRole, [
    { actions: ['kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards', 'kinesis:PutRecords'], resources: [streamArn] },
    { actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [keyArn] },
    { actions: ['s3:GetObject'], resources: [stack.cards.arnForObjects(CARDS_KEY)] },
    { actions: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'], resources: [stack.leaseTable.tableArn] },
  ], 'processor');
  sameGrants(t, stack.processor.simulatorTaskDefinition!.taskRole, [
    { actions: ['kinesis:PutRecords'], resources: [streamArn] },
    { actions: ['kms:GenerateDataKey'], resources: [keyArn] },
    { actions: ['s3:GetObject'], resources: [stack.cards.arnForObjects(CARDS_KEY)] },
  ], 'simulator');
  sameGrants(t, stack.firehoseSourceRole, [
    { actions: ['kinesis:DescribeStream', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'], resources: [streamArn] },
    { actions: ['kms:Decrypt'], resources: [keyArn] },
  ], 'firehose source');
  sameGrants(t, stack.firehoseDeliveryRole, [
    { actions: ['s3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], resources: [stack.staging.bucketArn] },
    { actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], resources: [stack.staging.arnForObjects('*')] },
    { actions: ['secretsmanager:GetSecretValue'], resources: [stack.secret.secretArn] },
  ], 'firehose delivery');
  // The deploy-step Lambda (one singleton for both custom resources).
  sameGrants(t, stack.stagingDdl.grantPrincipal, [
    { actions: ['redshift-data:BatchExecuteStatement'], resources: [stack.clusterArn] },
    { actions: ['secretsmanager:GetSecretValue'], resources: [stack.secret.secretArn] },
    { actions: ['s3:PutObject'], resources: [stack.staging.arnForObjects(JSON_PATHS_KEY)] },
  ], 'deploy steps');
  // Execution roles: image pull and logs only.
  for (const td of [stack.processor.taskDefinition, stack.processor.simulatorTaskDefinition!]) {
    for (const s of statementsOf(td.obtainExecutionRole(), t)) {
      for (const a of s.actions) t.match(a, /^(ecr:(GetAuthorizationToken|BatchCheckLayerAvailability|GetDownloadUrlForLayer|BatchGetImage)|logs:(CreateLogStream|PutLogEvents))$/, `execution role action ${a}`);
    }
  }
  // Trust: Firehose roles are assumable by Firehose only.
  for (const role of [stack.firehoseSourceRole, stack.firehoseDeliveryRole]) {
    const id = (r(role.roleArn) as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    t.same(resources[id]!.Properties.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'firehose.amazonaws.com' });
  }
});
