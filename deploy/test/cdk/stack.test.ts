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
import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import { buildApp } from '../../cdk/lib/build-app.js';
import { cfnDeliveryStreamProps } from '../../cdk/lib/delivery.js';
import { AUDIT_RETENTION_DAYS, CARDS_KEY, CARD_TOKEN_KEY_ID, SNAPSHOT_RETENTION, STOLEN_LIST_KEY, WAREHOUSE } from '../../cdk/lib/payments-stack.js';
import { DELIVERY, firehoseDeliveryStreamInput, tablePrefix } from '../../delivery-stream.js';
import { FAN_OUT, LAG_SCALING, PROCESSOR_CONTAINER, SIMULATOR_COMMAND, SNAPSHOTS } from '../../../ecs/processor-service.js';
import { loadProcessorConfig } from '../../../processor/src/config.js';
import { readMode } from '../../../common/src/config.js';
import { COLLECTOR_IMAGE, LAG_METRIC, SCRAPE_JOB, type collectorConfig } from '../../../ecs/collector.js';
import { GRAFANA_VERSION, RULES_FILE } from '../../cdk/lib/observability.js';
import { contentHash } from '../../grafana/provisioner.js';
import { parse } from 'yaml';

const outdir = t.testdir();
// The console's domain and certificate are the deployer's (deploy/test/cdk/console.test.ts tests it).
const context = {
  consoleDomain: 'console.example.com',
  consoleCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000',
};
const { app, stack } = buildApp({ outdir, context });
const started = Date.now();
app.synth();
t.comment(`synth with cdk-nag: ${Date.now() - started} ms`);
const template = Template.fromStack(stack);
const r = (v: unknown) => stack.resolve(v);
type Resource = {
  Type: string;
  Properties: Record<string, any>;
  DependsOn?: string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};
const resources = template.toJSON().Resources as Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, v]) => v.Type === type);
const only = (type: string) => {
  const found = ofType(type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]![1].Properties;
};

interface Statement {
  actions: string[];
  resources: unknown[];
  conditions?: unknown;
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
      out.push({ actions, resources: [s.Resource].flat(), conditions: s.Condition });
    }
  }
  return out;
}
function sameGrants(tt: Test, principal: IPrincipal, expected: Statement[], what: string) {
  const norm = (ss: Statement[]) => ss.map((s) => JSON.stringify({ a: [...s.actions].sort(), r: s.resources, c: s.conditions })).sort();
  tt.same(
    norm(statementsOf(principal, tt)),
    norm(expected.map((s) => ({ actions: s.actions, resources: s.resources.map(r), conditions: r(s.conditions) }))),
    `${what}: exactly these actions on exactly these resources`,
  );
}

t.test('cdk-nag AwsSolutions: no finding left, every acknowledgement has a reason', async (t) => {
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: { pluginName: string }) => p.pluginName === 'AwsSolutions');
  t.ok(nag, 'the AwsSolutions pack ran');
  t.equal(nag.conclusion, 'success');
  t.same(nag.violations, []);
  for (const v of nag.suppressedViolations)
    t.ok(typeof v.reason === 'string' && v.reason.length >= 40, `${v.ruleName} at ${v.acknowledgedAt} has a written reason`);
  t.ok(nag.suppressedViolations.length > 0);
});

