/**
 * The AWS stack: Kinesis stream → processor service (ECS/Fargate, leases in DynamoDB) → the same
 * stream; Firehose (deploy/delivery-stream.ts) → S3 staging → Redshift COPY.
 *
 * Environment-agnostic (no account/region lookups), so `cdk synth` works offline. Deploy-time
 * choices are CloudFormation parameters: the shard count, Firehose's regional CIDR, the node type.
 * Each role gets exactly the actions its component calls, on exactly its resources (no `grant*`
 * helpers, which add actions the components never use); deploy/test/cdk/stack.test.ts pins them.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnOutput, CfnParameter, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as cr from 'aws-cdk-lib/custom-resources';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as redshift from 'aws-cdk-lib/aws-redshift';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { DELIVERY, firehoseDeliveryStreamInput } from '../../delivery-stream.js';
import { ProcessorService } from '../../../ecs/processor-service.js';
import { cfnDeliveryStreamProps } from './delivery.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STAGING_SQL = fileURLToPath(new URL('../../warehouse/staging.sql', import.meta.url));
export const WAREHOUSE = Object.freeze({ database: 'payments', port: 5439, username: 'payments_admin' });
export const JSON_PATHS_KEY = 'config/jsonpaths.json';
/** The cards file's key in the Cards bucket; upload it there before the tasks start (docs/deployment.md). */
export const CARDS_KEY = 'cards.csv';

/** staging.sql as single statements for the Data API (comments removed, split on `;`). */
export function stagingStatements(sql = readFileSync(STAGING_SQL, 'utf8')): string[] {
  return sql
    .split('\n')
    .map((line) => line.replace(/--.*$/, ''))
    .join('\n')
    .split(';')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length > 0);
}

export interface PaymentsStackProps extends StackProps {
  /** The processor image; default: built from the repository's Dockerfile at deploy time. */
  image?: ecs.ContainerImage;
  /** Define the simulator task definition too (default true). */
  simulator?: boolean;
}

