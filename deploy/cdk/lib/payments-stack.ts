/**
 * The AWS stack:
 *   Kinesis stream → processor service (ECS/Fargate, enhanced fan-out through a registered stream
 *   consumer, leases in DynamoDB, shard snapshots in S3, a metrics collector beside each task) →
 *   the same stream;
 *   Firehose → transformation Lambda → S3 staging (tables/, errors/) → Redshift auto-copy;
 *   the risk console (ECS/Fargate, the same image) behind a load balancer with Cognito sign-in;
 *   Managed Prometheus + Managed Grafana + CloudWatch alarms → one SNS alert topic.
 *
 * Environment-agnostic (no account/region lookups), so `cdk synth` works offline. Deploy-time
 * choices are CloudFormation parameters: the shard count and the node type. The console's domain
 * and certificate are CDK context (deploy/cdk/lib/console.ts), required unless `-c console=false`.
 * Each role gets exactly the actions its component calls, on exactly its resources (no `grant*`
 * helpers, which add actions the components never use); deploy/test/cdk/stack.test.ts pins them.
 */
import { fileURLToPath } from 'node:url';
import { type CfnElement, CfnOutput, CfnParameter, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { DELIVERY, firehoseDeliveryStreamInput } from '../../delivery-stream.js';
import { ConsoleService } from '../../../ecs/console-service.js';
import { PROCESSOR_CONTAINER, ProcessorService, SNAPSHOTS } from '../../../ecs/processor-service.js';
import { bundledCode } from './bundle.js';
import { ConsoleAccess, consoleContext, type ConsoleEndpoint } from './console.js';
import { cfnDeliveryStreamProps } from './delivery.js';
import { Observability, addAwsAlarms } from './observability.js';
import { WAREHOUSE, Warehouse } from './warehouse.js';

export { WAREHOUSE, sqlStatements } from './warehouse.js';
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The key id of the card token key the stack generates (a rotated key gets the next one). */
export const CARD_TOKEN_KEY_ID = 'k1';
export const TRANSFORM_ENTRY = fileURLToPath(new URL('../../warehouse/firehose-transform.ts', import.meta.url));
/** The cards file's key in the Cards bucket (the simulator's card numbers); upload it there before the tasks start (docs/deployment.md). */
export const CARDS_KEY = 'cards.csv';
/** The stolen list's key in the Cards bucket (tokens, for the processor: `npm run stolen-list`); docs/deployment.md. */
export const STOLEN_LIST_KEY = 'stolen-cards.csv';
/** Every log group, and the audit bucket a bit longer: PCI DSS 10.5.1 asks for 12 months of audit trail. */
export const LOG_RETENTION = logs.RetentionDays.ONE_YEAR;
export const AUDIT_RETENTION_DAYS = 400;
/**
 * Shard snapshots are immutable and superseded within seconds; the processor deletes the old ones
 * itself. What is left expires: a finished shard's snapshots are needed only until its children
 * have taken their state over (well within a week), and an idle shard whose last snapshot expired
 * simply rebuilds by replay at its next take-over.
 */
export const SNAPSHOT_RETENTION = Object.freeze({ days: 7, noncurrentDays: 1, incompleteUploadDays: 1 });

export interface PaymentsStackProps extends StackProps {
  /** The processor image; default: built from the repository's Dockerfile at deploy time. */
  image?: ecs.ContainerImage;
  /** Define the simulator task definition too (default true). */
  simulator?: boolean;
  /**
   * The risk console's domain and certificate, or false for no console. Default: from the CDK
   * context (`consoleDomain`, `consoleCertificateArn`; `console=false`), and the synth fails
   * naming what is missing.
   */
  console?: ConsoleEndpoint | false;
}

/** The private DNS name the processor tasks register under (one A record per task): the console polls each. */
export const PROCESSOR_DNS = Object.freeze({ namespace: 'payments.internal', service: 'processor' });

export class PaymentsStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly stream: kinesis.Stream;
  readonly streamKey: kms.Key;
  readonly leaseTable: dynamodb.Table;
  readonly accessLogs: s3.Bucket;
  readonly staging: s3.Bucket;
  readonly cards: s3.Bucket;
  readonly snapshots: s3.Bucket;
  readonly warehouse: Warehouse;
  readonly transform: lambda.Function;
  readonly cardTokenKey: secretsmanager.Secret;
  readonly delivery: firehose.CfnDeliveryStream;
  readonly deliveryLogs: logs.LogGroup;
  readonly firehoseSourceRole: iam.Role;
  readonly firehoseDeliveryRole: iam.Role;
  readonly processor: ProcessorService;
  readonly console?: { service: ConsoleService; access: ConsoleAccess; namespace: servicediscovery.PrivateDnsNamespace };
  readonly observability: Observability;
  readonly endpoints: { gateway: ec2.GatewayVpcEndpoint[]; interface: ec2.InterfaceVpcEndpoint[] };

  constructor(scope: Construct, id: string, props: PaymentsStackProps = {}) {
    super(scope, id, props);

    const shardCount = new CfnParameter(this, 'ShardCount', {
      type: 'Number',
      default: 4,
      minValue: 1,
      maxValue: 200,
      description: 'Shards of the payments stream; also the most processor tasks that can hold a lease.',
    });
    const nodeType = new CfnParameter(this, 'RedshiftNodeType', {
      type: 'String',
      default: 'ra3.large',
      // RA3 only: the S3 event integration (auto-copy) needs it.
      allowedValues: ['ra3.large', 'ra3.xlplus', 'ra3.4xlarge'],
      description: 'Node type of the single-node Redshift cluster.',
    });

    // ---- network: tasks in private subnets, the warehouse in isolated ones. The AWS APIs are
    // reached through VPC endpoints; the NAT gateways (one per AZ, no single point) carry only the
    // collector's public image pull.
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: LOG_RETENTION });
    const vpc = (this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 2,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.REJECT } },
    }));
    const privateSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    this.endpoints = {
      gateway: [
        vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 }),
        vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [privateSubnets] }),
      ],
      interface: (
        [
          ['Kinesis', ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS],
          ['Kms', ec2.InterfaceVpcEndpointAwsService.KMS],
          ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
          ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
          ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
          ['PrometheusWorkspaces', ec2.InterfaceVpcEndpointAwsService.PROMETHEUS_WORKSPACES],
        ] as const
      ).map(([name, service]) => vpc.addInterfaceEndpoint(name, { service, subnets: privateSubnets, privateDnsEnabled: true })),
    };

    // ---- Kinesis
    const streamKey = (this.streamKey = new kms.Key(this, 'StreamKey', {
      enableKeyRotation: true,
      description: 'Payments stream encryption',
    }));
    const stream = (this.stream = new kinesis.Stream(this, 'Stream', {
      streamName: 'payments',
      shardCount: shardCount.valueAsNumber,
      streamMode: kinesis.StreamMode.PROVISIONED,
      retentionPeriod: Duration.hours(24),
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: streamKey,
    }));

    // ---- lease table (rebuildable coordination state: deleted with the stack)
    const leaseTable = (this.leaseTable = new dynamodb.Table(this, 'LeaseTable', {
      partitionKey: { name: 'leaseKey', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.DESTROY,
    }));

    // ---- buckets: audit logs, Firehose staging, the cards file. Kept when the stack is deleted.
    const accessLogs = (this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: 'audit-retention', expiration: Duration.days(AUDIT_RETENTION_DAYS) }],
      removalPolicy: RemovalPolicy.RETAIN,
    }));
    const staging = (this.staging = new s3.Bucket(this, 'Staging', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'staging/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        ...['tables/', 'errors/'].map((prefix) => ({
          id: `retain-${prefix.slice(0, -1)}`,
          prefix,
          expiration: Duration.days(DELIVERY.retentionDays),
        })),
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    }));
    const cards = (this.cards = new s3.Bucket(this, 'Cards', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'cards/',
      removalPolicy: RemovalPolicy.RETAIN,
    }));

    // ---- shard state snapshots (processor/src/snapshot/): a new owner of a shard starts from the
    // newest one its lease allows and replays seconds, not an hour. Unversioned: every object is
    // written once under a key naming its checkpoint and never rewritten, and the processor deletes
    // superseded ones itself; versions would keep each of those (a delete marker and a noncurrent
    // copy) with nothing to recover, since a missing snapshot only means a longer replay from the
    // stream. The noncurrent rule keeps the bucket bounded should versioning ever be turned on.
    const snapshots = (this.snapshots = new s3.Bucket(this, 'Snapshots', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'snapshots/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-snapshots',
          expiration: Duration.days(SNAPSHOT_RETENTION.days),
          noncurrentVersionExpiration: Duration.days(SNAPSHOT_RETENTION.noncurrentDays),
          abortIncompleteMultipartUploadAfter: Duration.days(SNAPSHOT_RETENTION.incompleteUploadDays),
        },
      ],
    }));

    // ---- the warehouse: private Redshift, loaded by auto-copy from tables/ (deploy/cdk/lib/warehouse.ts)
    const deployLogs = new logs.LogGroup(this, 'DeployStepsLogs', { retention: LOG_RETENTION });
    const warehouse = (this.warehouse = new Warehouse(this, 'Warehouse', {
      vpc,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      staging,
      auditLogs: accessLogs,
      nodeType: nodeType.valueAsString,
      deployLogs,
    }));

    // ---- Firehose: the transformation Lambda (deploy/warehouse/firehose-transform.ts) sorts every
    // record into tables/events/ or tables/rejects/, card numbers tokenised (no raw backup: it would hold them).
    const transformLogs = new logs.LogGroup(this, 'TransformLogs', { retention: LOG_RETENTION });
    const transformRole = new iam.Role(this, 'TransformRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'The Firehose transformation Lambda reads the card token key and writes its own logs, nothing else',
    });
    transformRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Logs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [transformLogs.logGroupArn],
      }),
    );
    // ---- the card token key (common/src/card-token.ts): every card number becomes an HMAC token
    // under it before it lands. Read by the two that tokenise: the transformation Lambda and the
    // processor's tasks (granted in ProcessorService). Kept when the stack is
    // deleted: a new key changes every token, and tokens in the warehouse stay comparable only
    // under the key that made them.
    const cardTokenKey = (this.cardTokenKey = new secretsmanager.Secret(this, 'CardTokenKey', {
      description: 'HMAC key of card tokens ({"keyId","key"}): read by the Firehose transformation Lambda and the processor tasks only',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ keyId: CARD_TOKEN_KEY_ID }),
        generateStringKey: 'key',
        excludePunctuation: true,
        passwordLength: 64,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    }));
    transformRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'CardTokenKey', actions: ['secretsmanager:GetSecretValue'], resources: [cardTokenKey.secretArn] }),
    );
    const transform = (this.transform = new lambda.Function(this, 'Transform', {
      environment: { CARD_TOKEN_KEY_SECRET: cardTokenKey.secretArn },
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: bundledCode(TRANSFORM_ENTRY),
      role: transformRole,
      timeout: Duration.minutes(1),
      memorySize: 512,
      logGroup: transformLogs,
      description: 'Firehose: every payments-stream record to a warehouse row (events) or a reject with its reason',
    }));

    const deliveryLogs = (this.deliveryLogs = new logs.LogGroup(this, 'DeliveryLogs', { retention: LOG_RETENTION }));
    for (const [name, streamName] of Object.entries(DELIVERY.logStreams)) {
      new logs.LogStream(this, `DeliveryLogStream-${name}`, { logGroup: deliveryLogs, logStreamName: streamName });
    }
    const firehoseSource = (this.firehoseSourceRole = new iam.Role(this, 'FirehoseSourceRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'Firehose reads the payments stream',
    }));
    firehoseSource.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadStream',
        actions: ['kinesis:DescribeStream', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'],
        resources: [stream.streamArn],
      }),
    );
    firehoseSource.addToPolicy(new iam.PolicyStatement({ sid: 'StreamKey', actions: ['kms:Decrypt'], resources: [streamKey.keyArn] }));
    const firehoseDelivery = (this.firehoseDeliveryRole = new iam.Role(this, 'FirehoseDeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'Firehose runs the transformation, writes tables/ and errors/ of the staging bucket, and logs delivery errors',
    }));
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
        resources: ['tables/*', 'errors/*'].map((prefix) => staging.arnForObjects(prefix)),
      }),
    );
    firehoseDelivery.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Transform',
        actions: ['lambda:GetFunctionConfiguration', 'lambda:InvokeFunction'],
        resources: [transform.functionArn, `${transform.functionArn}:*`],
      }),
    );
    firehoseDelivery.addToPolicy(new iam.PolicyStatement({ sid: 'DeliveryErrors', actions: ['logs:PutLogEvents'], resources: [deliveryLogs.logGroupArn] }));

    const delivery = (this.delivery = new firehose.CfnDeliveryStream(
      this,
      'Delivery',
      cfnDeliveryStreamProps(
        firehoseDeliveryStreamInput({
          kinesisStreamArn: stream.streamArn,
          sourceRoleArn: firehoseSource.roleArn,
          deliveryRoleArn: firehoseDelivery.roleArn,
          bucketArn: staging.bucketArn,
          transformLambdaArn: transform.functionArn,
          logGroupName: deliveryLogs.logGroupName,
        }),
      ),
    ));
    // Roles' policies must exist before Firehose validates them.
    delivery.node.addDependency(firehoseSource, firehoseDelivery);

    // ---- metrics, dashboards, alert topic (deploy/cdk/lib/observability.ts)
    const observability = (this.observability = new Observability(this, 'Observability', {
      vpc,
      subnets: privateSubnets,
      warehouse,
      deployLogs,
      logRetention: LOG_RETENTION,
    }));

    // ---- the processor service
    const ecsCluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const processorImage = props.image ?? ecs.ContainerImage.fromAsset(REPO_ROOT, { file: 'Dockerfile', exclude: ['deploy/cdk.out'] });
    const processor = (this.processor = new ProcessorService(this, 'Processor', {
      cluster: ecsCluster,
      image: processorImage,
      stream,
      streamKey,
      leaseTable,
      cards: { bucket: cards, key: CARDS_KEY },
      stolenList: { bucket: cards, key: STOLEN_LIST_KEY },
      cardTokenKey,
      maxTasks: shardCount.valueAsNumber,
      subnets: privateSubnets,
      simulator: props.simulator ?? true,
      logRetention: LOG_RETENTION,
      metrics: { workspaceArn: observability.prometheus.attrArn, remoteWriteUrl: observability.remoteWriteUrl },
      snapshots: { bucket: snapshots },
    }));
    processor.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the AWS APIs (VPC endpoints) and the public collector image');

    // ---- the risk console (ecs/console-service.ts, lib/console.ts): the processor's image, its
    // own consumer of the stream, reports published to it; sign-in at the load balancer. It finds
    // the processor tasks for fleet health by a Cloud Map name with one A record per task
    // (multivalue), each polled on the processor's status port.
    const endpoint = props.console === undefined ? consoleContext(this) : props.console || undefined;
    if (endpoint) {
      const namespace = new servicediscovery.PrivateDnsNamespace(this, 'Namespace', {
        name: PROCESSOR_DNS.namespace,
        vpc,
        description: 'Private names of the payments services (the processor tasks, for the console)',
      });
      processor.service.enableCloudMap({
        cloudMapNamespace: namespace,
        name: PROCESSOR_DNS.service,
        dnsRecordType: servicediscovery.DnsRecordType.A,
        // A stopped task's record goes within seconds; the console then stops polling it.
        dnsTtl: Duration.seconds(10),
      });
      const consoleService = new ConsoleService(this, 'Console', {
        cluster: ecsCluster,
        image: processorImage,
        input: { stream, key: streamKey },
        // The processor writes its alerts and summaries to the payments stream (no OUTPUT_STREAM).
        output: { stream, key: streamKey },
        processorUrls: [`http://${PROCESSOR_DNS.service}.${PROCESSOR_DNS.namespace}:${PROCESSOR_CONTAINER.port}`],
        processorSecurityGroup: processor.securityGroup,
        subnets: privateSubnets,
        warehouse: {
          clusterId: warehouse.cluster.ref,
          host: warehouse.cluster.attrEndpointAddress,
          port: WAREHOUSE.port,
          database: WAREHOUSE.database,
          user: WAREHOUSE.consoleUser,
          loginArns: warehouse.loginArns(WAREHOUSE.consoleUser),
          securityGroup: warehouse.securityGroup,
        },
        logRetention: LOG_RETENTION,
      });
      const access = new ConsoleAccess(this, 'ConsoleAccess', { ...endpoint, vpc, service: consoleService, accessLogs });
      // Reports record the user this load balancer signed in, verified against its ARN (console/src/identity.ts).
      consoleService.container.addEnvironment('CONSOLE_ALB_ARN', access.loadBalancer.loadBalancerArn);
      this.console = { service: consoleService, access, namespace };
      new CfnOutput(this, 'ConsoleUrl', { value: `https://${endpoint.domain}/`, description: 'The risk console: sign in with a user of ConsoleUserPoolId' });
      new CfnOutput(this, 'ConsoleLoadBalancerDns', {
        value: access.loadBalancer.loadBalancerDnsName,
        description: `Point ${endpoint.domain} here (a CNAME, or a Route 53 alias)`,
      });
      new CfnOutput(this, 'ConsoleUserPoolId', {
        value: access.userPool.userPoolId,
        description: 'Add console users with aws cognito-idp admin-create-user --user-pool-id <this> (docs/deployment.md)',
      });
    }

    addAwsAlarms(this, {
      topic: observability.topic,
      stream,
      leaseTable,
      deliveryStreamName: delivery.ref,
      transform,
      service: processor.service,
      clusterName: ecsCluster.clusterName,
      warehouseClusterId: warehouse.cluster.ref,
    });

    new CfnOutput(this, 'StreamName', { value: stream.streamName });
    new CfnOutput(this, 'LeaseTableName', { value: leaseTable.tableName });
    new CfnOutput(this, 'DeliveryStreamName', { value: delivery.ref });
    new CfnOutput(this, 'StagingBucketName', { value: staging.bucketName });
    new CfnOutput(this, 'SnapshotBucketName', { value: snapshots.bucketName });
    new CfnOutput(this, 'StreamConsumerArn', { value: processor.streamConsumer.attrConsumerArn });
    new CfnOutput(this, 'CardsFile', {
      value: `s3://${cards.bucketName}/${CARDS_KEY}`,
      description: 'Upload the cards file here (aws s3 cp data/cards.csv <this>) before the simulator runs',
    });
    new CfnOutput(this, 'StolenList', {
      value: `s3://${cards.bucketName}/${STOLEN_LIST_KEY}`,
      description: 'Upload the stolen list here (npm run stolen-list with CARD_TOKEN_KEY_SECRET, then aws s3 cp) before the processor tasks start',
    });
    new CfnOutput(this, 'WarehouseEndpoint', { value: `${warehouse.cluster.attrEndpointAddress}:${warehouse.cluster.attrEndpointPort}` });
    new CfnOutput(this, 'WarehouseAdminSecretArn', {
      value: warehouse.adminSecretArn,
      description: 'Redshift-managed, rotated: break-glass only',
    });
    new CfnOutput(this, 'AlertTopicArn', {
      value: observability.topic.topicArn,
      description: 'Subscribe the on-call tool (email, PagerDuty, Opsgenie) to this topic',
    });
    new CfnOutput(this, 'GrafanaUrl', { value: `https://${observability.grafana.attrEndpoint}` });
    new CfnOutput(this, 'PrometheusWorkspaceId', { value: observability.prometheus.attrWorkspaceId });
    new CfnOutput(this, 'ClusterName', { value: ecsCluster.clusterName });
    if (processor.simulatorTaskDefinition) {
      new CfnOutput(this, 'SimulatorTaskDefinition', { value: processor.simulatorTaskDefinition.taskDefinitionArn });
    }

    this.#acknowledge();
  }

  /** cdk-nag findings that are by design, each with its reason. */
  #acknowledge(): void {
    const ack = (scope: Construct, rule: string, reason: string) => Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
    const { processor, warehouse, observability } = this;
    ack(
      this.stream,
      'KDS3',
      'The processor role is granted kms:Decrypt/GenerateDataKey on this key only; a customer managed key keeps the stream readable only by the roles named in this stack.',
    );
    ack(
      warehouse.cluster,
      'RS4',
      'Port 5439 is kept as documented for clients; the cluster is private (isolated subnets) and its security group admits only the Grafana workspace.',
    );
    ack(
      this.delivery,
      'KDF1',
      'Server-side encryption applies only to Direct PUT sources; with a Kinesis source the data is encrypted by the stream (KMS), staged in an encrypted bucket and loaded into an encrypted cluster.',
    );
    ack(
      observability.readerSecret,
      'SMG4',
      "The grafana user's password is set from this secret by the provisioning step; rotate it by re-running that step with a new value (docs/deployment.md). The admin password is Redshift-managed and rotated.",
    );
    ack(
      processor.taskDefinition,
      'ECS2',
      'The environment holds names and settings only (stream, table, paths, timeouts, the collector configuration); no secret.',
    );
    ack(
      processor.taskDefinition.obtainExecutionRole(),
      'IAM5[Resource::*]',
      'ecr:GetAuthorizationToken supports no resource-level permission (added by CDK for the image asset); the image pull actions are scoped to the asset repository.',
    );
    if (processor.simulatorTaskDefinition) {
      ack(processor.simulatorTaskDefinition, 'ECS2', 'The environment holds names and settings only (stream, cards file path); no secret.');
      ack(
        processor.simulatorTaskDefinition.obtainExecutionRole(),
        'IAM5[Resource::*]',
        'ecr:GetAuthorizationToken supports no resource-level permission (added by CDK for the image asset).',
      );
    }
    if (this.console) {
      const { service, access } = this.console;
      ack(service.taskDefinition, 'ECS2', 'The environment holds names and settings only (streams, port, host, the processors URL); no secret.');
      ack(
        service.taskDefinition.obtainExecutionRole(),
        'IAM5[Resource::*]',
        'ecr:GetAuthorizationToken supports no resource-level permission (added by CDK for the image asset); the image pull actions are scoped to the asset repository.',
      );
      ack(
        access.loadBalancer.connections.securityGroups[0]!,
        'EC23',
        'The console is reached from the internet on 443 (and 80, redirected to 443) on purpose: every request is signed in with Cognito (MFA) at the load balancer before it is forwarded.',
      );
    }
    for (const role of [warehouse.stepRole, observability.provisionerRole]) {
      ack(
        role,
        'IAM5[Resource::*]',
        'redshift-data:DescribeStatement has no resource type; the Data API lets a caller describe only statements it submitted itself.',
      );
    }
    ack(
      this.firehoseDeliveryRole,
      'IAM5[Resource::<Staging12D1754E.Arn>/tables/*]',
      'Firehose writes objects under time-based prefixes it generates (tables/<table>/yyyy/MM/dd/HH/); scoped to that prefix.',
    );
    ack(
      this.cardTokenKey,
      'SMG4',
      'Rotating the card token key changes every token; a rotation is a new secret under a new key id (docs/deployment.md), not an automatic one.',
    );
    ack(this.firehoseDeliveryRole, 'IAM5[Resource::<Staging12D1754E.Arn>/errors/*]', 'Firehose writes failed records under errors/<error type>/yyyy/MM/dd/.');
    ack(
      this.firehoseDeliveryRole,
      'IAM5[Resource::<TransformC0C45E96.Arn>:*]',
      'Firehose invokes the transformation Lambda by its qualified ARN; scoped to that one function.',
    );
    for (const endpoint of this.endpoints.interface) {
      ack(endpoint, 'EC23', 'An interface endpoint admits HTTPS from the VPC CIDR only (CDK default); cdk-nag cannot evaluate the CIDR token.');
    }
    const sdkCallFunction = this.node.findChild(cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '').replace(/^/, 'AWS'));
    ack(
      sdkCallFunction,
      'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "CDK's AwsCustomResource Lambda (it sets the warehouse namespace's resource policy) only writes its own CloudWatch logs with this policy.",
    );
    // The CDK custom-resource Provider framework's own Lambda (one per provider) that calls ours.
    for (const provider of [warehouse.provider, observability.provider]) {
      ack(
        provider,
        'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        "The Provider framework's dispatcher Lambda only writes its own CloudWatch logs with this policy.",
      );
      ack(
        provider,
        'IAM5[Resource::<' + this.getLogicalId(provider.onEventHandler.node.defaultChild as CfnElement) + '.Arn>:*]',
        'The dispatcher may invoke exactly our handler function (any version).',
      );
    }
    ack(
      processor.taskDefinition.taskRole,
      'IAM5[Resource::<' + this.getLogicalId(this.snapshots.node.defaultChild as CfnElement) + `.Arn>/${SNAPSHOTS.prefix}*]`,
      'The processor writes, reads and deletes shard snapshots under keys it derives (snapshots/<stream>/<shard>/<state id>/<sequence>.ndjson.gz); scoped to that prefix of its own bucket.',
    );
    ack(
      warehouse.loadRole,
      'IAM5[Resource::<Staging12D1754E.Arn>/tables/*]',
      'The auto-copy jobs read every file Firehose writes under tables/, and nothing else of the bucket.',
    );
  }
}