t.test('parameters: shard count and node type', async (t) => {
  template.hasParameter('ShardCount', { Type: 'Number', Default: 4, MinValue: 1 });
  template.hasParameter('RedshiftNodeType', { Type: 'String' });
  for (const type of template.toJSON().Parameters.RedshiftNodeType.AllowedValues) t.match(type, /^ra3\./, 'RA3 only: auto-copy needs it');
  t.same(
    Object.keys(template.toJSON().Parameters)
      .filter((k) => !k.startsWith('BootstrapVersion'))
      .sort(),
    ['RedshiftNodeType', 'ShardCount'],
  );
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

t.test('staging bucket: encrypted, no public access, TLS only, one retention for tables/ and errors/, kept on stack deletion', async (t) => {
  const [id, bucket] = Object.entries(resources).find(([id]) => JSON.stringify(r(stack.staging.bucketName)) === JSON.stringify({ Ref: id }))!;
  const p = bucket.Properties;
  t.same(p.BucketEncryption.ServerSideEncryptionConfiguration, [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
  t.same(p.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  const rules = p.LifecycleConfiguration.Rules as { Prefix?: string; ExpirationInDays?: number; Status: string }[];
  for (const prefix of ['tables/', 'errors/']) {
    t.ok(
      rules.some((x) => x.Prefix === prefix && x.ExpirationInDays === DELIVERY.retentionDays && x.Status === 'Enabled'),
      `objects under ${prefix} expire after ${DELIVERY.retentionDays} days`,
    );
  }
  t.same(
    [...new Set(rules.filter((x) => x.ExpirationInDays).map((x) => x.ExpirationInDays))],
    [DELIVERY.retentionDays],
    'one retention: no error outlives its data',
  );
  t.ok(DELIVERY.retentionDays >= 30, 'long enough to reload after a monthly reconciliation');
  t.notOk(
    rules.some((x) => x.Prefix === 'raw/'),
    'no raw/ prefix: source records (card numbers) are not backed up',
  );
  for (const prefix of [DELIVERY.prefix, DELIVERY.errorPrefix]) {
    t.ok(
      ['tables/', 'errors/'].some((x) => prefix.startsWith(x)),
      `${prefix} is under a retained prefix`,
    );
  }
  t.equal(tablePrefix('events'), 'tables/events/');
  t.ok(p.LoggingConfiguration?.DestinationBucketName, 'server access logs');
  t.equal(resources[id]!.DeletionPolicy, 'Retain');
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: r(stack.staging.bucketName),
    PolicyDocument: {
      Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
    },
  });
});

t.test('Firehose: Kinesis source → transformation Lambda → S3 by table, no backup of source records, delivery errors logged, no COPY', async (t) => {
  const p = only('AWS::KinesisFirehose::DeliveryStream');
  const expected = r(
    cfnDeliveryStreamProps(
      firehoseDeliveryStreamInput({
        kinesisStreamArn: stack.stream.streamArn,
        sourceRoleArn: stack.firehoseSourceRole.roleArn,
        deliveryRoleArn: stack.firehoseDeliveryRole.roleArn,
        bucketArn: stack.staging.bucketArn,
        transformLambdaArn: stack.transform.functionArn,
        logGroupName: stack.deliveryLogs.logGroupName,
      }),
    ),
  );
  t.same(p.ExtendedS3DestinationConfiguration.Prefix, expected.extendedS3DestinationConfiguration.prefix, 'built from firehoseDeliveryStreamInput');
  t.throws(
    () => cfnDeliveryStreamProps({ ...firehoseDeliveryStreamInput({} as never), Tags: [] } as never),
    /Tags/,
    'an unmapped field of the definition fails the synth',
  );
  t.throws(
    () => cfnDeliveryStreamProps({ DeliveryStreamName: 'x', RedshiftDestinationConfiguration: {} } as never),
    /RedshiftDestinationConfiguration/,
    'no direct Redshift destination',
  );
  t.equal(p.DeliveryStreamName, DELIVERY.name);
  t.equal(p.DeliveryStreamType, 'KinesisStreamAsSource');
  t.same(p.KinesisStreamSourceConfiguration.KinesisStreamARN, r(stack.stream.streamArn));
  t.notOk(p.RedshiftDestinationConfiguration, 'Firehose never connects to the cluster');
  t.notMatch(JSON.stringify(p), /TRUNCATECOLUMNS/, 'nothing is ever truncated silently');
  const s3 = p.ExtendedS3DestinationConfiguration;
  t.same(s3.BucketARN, r(stack.staging.bucketArn));
  t.equal(s3.Prefix, 'tables/!{partitionKeyFromLambda:table}/!{timestamp:yyyy/MM/dd/HH}/');
  t.equal(s3.ErrorOutputPrefix, DELIVERY.errorPrefix);
  t.match(s3.ErrorOutputPrefix, /!\{firehose:error-output-type\}/, 'errors sorted by type (processing-failed, …)');
  t.same(s3.DynamicPartitioningConfiguration, { Enabled: true, RetryOptions: { DurationInSeconds: DELIVERY.retryDurationSeconds } });
  t.ok(s3.BufferingHints.SizeInMBs >= 64, 'dynamic partitioning needs a buffer of at least 64 MiB');
  t.same(s3.ProcessingConfiguration, {
    Enabled: true,
    Processors: [
      {
        Type: 'Lambda',
        Parameters: [
          { ParameterName: 'LambdaArn', ParameterValue: r(stack.transform.functionArn) },
          { ParameterName: 'BufferSizeInMBs', ParameterValue: String(DELIVERY.transform.bufferSizeMiB) },
          { ParameterName: 'BufferIntervalInSeconds', ParameterValue: String(DELIVERY.transform.bufferIntervalSeconds) },
          { ParameterName: 'NumberOfRetries', ParameterValue: String(DELIVERY.transform.retries) },
        ],
      },
    ],
  });
  t.equal(s3.S3BackupMode, 'Disabled', 'source records (card numbers) are not backed up');
  t.equal(s3.S3BackupConfiguration, undefined);
  t.throws(
    () => {
      const input = firehoseDeliveryStreamInput({} as never);
      input.ExtendedS3DestinationConfiguration!.S3BackupMode = 'Enabled';
      return cfnDeliveryStreamProps(input);
    },
    /S3BackupMode must be Disabled/,
    'a definition that backs source records up fails the synth',
  );
  for (const [where, logging, streamName] of [['destination', s3.CloudWatchLoggingOptions, DELIVERY.logStreams.destination]] as const) {
    t.same(logging, { Enabled: true, LogGroupName: r(stack.deliveryLogs.logGroupName), LogStreamName: streamName }, `${where} delivery errors are logged`);
    template.hasResourceProperties('AWS::Logs::LogStream', { LogGroupName: r(stack.deliveryLogs.logGroupName), LogStreamName: streamName });
  }
  const fn = resources[(r(stack.transform.functionArn) as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!]!.Properties;
  t.equal(fn.Handler, 'index.handler');
  t.match(fn.Runtime, /^nodejs\d+\.x$/);
  t.ok(fn.Timeout <= 300, 'within the 5 minutes Firehose waits for a transformation');
});

t.test('Redshift: private, enhanced VPC routing, managed admin password, snapshot on deletion, audit logs', async (t) => {
  const [id, cluster] = Object.entries(resources).find(([, v]) => v.Type === 'AWS::Redshift::Cluster')!;
  const p = cluster.Properties;
  t.equal(p.ClusterType, 'single-node');
  t.equal(p.PubliclyAccessible, false);
  t.equal(p.EnhancedVpcRouting, true, 'COPY reads S3 through the VPC (gateway endpoint)');
  t.equal(p.ManageMasterPassword, true, 'the admin password is managed and rotated by Redshift');
  t.notOk(p.MasterUserPassword, 'no password in the template');
  t.equal(p.Encrypted, true);
  t.ok(p.KmsKeyId);
  t.equal(p.DBName, WAREHOUSE.database);
  t.equal(p.AutomatedSnapshotRetentionPeriod, WAREHOUSE.snapshotRetentionDays);
  t.equal(resources[id]!.DeletionPolicy, 'Snapshot');
  t.equal((resources[id] as { UpdateReplacePolicy?: string }).UpdateReplacePolicy, 'Snapshot');
  t.same(p.IamRoles, [r(stack.warehouse.loadRole.roleArn)]);
  const subnetGroup = only('AWS::Redshift::ClusterSubnetGroup');
  const isolated = stack.vpc.isolatedSubnets.map((s) => r(s.subnetId));
  t.same(subnetGroup.SubnetIds, isolated, 'isolated subnets: no route to or from the internet');
  t.equal(isolated.length, 2);
  template.hasResourceProperties('AWS::Redshift::ClusterParameterGroup', {
    Parameters: Match.arrayWith([
      { ParameterName: 'require_ssl', ParameterValue: 'true' },
      { ParameterName: 'enable_user_activity_logging', ParameterValue: 'true' },
    ]),
  });
  // Inbound: only the Grafana workspace, on the warehouse port.
  const sgId = r(stack.warehouse.securityGroup.securityGroupId)['Fn::GetAtt'][0];
  t.notOk(resources[sgId]!.Properties.SecurityGroupIngress, 'no inline ingress');
  t.same(
    resources[sgId]!.Properties.SecurityGroupEgress,
    [
      {
        CidrIp: '0.0.0.0/0',
        Description: 'S3 through the gateway endpoint (COPY with enhanced VPC routing)',
        FromPort: 443,
        IpProtocol: 'tcp',
        ToPort: 443,
      },
    ],
    'HTTPS out: COPY reads S3 through the VPC',
  );
  t.same(
    stack.vpc.isolatedSubnets.map(
      (sub) =>
        Object.values(resources).filter(
          (x) => x.Type === 'AWS::EC2::Route' && JSON.stringify(x.Properties.RouteTableId) === JSON.stringify(r(sub.routeTable.routeTableId)),
        ).length,
    ),
    [0, 0],
    'the isolated subnets have no route out (only the S3 gateway endpoint)',
  );
  // Every rule admitting anything to the warehouse: Grafana and the risk console, on its port only.
  const ingress = ofType('AWS::EC2::SecurityGroupIngress')
    .map(([, v]) => v.Properties)
    .filter((p) => JSON.stringify(p.GroupId) === JSON.stringify({ 'Fn::GetAtt': [sgId, 'GroupId'] }));
  const from = (source: unknown, description: string) => ({
    IpProtocol: 'tcp',
    FromPort: WAREHOUSE.port,
    ToPort: WAREHOUSE.port,
    GroupId: { 'Fn::GetAtt': [sgId, 'GroupId'] },
    SourceSecurityGroupId: r(source),
    Description: description,
  });
  t.same(ingress, [
    from(stack.observability.grafanaSecurityGroup.securityGroupId, 'Grafana reads the warehouse'),
    from(stack.console!.service.securityGroup.securityGroupId, 'The console reads a card history in the warehouse'),
  ]);
  t.notMatch(JSON.stringify(resources), /"CidrIp":"0\.0\.0\.0\/0","Description":"[^"]*","FromPort":5439/, 'never the world on 5439');
  t.equal(template.toJSON().Parameters.FirehoseCidr, undefined, 'no Firehose CIDR: Firehose does not connect to the cluster');
});

t.test('the audit bucket: 12 months and more, only Redshift of this account may write its logs', async (t) => {
  const id = (r(stack.accessLogs.bucketName) as { Ref: string }).Ref;
  const b = resources[id]!;
  const rules = b.Properties.LifecycleConfiguration.Rules as { ExpirationInDays?: number }[];
  t.ok(
    rules.every((x) => (x.ExpirationInDays ?? Infinity) >= 365),
    'kept at least 12 months (PCI DSS 10.5.1)',
  );
  t.equal(AUDIT_RETENTION_DAYS, rules[0]!.ExpirationInDays);
  t.equal((b as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
  const policy = Object.values(resources).find((x) => x.Type === 'AWS::S3::BucketPolicy' && x.Properties.Bucket.Ref === id)!.Properties.PolicyDocument
    .Statement as any[];
  const redshiftStatement = policy.find((s) => s.Sid === 'RedshiftAuditLogs');
  t.same(redshiftStatement.Principal, { Service: 'redshift.amazonaws.com' });
  t.same(redshiftStatement.Condition.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
  t.match(JSON.stringify(redshiftStatement.Condition.ArnLike['aws:SourceArn']), /:redshift:.*:cluster:\*/);
});

t.test('log groups: every one kept 12 months', async (t) => {
  const groups = ofType('AWS::Logs::LogGroup');
  t.ok(groups.length >= 7);
  for (const [id, g] of groups) t.equal(g.Properties.RetentionInDays, 365, `${id} retention`);
});

t.test('warehouse load: S3 event integration, auto-copy jobs run as the loader, a load role that reads tables/ only', async (t) => {
  const integration = only('AWS::Redshift::Integration');
  t.same(integration.SourceArn, r(stack.staging.bucketArn));
  t.same(integration.TargetArn, { 'Fn::GetAtt': [stack.getLogicalId(stack.warehouse.cluster), 'ClusterNamespaceArn'] });
  // The namespace's resource policy, set after the cluster exists on its exact ARN.
  const put = stack.resolve(
    resources[stack.getLogicalId(stack.warehouse.namespacePolicy.node.findChild('Resource').node.defaultChild as CfnElement)]!.Properties.Create,
  );
  const call = JSON.parse(
    JSON.stringify(put['Fn::Join'][1].map((x: unknown) => (typeof x === 'string' ? x : `<${JSON.stringify(x).replace(/"/g, "'")}>`)).join('')),
  ) as string;
  const parsed = JSON.parse(call) as { service: string; action: string; parameters: { ResourceArn: string; Policy: string } };
  t.equal(parsed.service, 'Redshift');
  t.equal(parsed.action, 'PutResourcePolicy');
  const namespaceArn = `<{'Fn::GetAtt':['${stack.getLogicalId(stack.warehouse.cluster)}','ClusterNamespaceArn']}>`;
  t.equal(parsed.parameters.ResourceArn, namespaceArn);
  const ns = JSON.parse(parsed.parameters.Policy).Statement as any[];
  t.same(ns.map((x) => x.Action).sort(), ['redshift:AuthorizeInboundIntegration', 'redshift:CreateInboundIntegration']);
  for (const x of ns) {
    t.equal(x.Resource, namespaceArn, `${x.Action}: on this namespace exactly`);
    t.same(
      x.Condition,
      { StringEquals: { 'aws:SourceArn': `<${JSON.stringify(r(stack.staging.bucketArn)).replace(/"/g, "'")}>` } },
      `${x.Action} only for the staging bucket`,
    );
  }
  t.ok(
    (resources[stack.getLogicalId(stack.warehouse.integration)]!.DependsOn ?? []).some((d) =>
      d.startsWith(stack.getLogicalId(stack.warehouse.namespacePolicy.node.findChild('Resource').node.defaultChild as CfnElement)),
    ),
    'the integration after the policy',
  );
  const stagingPolicy = Object.values(resources).find(
    (x) => x.Type === 'AWS::S3::BucketPolicy' && JSON.stringify(x.Properties.Bucket) === JSON.stringify(r(stack.staging.bucketName)),
  )!;
  const autoCopy = (stagingPolicy.Properties.PolicyDocument.Statement as any[]).find((s) => s.Sid === 'RedshiftAutoCopyIntegration');
  t.same(autoCopy.Action.sort(), ['s3:GetBucketLocation', 's3:GetBucketNotification', 's3:PutBucketNotification']);
  t.same(autoCopy.Condition.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
  t.match(JSON.stringify(autoCopy.Condition.ArnLike['aws:SourceArn']), /:redshift:.*:integration:\*/);

  t.equal(stack.warehouse.copyJobs.length, 2);
  for (const job of stack.warehouse.copyJobs) {
    const p = resources[stack.getLogicalId(job.resource.node.defaultChild as CfnElement)]!;
    t.equal(p.Type, 'Custom::WarehouseSql');
    t.equal(p.Properties.DbUser, WAREHOUSE.loaderUser, `${job.table}: the job runs as the loader`);
    t.notOk(p.Properties.SecretArn, 'not as the admin');
    t.same(p.Properties.Sqls, [r(job.sql)]);
    t.same(p.Properties.DeleteSqls, [`COPY JOB DROP ${job.job}`]);
    t.match(job.sql, /FORMAT AS JSON 'auto' TIMEFORMAT 'auto' GZIP JOB CREATE payments_(events|rejects)_[0-9a-f]{12} AUTO ON$/);
    t.notMatch(job.sql, /TRUNCATECOLUMNS|MAXERROR|ACCEPTINVCHARS/, 'no value changed or skipped silently');
    t.ok((p.DependsOn ?? []).includes(stack.getLogicalId(stack.warehouse.ddl.node.defaultChild as CfnElement)), 'after the tables and users exist');
    t.ok((p.DependsOn ?? []).includes(stack.getLogicalId(stack.warehouse.integration)), 'after the integration exists');
    t.ok((p.DependsOn ?? []).includes(stack.getLogicalId(stack.warehouse.grants.node.defaultChild as CfnElement)), 'after the loader may create copy jobs');
  }
  t.match(
    stack.warehouse.copyJobs[0]!.sql,
    /^COPY staging\.payment_events \(event_type, event_id, event_date_origin, event_json_data\) FROM 's3:\/\/.*\/tables\/events\/'/,
  );
  t.match(
    stack.warehouse.copyJobs[1]!.sql,
    /^COPY staging\.payment_events_rejects \(reason, detail, raw_data, raw_bytes, shard_id, sequence_number\) FROM 's3:\/\/.*\/tables\/rejects\/'/,
  );
});

t.test('warehouse DDL: tables, users and grants through the Data API, waited for, as the managed admin', async (t) => {
  const statements = stack.warehouse.statements;
  for (const s of statements) t.notMatch(s, /--/);
  t.ok(statements.some((s) => s.startsWith('CREATE TABLE IF NOT EXISTS staging.payment_events (')));
  t.ok(
    statements.some((s) => s.startsWith('CREATE OR REPLACE PROCEDURE staging.ensure_user(') && s.includes('$$') && s.endsWith('$$ LANGUAGE plpgsql')),
    'a procedure is one statement',
  );
  for (const grant of [
    'GRANT INSERT ON TABLE staging.payment_events, staging.payment_events_rejects TO loader',
    'GRANT SELECT ON ALL TABLES IN SCHEMA staging TO ROLE analyst',
    'GRANT ROLE analyst TO grafana',
    "CALL staging.ensure_user('risk_console')",
    'GRANT ROLE analyst TO risk_console',
  ])
    t.ok(statements.includes(grant), grant);
  // Grants Redshift refuses inside a transaction block: a second step, each statement on its own.
  const grants = resources[stack.getLogicalId(stack.warehouse.grants.node.defaultChild as CfnElement)]!;
  t.equal(grants.Properties.Separately, 'true');
  t.same(grants.Properties.SecretArn, r(stack.warehouse.adminSecretArn));
  t.same(stack.warehouse.grantStatements.slice(0, 1), ['REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL']);
  t.match(stack.warehouse.grantStatements[1], /^GRANT ASSUMEROLE ON '.*' TO loader FOR COPY$/);
  t.equal(
    stack.warehouse.grantStatements[2],
    `GRANT CREATE, DROP FOR COPY JOBS IN DATABASE ${WAREHOUSE.database} TO loader`,
    'the loader may create and drop its copy jobs',
  );
  t.ok((grants.DependsOn ?? []).includes(stack.getLogicalId(stack.warehouse.ddl.node.defaultChild as CfnElement)), 'after the users exist');
  t.notOk(
    statements.some((s) => /GRANT (ALL|SELECT)[^;]* TO loader/.test(s)),
    'the loader cannot read',
  );
  t.notOk(
    statements.some((s) => /GRANT (INSERT|UPDATE|DELETE|ALL)[^;]*TO (ROLE analyst|grafana)/.test(s)),
    'readers cannot write',
  );
  const ddl = resources[stack.getLogicalId(stack.warehouse.ddl.node.defaultChild as CfnElement)]!.Properties;
  t.same(ddl.SecretArn, r(stack.warehouse.adminSecretArn));
  t.same(ddl.Sqls.length, statements.length);
});

t.test('VPC endpoints for every AWS API the tasks call; NAT gateways one per AZ', async (t) => {
  const services = ofType('AWS::EC2::VPCEndpoint').map(([, v]) => JSON.stringify(v.Properties.ServiceName));
  for (const name of ['kinesis-streams', 'kms', 'ecr.api', 'ecr.dkr', 'logs', 'aps-workspaces', 's3', 'dynamodb']) {
    t.ok(
      services.some((s) => s.includes(`.${name}"`) || s.includes(`.${name}`)),
      `endpoint for ${name}`,
    );
  }
  for (const [, v] of ofType('AWS::EC2::VPCEndpoint').filter(([, v]) => v.Properties.VpcEndpointType === 'Interface')) {
    t.equal(v.Properties.PrivateDnsEnabled, true, 'the SDKs reach it under the public name');
  }
  t.equal(ofType('AWS::EC2::NatGateway').length, 2, 'no single-NAT dependency');
});

t.test('ECS: cluster, Fargate service with circuit breaker rollback, tasks bounded by the shard count', async (t) => {
  template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  const svc = resources[stack.getLogicalId(stack.processor.service.node.defaultChild as CfnElement)]!.Properties;
  t.same(svc.DeploymentConfiguration.DeploymentCircuitBreaker, { Enable: true, Rollback: true });
  t.equal(svc.LaunchType, 'FARGATE');
  t.equal(svc.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  const target = only('AWS::ApplicationAutoScaling::ScalableTarget');
  t.same(target.MaxCapacity, { Ref: 'ShardCount' });
  t.equal(target.MinCapacity, 1);
});

t.test('scaling on lag, not CPU: out after 3 minutes behind, in after 30 calm minutes, long cool-downs', async (t) => {
  const policies = ofType('AWS::ApplicationAutoScaling::ScalingPolicy').map(([id, v]): Record<string, any> => ({ ...v.Properties, id }));
  t.equal(policies.length, 2);
  t.notOk(
    policies.some((p) => p.TargetTrackingScalingPolicyConfiguration),
    'no target tracking (CPU)',
  );
  const out = policies.find((p) => p.StepScalingPolicyConfiguration.StepAdjustments.some((x: { ScalingAdjustment: number }) => x.ScalingAdjustment > 0))!;
  const inn = policies.find((p) => p.StepScalingPolicyConfiguration.StepAdjustments.some((x: { ScalingAdjustment: number }) => x.ScalingAdjustment < 0))!;
  t.same(out.StepScalingPolicyConfiguration.StepAdjustments, [
    {
      MetricIntervalLowerBound: 0,
      MetricIntervalUpperBound: LAG_SCALING.farAboveSeconds - LAG_SCALING.outAboveSeconds,
      ScalingAdjustment: 1,
    },
    { MetricIntervalLowerBound: LAG_SCALING.farAboveSeconds - LAG_SCALING.outAboveSeconds, ScalingAdjustment: 2 },
  ]);
  t.equal(out.StepScalingPolicyConfiguration.Cooldown, LAG_SCALING.outCooldownMinutes * 60);
  t.same(inn.StepScalingPolicyConfiguration.StepAdjustments, [{ MetricIntervalUpperBound: 0, ScalingAdjustment: -1 }]);
  t.equal(inn.StepScalingPolicyConfiguration.Cooldown, LAG_SCALING.inCooldownMinutes * 60);
  t.ok(LAG_SCALING.inCooldownMinutes >= 30 && LAG_SCALING.outCooldownMinutes >= 10, 'lease moves stay rare');
  const alarms = ofType('AWS::CloudWatch::Alarm')
    .map(([, v]) => v.Properties)
    .filter((a) => a.MetricName === LAG_METRIC.name);
  t.equal(alarms.length, 2);
  for (const a of alarms) {
    t.equal(a.Namespace, LAG_METRIC.namespace);
    t.equal(a.Statistic, 'Maximum', 'the worst shard of any task');
    t.notOk(a.Dimensions, 'one series for the whole service');
  }
  t.same(alarms.map((a) => [a.ComparisonOperator, a.Threshold, a.EvaluationPeriods]).sort(), [
    ['GreaterThanOrEqualToThreshold', LAG_SCALING.outAboveSeconds, LAG_SCALING.outMinutes],
    ['LessThanOrEqualToThreshold', LAG_SCALING.inBelowSeconds, LAG_SCALING.inMinutes],
  ]);
});

t.test('metrics path: a collector beside the processor scrapes it and remote-writes to Managed Prometheus', async (t) => {
  const td = resources[(r(stack.processor.taskDefinition.taskDefinitionArn) as { Ref: string }).Ref]!.Properties;
  const collector = td.ContainerDefinitions.find((c: { Name: string }) => c.Name === 'collector');
  t.equal(collector.Image, COLLECTOR_IMAGE);
  t.match(collector.Image, /:v\d+\.\d+\.\d+$/, 'a pinned version');
  t.equal(collector.Essential, true);
  t.same(collector.HealthCheck.Command, ['CMD', '/healthcheck']);
  const env = Object.fromEntries((collector.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
  const config = stack.resolve(env.AOT_CONFIG_CONTENT) as { 'Fn::Join': [string, unknown[]] };
  const text = config['Fn::Join'][1].map((x) => (typeof x === 'string' ? x : `<${JSON.stringify(x)}>`)).join('');
  const parsed = parse(text) as ReturnType<typeof collectorConfig>;
  t.same(
    parsed.receivers.prometheus.config.scrape_configs[0]!.static_configs[0]!.targets,
    [`127.0.0.1:${PROCESSOR_CONTAINER.port}`],
    'scrapes the processor in the same task',
  );
  t.equal(parsed.receivers.prometheus.config.scrape_configs[0]!.job_name, SCRAPE_JOB);
  t.equal(
    parsed.exporters.prometheusremotewrite.endpoint,
    `<${JSON.stringify({ 'Fn::GetAtt': [stack.getLogicalId(stack.observability.prometheus), 'PrometheusEndpoint'] })}>api/v1/remote_write`,
  );
  t.equal(parsed.exporters.prometheusremotewrite.auth.authenticator, 'sigv4auth');
  t.same(parsed.service.pipelines.metrics.exporters, ['prometheusremotewrite']);
  t.same(parsed.service.pipelines['metrics/scaling'].exporters, ['awsemf']);
  t.equal(parsed.exporters.awsemf.namespace, LAG_METRIC.namespace);
  const ws = only('AWS::APS::Workspace');
  t.ok(ws.AlertManagerDefinition, 'an alert manager');
  t.ok(ws.LoggingConfiguration.LogGroupArn, 'rule and alert manager errors are logged');
});

t.test('alerting: the rules of grafana/rules in the workspace, the alert manager and CloudWatch alarms notify one topic', async (t) => {
  const ns = only('AWS::APS::RuleGroupsNamespace');
  t.equal(ns.Data, readFileSync(RULES_FILE, 'utf8'), 'exactly the promtool-tested rules');
  t.same(ns.Workspace, { 'Fn::GetAtt': [stack.getLogicalId(stack.observability.prometheus), 'Arn'] });
  const am = stack.resolve(only('AWS::APS::Workspace').AlertManagerDefinition) as { 'Fn::Join': [string, unknown[]] };
  const amText = am['Fn::Join'][1].map((x) => (typeof x === 'string' ? x : `<${JSON.stringify(x)}>`)).join('');
  const amConfig = parse(parse(amText).alertmanager_config);
  t.equal(amConfig.route.receiver, 'sns');
  t.equal(amConfig.receivers[0].sns_configs[0].topic_arn, `<${JSON.stringify(r(stack.observability.topic.topicArn))}>`);
  const topic = only('AWS::SNS::Topic');
  t.ok(topic.KmsMasterKeyId, 'encrypted');
  const topicPolicy = only('AWS::SNS::TopicPolicy').PolicyDocument.Statement as any[];
  const aps = topicPolicy.find((x) => x.Sid === 'PrometheusAlertManager');
  t.same(aps.Principal, { Service: 'aps.amazonaws.com' });
  t.same(aps.Condition.ArnEquals, { 'aws:SourceArn': { 'Fn::GetAtt': [stack.getLogicalId(stack.observability.prometheus), 'Arn'] } });
  t.same(aps.Condition.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
  t.ok(topicPolicy.some((x) => x.Sid === 'CloudWatchAlarms' && x.Principal.Service === 'cloudwatch.amazonaws.com'));
  t.ok(
    topicPolicy.some((x) => x.Effect === 'Deny' && x.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
    'TLS only',
  );

  const topicRef = r(stack.observability.topic.topicArn);
  const alarms = ofType('AWS::CloudWatch::Alarm')
    .map(([id, v]): Record<string, any> => ({ ...v.Properties, id }))
    .filter((a) => a.MetricName !== LAG_METRIC.name);
  const byMetric = (ns: string, name: string) =>
    alarms.find(
      (a) =>
        (a.Namespace === ns && a.MetricName === name) ||
        JSON.stringify(a.Metrics ?? '').includes(`"Namespace":"${ns}","MetricName":"${name}"`) ||
        JSON.stringify(a.Metrics ?? '').includes(`"MetricName":"${name}","Namespace":"${ns}"`),
    );
  for (const [ns, name] of [
    ['AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds'],
    ['AWS/Kinesis', 'ReadProvisionedThroughputExceeded'],
    ['AWS/Kinesis', 'WriteProvisionedThroughputExceeded'],
    ['AWS/Firehose', 'DeliveryToS3.Success'],
    ['AWS/Firehose', 'ExecuteProcessing.Success'],
    ['AWS/Firehose', 'DeliveryToS3.DataFreshness'],
    ['AWS/Lambda', 'Errors'],
    ['ECS/ContainerInsights', 'RunningTaskCount'],
    ['AWS/DynamoDB', 'ThrottledRequests'],
    ['AWS/Redshift', 'HealthStatus'],
  ] as const) {
    const a = byMetric(ns, name);
    if (!t.ok(a, `an alarm on ${ns} ${name}`)) continue;
    t.same(a!.AlarmActions, [topicRef], `${name} notifies the topic`);
    t.same(a!.OKActions, [topicRef], `${name} also says when it is over`);
  }
  const missing = alarms.find((a) => JSON.stringify(a.Metrics ?? '').includes('desired - running'))!;
  t.ok(missing, 'desired minus running tasks');
  t.equal(missing.TreatMissingData, 'breaching', 'no data from Container Insights is itself alarming');
  t.ok(alarms.length >= 11);
  for (const a of alarms) t.ok((a.AlarmDescription ?? '').length > 20, `${a.id} says what it means`);
  const doc = readFileSync(new URL('../../../docs/deployment.md', import.meta.url), 'utf8');
  for (const a of alarms) {
    const id = a.id.replace(/[0-9A-F]{8}$/, '');
    t.match(doc, new RegExp(`\\| \`${id}\` \\|`), `${id} has a runbook row in docs/deployment.md`);
  }
});

t.test('Managed Grafana: in the VPC, reads Prometheus, provisioned with the data sources and dashboards', async (t) => {
  const ws = only('AWS::Grafana::Workspace');
  t.equal(ws.PermissionType, 'CUSTOMER_MANAGED');
  t.equal(ws.GrafanaVersion, GRAFANA_VERSION, 'pinned');
  t.ok(Number(GRAFANA_VERSION) >= 10.3, 'grafana-postgresql-datasource exists from 10.3');
  t.same(ws.RoleArn, r(stack.observability.grafanaRole.roleArn));
  t.same(ws.VpcConfiguration.SecurityGroupIds, [r(stack.observability.grafanaSecurityGroup.securityGroupId)]);
  t.same(
    ws.VpcConfiguration.SubnetIds,
    stack.vpc.privateSubnets.map((s) => r(s.subnetId)),
  );
  const prov = resources[stack.getLogicalId(stack.observability.provisioning.node.defaultChild as CfnElement)]!;
  t.equal(prov.Type, 'Custom::GrafanaProvisioning');
  t.equal(prov.Properties.ContentHash, contentHash(), 'a dashboard change re-provisions');
  t.same(prov.Properties.PrometheusUrl, { 'Fn::GetAtt': [stack.getLogicalId(stack.observability.prometheus), 'PrometheusEndpoint'] });
  t.same(prov.Properties.ReaderSecretArn, r(stack.observability.readerSecret.secretArn));
  t.equal(prov.Properties.WarehouseDatabase, WAREHOUSE.database);
  t.ok((prov.DependsOn ?? []).includes(stack.getLogicalId(stack.warehouse.ddl.node.defaultChild as CfnElement)), 'after the grafana user exists');
  const secret = resources[(r(stack.observability.readerSecret.secretArn) as { Ref: string }).Ref]!.Properties;
  t.same(JSON.parse(secret.GenerateSecretString.SecretStringTemplate), { username: WAREHOUSE.readerUser });
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
  t.equal(p.ContainerDefinitions.length, 2, 'the processor and its metrics collector');
  const env = Object.fromEntries((container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
  t.same(env.LEASE_TABLE, r(stack.leaseTable.tableName));
  t.same(env.KINESIS_STREAM, r(stack.stream.streamName));
  t.equal(env.KINESIS_ENDPOINT, '');
  t.equal(env.DYNAMODB_ENDPOINT, '');
  t.equal(env.STATE_DIR, c.stateDir);
  t.equal(Number(env.SHUTDOWN_TIMEOUT_MS), c.shutdownTimeoutMs);
  t.same(env.STOLEN_LIST, r(`s3://${stack.cards.bucketName}/${STOLEN_LIST_KEY}`), 'the stolen list (tokens) from the Cards bucket');
  t.notOk('CARDS_FILE' in env, 'no cards file: the processor task reads no card number at rest');
  t.same(env.CARD_TOKEN_KEY_SECRET, r(stack.cardTokenKey.secretArn), 'the card token key from Secrets Manager');
  t.equal(env.KINESIS_READ, 'fanout', 'enhanced fan-out, said explicitly');
  t.equal(env.KINESIS_CONSUMER_NAME, FAN_OUT.consumerName);
  t.same(env.SNAPSHOT_BUCKET, r(stack.snapshots.bucketName), 'snapshots in the Snapshots bucket');
  t.equal(env.SNAPSHOT_PREFIX, SNAPSHOTS.prefix, 'under the prefix the task role is scoped to');
  // The processor reads these settings as the stack means them (tokens replaced by examples).
  const literal = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const config = loadProcessorConfig({ ...literal, LEASE_TABLE: 'leases', SNAPSHOT_BUCKET: 'example-snapshots' });
  t.equal(readMode(config), 'fanout');
  t.equal(config.KINESIS_CONSUMER_NAME, resources[stack.getLogicalId(stack.processor.streamConsumer)]!.Properties.ConsumerName);
  t.equal(config.SNAPSHOT_PREFIX, SNAPSHOTS.prefix);
});

t.test("enhanced fan-out: the processor's stream consumer on the input stream, registered before any task starts", async (t) => {
  // The processor's; the console has its own (console.test.ts).
  const consumer = resources[stack.getLogicalId(stack.processor.streamConsumer)]!.Properties;
  t.same(consumer, { ConsumerName: FAN_OUT.consumerName, StreamARN: r(stack.stream.streamArn) });
  const serviceId = stack.getLogicalId(stack.processor.service.node.defaultChild as CfnElement);
  t.ok(
    (resources[serviceId]!.DependsOn ?? []).includes(stack.getLogicalId(stack.processor.streamConsumer)),
    'the service after the consumer: the processor finds it, never registers it',
  );
  t.notMatch(JSON.stringify(resources), /kinesis:RegisterStreamConsumer/, 'no role may register a consumer');
  t.same(template.toJSON().Outputs.StreamConsumerArn.Value, r(stack.processor.streamConsumer.attrConsumerArn));
  // Firehose keeps polling: its role reads the stream with GetRecords and has no fan-out action.
  t.notMatch(JSON.stringify(statementsOf(stack.firehoseSourceRole, t)), /SubscribeToShard|StreamConsumer/);
});

t.test('the Snapshots bucket: private, encrypted, TLS only, logged, unversioned, everything expires, kept on stack deletion', async (t) => {
  const id = (r(stack.snapshots.bucketName) as { Ref: string }).Ref;
  const b = resources[id]!;
  const p = b.Properties;
  t.same(
    p.BucketEncryption.ServerSideEncryptionConfiguration,
    [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    'SSE-S3, as every bucket here: no key grant',
  );
  t.same(p.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  t.notOk(p.VersioningConfiguration, 'unversioned: snapshots are written once and never rewritten');
  t.same(p.LoggingConfiguration, { DestinationBucketName: r(stack.accessLogs.bucketName), LogFilePrefix: 'snapshots/' }, 'access logs to the audit bucket');
  t.same(p.LifecycleConfiguration.Rules, [
    {
      Id: 'expire-snapshots',
      Status: 'Enabled',
      ExpirationInDays: SNAPSHOT_RETENTION.days,
      NoncurrentVersionExpiration: { NoncurrentDays: SNAPSHOT_RETENTION.noncurrentDays },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: SNAPSHOT_RETENTION.incompleteUploadDays },
    },
  ]);
  t.equal(SNAPSHOT_RETENTION.days, 7, 'current snapshots a week');
  t.equal(SNAPSHOT_RETENTION.noncurrentDays, 1);
  t.equal(SNAPSHOT_RETENTION.incompleteUploadDays, 1);
  t.equal(b.DeletionPolicy, 'Retain');
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: r(stack.snapshots.bucketName),
    PolicyDocument: {
      Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
    },
  });
  const grants = ofType('AWS::IAM::Policy').filter(([, x]) => JSON.stringify(x.Properties.PolicyDocument).includes(`"${id}"`));
  t.same(
    grants.map(([, x]) => x.Properties.Roles),
    [[r((stack.processor.taskDefinition.taskRole as unknown as { roleName: string }).roleName)]],
    'only the processor task role is granted anything on it',
  );
  t.ok(template.toJSON().Outputs.SnapshotBucketName);
});

t.test('the Cards bucket: private, encrypted, TLS only, versioned, logged, kept on stack deletion', async (t) => {
  const id = (r(stack.cards.bucketName) as { Ref: string }).Ref;
  const b = resources[id]!;
  t.same(b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault, { SSEAlgorithm: 'AES256' });
  t.same(b.Properties.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  t.same(b.Properties.VersioningConfiguration, { Status: 'Enabled' });
  t.equal(b.Properties.LoggingConfiguration.LogFilePrefix, 'cards/');
  t.equal((b as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
  t.ok(
    Object.values(resources).some(
      (x) =>
        x.Type === 'AWS::S3::BucketPolicy' && x.Properties.Bucket.Ref === id && JSON.stringify(x.Properties.PolicyDocument).includes('aws:SecureTransport'),
    ),
    'TLS enforced',
  );
  t.ok(template.toJSON().Outputs.CardsFile, 'the CardsFile output names where to upload it');
});

t.test('optional simulator task definition', async (t) => {
  const td = r(stack.processor.simulatorTaskDefinition!.taskDefinitionArn) as { Ref: string };
  t.same(resources[td.Ref]!.Properties.ContainerDefinitions[0].Command, [...SIMULATOR_COMMAND]);
  const without = buildApp({ outdir: t.testdir(), context: { ...context, simulator: 'false' } });
  t.equal(without.stack.processor.simulatorTaskDefinition, undefined);
});

t.test(
  'the card token key: generated, kept on stack deletion, read by the two tokenisers (transformation Lambda, processor tasks) and by no other role',
  async (t) => {
    const secretId = stack.getLogicalId(stack.cardTokenKey.node.defaultChild as CfnElement);
    const secret = template.findResources('AWS::SecretsManager::Secret')[secretId]!;
    t.ok(secret, 'a Secrets Manager secret');
    t.equal(secret.DeletionPolicy, 'Retain', 'kept when the stack is deleted: a new key changes every token');
    const generate = secret.Properties.GenerateSecretString;
    t.same(JSON.parse(generate.SecretStringTemplate), { keyId: CARD_TOKEN_KEY_ID });
    t.equal(generate.GenerateStringKey, 'key');
    t.ok(generate.PasswordLength >= 32, `a key of ${generate.PasswordLength} characters (the code asks 32 at least)`);
    const transformFn = template.findResources('AWS::Lambda::Function')[stack.getLogicalId(stack.transform.node.defaultChild as CfnElement)]!;
    t.same(transformFn.Properties.Environment.Variables.CARD_TOKEN_KEY_SECRET, { Ref: secretId }, 'the Lambda is told the secret');
    // Every IAM statement of the template that names the secret, or any secret through a wildcard.
    const readers: string[] = [];
    for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
      for (const st of policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>) {
        const actions = ([] as string[]).concat(st.Action);
        const resources = JSON.stringify(st.Resource);
        const namesKey = resources.includes(secretId);
        const wildcard =
          actions.some((a) => a === '*' || a.startsWith('secretsmanager:*') || a === 'secretsmanager:GetSecretValue') && /"\*"|secret:\*/.test(resources);
        if (namesKey || wildcard) readers.push(`${id}: ${actions.join(',')}`);
      }
    }
    const transformPolicy = stack.getLogicalId(stack.transform.role!.node.findChild('DefaultPolicy').node.defaultChild as CfnElement);
    const processorPolicy = stack.getLogicalId(stack.processor.taskDefinition.taskRole.node.findChild('DefaultPolicy').node.defaultChild as CfnElement);
    t.same(
      readers.sort(),
      [`${processorPolicy}: secretsmanager:GetSecretValue`, `${transformPolicy}: secretsmanager:GetSecretValue`].sort(),
      'exactly two statements: the Lambda and the processor tasks read it; no other role can, not even through a wildcard',
    );
  },
);

t.test('IAM: each role has exactly the actions its component uses, on exactly its resources', async (t) => {
  const streamArn = stack.stream.streamArn;
  const keyArn = stack.streamKey.keyArn;
  const workspaceArn = stack.observability.prometheus.attrArn;
  sameGrants(
    t,
    stack.processor.taskDefinition.taskRole,
    [
      {
        actions: ['kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards', 'kinesis:PutRecords'],
        resources: [streamArn],
      },
      { actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [keyArn] },
      // Enhanced fan-out: SubscribeToShard on the consumer's ARN; DescribeStreamConsumer also under
      // the name IAM gives the consumer when it is described by stream ARN and name. No Register.
      {
        actions: ['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard'],
        resources: [stack.processor.streamConsumer.attrConsumerArn],
      },
      { actions: ['kinesis:DescribeStreamConsumer'], resources: [`${streamArn}/consumer/${FAN_OUT.consumerName}`] },
      { actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'], resources: [stack.snapshots.arnForObjects('snapshots/*')] },
      { actions: ['s3:ListBucket'], resources: [stack.snapshots.bucketArn], conditions: { StringLike: { 's3:prefix': 'snapshots/*' } } },
      // The stolen list (tokens) and the card token key; not the cards file (card numbers).
      { actions: ['s3:GetObject'], resources: [stack.cards.arnForObjects(STOLEN_LIST_KEY)] },
      { actions: ['secretsmanager:GetSecretValue'], resources: [stack.cardTokenKey.secretArn] },
      {
        actions: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
        resources: [stack.leaseTable.tableArn],
      },
      { actions: ['aps:RemoteWrite'], resources: [workspaceArn] },
      {
        actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
        resources: [stack.processor.emfLogGroup.logGroupArn],
      },
    ],
    'processor (and its collector)',
  );
  sameGrants(
    t,
    stack.processor.simulatorTaskDefinition!.taskRole,
    [
      { actions: ['kinesis:PutRecords'], resources: [streamArn] },
      { actions: ['kms:GenerateDataKey'], resources: [keyArn] },
      { actions: ['s3:GetObject'], resources: [stack.cards.arnForObjects(CARDS_KEY)] },
    ],
    'simulator',
  );
  sameGrants(
    t,
    stack.firehoseSourceRole,
    [
      {
        actions: ['kinesis:DescribeStream', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'],
        resources: [streamArn],
      },
      { actions: ['kms:Decrypt'], resources: [keyArn] },
    ],
    'firehose source',
  );
  sameGrants(
    t,
    stack.firehoseDeliveryRole,
    [
      {
        actions: ['s3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [stack.staging.bucketArn],
      },
      {
        actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
        resources: ['tables/*', 'errors/*'].map((x) => stack.staging.arnForObjects(x)),
      },
      {
        actions: ['lambda:GetFunctionConfiguration', 'lambda:InvokeFunction'],
        resources: [stack.transform.functionArn, `${stack.transform.functionArn}:*`],
      },
      { actions: ['logs:PutLogEvents'], resources: [stack.deliveryLogs.logGroupArn] },
    ],
    'firehose delivery',
  );
  sameGrants(
    t,
    stack.transform.role!,
    [
      {
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [(stack.node.findChild('TransformLogs') as LogGroup).logGroupArn],
      },
      { actions: ['secretsmanager:GetSecretValue'], resources: [stack.cardTokenKey.secretArn] },
    ],
    'transformation Lambda',
  );
  sameGrants(
    t,
    stack.warehouse.loadRole,
    [
      { actions: ['s3:GetObject'], resources: [stack.staging.arnForObjects('tables/*')] },
      { actions: ['s3:ListBucket'], resources: [stack.staging.bucketArn], conditions: { StringLike: { 's3:prefix': ['tables/*'] } } },
    ],
    'warehouse load (auto-copy)',
  );
  const clusterRef = stack.warehouse.cluster.ref;
  const deployLogs = (stack.node.findChild('DeployStepsLogs') as LogGroup).logGroupArn;
  sameGrants(
    t,
    stack.warehouse.stepRole,
    [
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [deployLogs] },
      { actions: ['redshift-data:BatchExecuteStatement', 'redshift-data:ExecuteStatement'], resources: [stack.warehouse.clusterArn] },
      { actions: ['redshift-data:DescribeStatement'], resources: ['*'] },
      { actions: ['secretsmanager:GetSecretValue'], resources: [stack.warehouse.adminSecretArn] },
      {
        actions: ['redshift:GetClusterCredentials'],
        resources: [
          `arn:${stack.partition}:redshift:${stack.region}:${stack.account}:dbuser:${clusterRef}/${WAREHOUSE.loaderUser}`,
          `arn:${stack.partition}:redshift:${stack.region}:${stack.account}:dbname:${clusterRef}/${WAREHOUSE.database}`,
        ],
      },
    ],
    'warehouse deploy steps',
  );
  sameGrants(
    t,
    stack.warehouse.namespacePolicy.grantPrincipal,
    [
      {
        actions: ['redshift:DeleteResourcePolicy', 'redshift:PutResourcePolicy'],
        resources: [stack.warehouse.cluster.attrClusterNamespaceArn],
      },
    ],
    "the warehouse namespace's resource policy (AwsCustomResource)",
  );
  sameGrants(
    t,
    stack.observability.grafanaRole,
    [{ actions: ['aps:GetLabels', 'aps:GetMetricMetadata', 'aps:GetSeries', 'aps:QueryMetrics'], resources: [workspaceArn] }],
    'Managed Grafana',
  );
  sameGrants(
    t,
    stack.observability.provisionerRole,
    [
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [deployLogs] },
      {
        actions: [
          'grafana:CreateWorkspaceServiceAccount',
          'grafana:CreateWorkspaceServiceAccountToken',
          'grafana:DeleteWorkspaceServiceAccountToken',
          'grafana:ListWorkspaceServiceAccounts',
        ],
        resources: [`arn:${stack.partition}:grafana:${stack.region}:${stack.account}:/workspaces/${stack.observability.grafana.attrId}`],
      },
      {
        actions: ['secretsmanager:GetSecretValue'],
        resources: [stack.observability.readerSecret.secretArn, stack.warehouse.adminSecretArn],
      },
      { actions: ['redshift-data:ExecuteStatement'], resources: [stack.warehouse.clusterArn] },
      { actions: ['redshift-data:DescribeStatement'], resources: ['*'] },
    ],
    'Grafana provisioning',
  );
  // Execution roles: image pull and logs only.
  for (const td of [stack.processor.taskDefinition, stack.processor.simulatorTaskDefinition!]) {
    for (const s of statementsOf(td.obtainExecutionRole(), t)) {
      for (const a of s.actions)
        t.match(
          a,
          /^(ecr:(GetAuthorizationToken|BatchCheckLayerAvailability|GetDownloadUrlForLayer|BatchGetImage)|logs:(CreateLogStream|PutLogEvents))$/,
          `execution role action ${a}`,
        );
    }
  }
  // Trust: service roles assumable by their service only, Firehose's and Grafana's from this account only.
  const trust = (role: { roleArn: string }) =>
    resources[(r(role.roleArn) as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!]!.Properties.AssumeRolePolicyDocument.Statement[0];
  for (const [role, service] of [
    [stack.firehoseSourceRole, 'firehose.amazonaws.com'],
    [stack.firehoseDeliveryRole, 'firehose.amazonaws.com'],
    [stack.observability.grafanaRole, 'grafana.amazonaws.com'],
  ] as const) {
    t.same(trust(role).Principal, { Service: service });
    t.same(trust(role).Condition, { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }, `${service}: confused-deputy guard`);
  }
  t.same(trust(stack.warehouse.loadRole).Principal, { Service: 'redshift.amazonaws.com' });
});