export class PaymentsStack extends Stack {
  readonly stream: kinesis.Stream;
  readonly streamKey: kms.Key;
  readonly leaseTable: dynamodb.Table;
  readonly staging: s3.Bucket;
  readonly cards: s3.Bucket;
  readonly secret: secretsmanager.Secret;
  readonly warehouse: redshift.CfnCluster;
  readonly warehouseSecurityGroup: ec2.SecurityGroup;
  readonly clusterArn: string;
  readonly delivery: firehose.CfnDeliveryStream;
  readonly firehoseSourceRole: iam.Role;
  readonly firehoseDeliveryRole: iam.Role;
  readonly processor: ProcessorService;
  readonly stagingStatements: string[];
  readonly stagingDdl: cr.AwsCustomResource;
  readonly jsonPaths: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: PaymentsStackProps = {}) {
    super(scope, id, props);

    const shardCount = new CfnParameter(this, 'ShardCount', {
      type: 'Number',
      default: 4,
      minValue: 1,
      maxValue: 200,
      description: 'Shards of the payments stream; also the most processor tasks that can hold a lease.',
    });
    const firehoseCidr = new CfnParameter(this, 'FirehoseCidr', {
      type: 'String',
      allowedPattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}/\\d{1,2}$',
      description: "Amazon Data Firehose's CIDR block for this region (docs/deployment.md), the only source allowed to reach Redshift on 5439.",
    });
    const nodeType = new CfnParameter(this, 'RedshiftNodeType', {
      type: 'String',
      default: 'ra3.large',
      allowedValues: ['ra3.large', 'ra3.xlplus', 'dc2.large'],
      description: 'Node type of the single-node Redshift cluster.',
    });

    // ---- network: private subnets for the tasks, public ones for the Firehose-reachable cluster
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(), trafficType: ec2.FlowLogTrafficType.REJECT } },
    });

    // ---- Kinesis
    const streamKey = this.streamKey = new kms.Key(this, 'StreamKey', { enableKeyRotation: true, description: 'Payments stream encryption' });
    const stream = this.stream = new kinesis.Stream(this, 'Stream', {
      streamName: 'payments',
      shardCount: shardCount.valueAsNumber,
      streamMode: kinesis.StreamMode.PROVISIONED,
      retentionPeriod: Duration.hours(24),
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: streamKey,
    });

    // ---- lease table
    const leaseTable = this.leaseTable = new dynamodb.Table(this, 'LeaseTable', {
      partitionKey: { name: 'leaseKey', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // ---- S3 staging for Firehose
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });
    const staging = this.staging = new s3.Bucket(this, 'Staging', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'staging/',
      lifecycleRules: [
        { id: 'staged-files', prefix: 'payments/', expiration: Duration.days(7) },
        { id: 'failed-deliveries', prefix: 'errors/', expiration: Duration.days(30) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    // ---- the cards file (the stolen list), read by the processor and simulator tasks at start
    const cards = this.cards = new s3.Bucket(this, 'Cards', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'cards/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- Redshift: single node, encrypted, reachable on 5439 from Firehose's CIDR only
    const warehouseKey = new kms.Key(this, 'WarehouseKey', { enableKeyRotation: true, description: 'Redshift cluster encryption' });
    const secret = this.secret = new secretsmanager.Secret(this, 'WarehouseSecret', {
      description: 'Redshift credentials (username, password) for Firehose and the DDL step',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: WAREHOUSE.username }),
        generateStringKey: 'password',
        excludePunctuation: true,
        passwordLength: 32,
      },
    });
    const warehouseSg = this.warehouseSecurityGroup = new ec2.SecurityGroup(this, 'WarehouseSg', {
      vpc,
      description: 'Redshift: inbound 5439 from the Firehose regional CIDR only',
      allowAllOutbound: false,
    });
    warehouseSg.addIngressRule(ec2.Peer.ipv4(firehoseCidr.valueAsString), ec2.Port.tcp(WAREHOUSE.port), 'Amazon Data Firehose');
    const subnetGroup = new redshift.CfnClusterSubnetGroup(this, 'WarehouseSubnets', {
      description: 'Public subnets: Firehose reaches the cluster on its public endpoint',
      subnetIds: vpc.publicSubnets.map((s) => s.subnetId),
    });
    const parameterGroup = new redshift.CfnClusterParameterGroup(this, 'WarehouseParameters', {
      description: 'Payments warehouse: TLS required, user activity logged',
      parameterGroupFamily: 'redshift-1.0',
      parameters: [
        { parameterName: 'require_ssl', parameterValue: 'true' },
        { parameterName: 'enable_user_activity_logging', parameterValue: 'true' },
      ],
    });
    const cluster = this.warehouse = new redshift.CfnCluster(this, 'Warehouse', {
      clusterType: 'single-node',
      nodeType: nodeType.valueAsString,
      dbName: WAREHOUSE.database,
      port: WAREHOUSE.port,
      masterUsername: WAREHOUSE.username,
      masterUserPassword: secret.secretValueFromJson('password').unsafeUnwrap(),
      encrypted: true,
      kmsKeyId: warehouseKey.keyId,
      publiclyAccessible: true,
      enhancedVpcRouting: false,
      clusterSubnetGroupName: subnetGroup.ref,
      clusterParameterGroupName: parameterGroup.ref,
      vpcSecurityGroupIds: [warehouseSg.securityGroupId],
      automatedSnapshotRetentionPeriod: 7,
      allowVersionUpgrade: true,
      preferredMaintenanceWindow: 'Sun:04:00-Sun:04:30',
      loggingProperties: { bucketName: accessLogs.bucketName, s3KeyPrefix: 'redshift/' },
    });
    accessLogs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RedshiftAuditLogs',
        principals: [new iam.ServicePrincipal('redshift.amazonaws.com')],
        actions: ['s3:PutObject', 's3:GetBucketAcl'],
        resources: [accessLogs.bucketArn, accessLogs.arnForObjects('redshift/*')],
      }),
    );
    cluster.node.addDependency(accessLogs);
    const clusterArn = this.clusterArn = Stack.of(this).formatArn({ service: 'redshift', resource: 'cluster', resourceName: cluster.ref, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    // ---- the staging DDL (deploy/warehouse/staging.sql) through the Redshift Data API, and the
    // JSON paths file of the COPY. Both re-run when their content changes.
    const sqls = this.stagingStatements = stagingStatements();
    const crLogs = new logs.LogGroup(this, 'DeployStepsLogs', { retention: logs.RetentionDays.ONE_MONTH });
    const ddl = this.stagingDdl = new cr.AwsCustomResource(this, 'StagingDdl', {
      installLatestAwsSdk: false,
      logGroup: crLogs,
      onUpdate: {
        service: 'RedshiftData',
        action: 'BatchExecuteStatement',
        parameters: { ClusterIdentifier: cluster.ref, Database: WAREHOUSE.database, SecretArn: secret.secretArn, Sqls: sqls },
        physicalResourceId: cr.PhysicalResourceId.of(`staging-ddl-${createHash('sha256').update(sqls.join(';')).digest('hex').slice(0, 16)}`),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['redshift-data:BatchExecuteStatement'], resources: [clusterArn] }),
        new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
      ]),
    });
    ddl.node.addDependency(cluster);
    const jsonPathsBody = JSON.stringify(DELIVERY.jsonPaths);
    const jsonPaths = this.jsonPaths = new cr.AwsCustomResource(this, 'JsonPaths', {
      installLatestAwsSdk: false,
      logGroup: crLogs,
      onUpdate: {
        service: 'S3',
        action: 'PutObject',
        parameters: { Bucket: staging.bucketName, Key: JSON_PATHS_KEY, Body: jsonPathsBody, ContentType: 'application/json' },
        physicalResourceId: cr.PhysicalResourceId.of(`jsonpaths-${createHash('sha256').update(jsonPathsBody).digest('hex').slice(0, 16)}`),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [staging.arnForObjects(JSON_PATHS_KEY)] }),
      ]),
    });

    // ---- Firehose: one role to read the stream, one to stage in S3 and COPY into Redshift
    const firehoseSource = this.firehoseSourceRole = new iam.Role(this, 'FirehoseSourceRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com'),
      description: 'Firehose reads the payments stream',
    });
    firehoseSource.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadStream',
        actions: ['kinesis:DescribeStream', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'],
        resources: [stream.streamArn],
      }),
    );
    firehoseSource.addToPolicy(new iam.PolicyStatement({ sid: 'StreamKey', actions: ['kms:Decrypt'], resources: [streamKey.keyArn] }));
    const firehoseDelivery = this.firehoseDeliveryRole = new iam.Role(this, 'FirehoseDeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com'),
      description: 'Firehose stages in S3, reads the JSON paths, and runs COPY with the warehouse secret',
    });
    firehoseDelivery.addToPolicy(
      new iam.PolicyStatement({
        sid: 'StagingBucket',
        actions: ['s3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [staging.bucketArn],
      }),
    );
    firehoseDelivery.addToPolicy(
      new iam.PolicyStatement({
        sid: 'StagingObjects',
        actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
        resources: [staging.arnForObjects('*')],
      }),
    );
    firehoseDelivery.addToPolicy(
      new iam.PolicyStatement({ sid: 'WarehouseSecret', actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
    );

    const input = firehoseDeliveryStreamInput({
      kinesisStreamArn: stream.streamArn,
      sourceRoleArn: firehoseSource.roleArn,
      deliveryRoleArn: firehoseDelivery.roleArn,
      bucketArn: staging.bucketArn,
      clusterJdbcUrl: `jdbc:redshift://${cluster.attrEndpointAddress}:${cluster.attrEndpointPort}/${WAREHOUSE.database}`,
      secretArn: secret.secretArn,
      jsonPathsS3Uri: `s3://${staging.bucketName}/${JSON_PATHS_KEY}`,
    });
    const delivery = this.delivery = new firehose.CfnDeliveryStream(this, 'Delivery', cfnDeliveryStreamProps(input));
    // Roles' policies must exist before Firehose validates them; the table and the JSON paths before the first COPY.
    delivery.node.addDependency(firehoseSource, firehoseDelivery, ddl, jsonPaths);

    // ---- the processor service
    const ecsCluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const processor = this.processor = new ProcessorService(this, 'Processor', {
      cluster: ecsCluster,
      image:
        props.image ??
        ecs.ContainerImage.fromAsset(REPO_ROOT, { file: 'Dockerfile', exclude: ['deploy/cdk.out'] }),
      stream,
      streamKey,
      leaseTable,
      cards: { bucket: cards, key: CARDS_KEY },
      maxTasks: shardCount.valueAsNumber,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      simulator: props.simulator ?? true,
    });

    new CfnOutput(this, 'StreamName', { value: stream.streamName });
    new CfnOutput(this, 'LeaseTableName', { value: leaseTable.tableName });
    new CfnOutput(this, 'DeliveryStreamName', { value: delivery.ref });
    new CfnOutput(this, 'StagingBucketName', { value: staging.bucketName });
    new CfnOutput(this, 'CardsFile', { value: `s3://${cards.bucketName}/${CARDS_KEY}`, description: 'Upload the cards file here (aws s3 cp data/cards.csv <this>) before the tasks start' });
    new CfnOutput(this, 'WarehouseEndpoint', { value: `${cluster.attrEndpointAddress}:${cluster.attrEndpointPort}` });
    new CfnOutput(this, 'WarehouseSecretArn', { value: secret.secretArn });
    new CfnOutput(this, 'ClusterName', { value: ecsCluster.clusterName });
    if (processor.simulatorTaskDefinition) {
      new CfnOutput(this, 'SimulatorTaskDefinition', { value: processor.simulatorTaskDefinition.taskDefinitionArn });
    }

    const ack = (scope: Construct, rule: string, reason: string) =>
      Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
    ack(stream, 'KDS3', 'The processor role is granted kms:Decrypt/GenerateDataKey on this key only; a customer managed key keeps the stream readable only by the roles named in this stack.');
    ack(secret, 'SMG4', 'The Redshift admin password is used by Firehose and the DDL step only; rotation needs a rotation Lambda that can reach the cluster, which admits only the Firehose CIDR. Rotate it by hand (docs/deployment.md).');
    ack(warehouseSg, 'EC23', 'Ingress is the FirehoseCidr parameter (the /27 Firehose publishes for the region), on port 5439 only, never 0.0.0.0/0; cdk-nag cannot evaluate a parameter.');
    ack(cluster, 'RS4', 'Firehose delivers to the port given in the JDBC URL; 5439 is kept as documented, and the security group admits only the Firehose CIDR.');
    ack(cluster, 'RS8', 'Firehose delivers to a provisioned Redshift cluster over its public endpoint; the security group admits only the Firehose regional CIDR on 5439, TLS is required.');
    ack(delivery, 'KDF1', 'Server-side encryption applies only to Direct PUT sources; with a Kinesis source the data is encrypted by the stream (KMS), staged in an encrypted bucket and loaded into an encrypted cluster.');
    ack(processor.taskDefinition, 'ECS2', 'The environment holds names and settings only (stream, table, paths, timeouts); no secret.');
    ack(processor.taskDefinition.obtainExecutionRole(), 'IAM5[Resource::*]', 'ecr:GetAuthorizationToken supports no resource-level permission (added by CDK for the image asset); the image pull actions are scoped to the asset repository.');
    if (processor.simulatorTaskDefinition) {
      ack(processor.simulatorTaskDefinition, 'ECS2', 'The environment holds names and settings only (stream, cards file path); no secret.');
      ack(processor.simulatorTaskDefinition.obtainExecutionRole(), 'IAM5[Resource::*]', 'ecr:GetAuthorizationToken supports no resource-level permission (added by CDK for the image asset).');
    }
    ack(firehoseDelivery, 'IAM5[Resource::<Staging12D1754E.Arn>/*]', 'Firehose writes objects under time-based prefixes it generates (payments/yyyy/MM/dd/HH/, errors/…) and COPY reads them back; scoped to the staging bucket.');
    const crFunction = this.node.findChild(cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '').replace(/^/, 'AWS'));
    ack(crFunction, 'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'The deploy-step Lambda (AwsCustomResource singleton) only writes its own CloudWatch logs with this policy.');
  }
}
