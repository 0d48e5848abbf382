/**
 * The risk console's ECS service on Fargate (console/src/main.ts): the processor's image with
 * another command, one task, reachable only from the load balancer in front of it
 * (deploy/cdk/lib/console.ts adds the sign-in and the public entry).
 *
 * Why one task: the console keeps its view in memory and its CSRF token is per process, so a page
 * belongs to the task that served it. ECS replaces a failed task; the target group's stickiness
 * keeps a page on its task while a deployment briefly runs two.
 *
 * It reads by enhanced fan-out through its own stream consumer (CONSOLE_FAN_OUT), registered here
 * before the service exists, so it takes none of a shard's 5 GetRecords calls per second that
 * Firehose (and the processor, when it polls) share.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROCESSOR_CONTAINER } from './processor-service.js';
import { fanOutConsumer } from './fan-out.js';

export const CONSOLE_CONTAINER = Object.freeze({
  name: 'console',
  /** CONSOLE_PORT; the target group and the security groups use the same number. */
  port: 8090,
  /** CONSOLE_HOST: the task's own interface, where the load balancer reaches it (the default is loopback). */
  host: '0.0.0.0',
  command: ['node', 'dist/console/src/main.js'],
  /** The image's health check script, told the console's port (its default is the processor's). */
  healthCheckCommand: ['node', 'scripts/healthcheck.mjs', '8090'],
  healthCheck: { intervalSeconds: 10, timeoutSeconds: 5, startPeriodSeconds: 20, retries: 3 },
  cpu: 256,
  memoryMiB: 512,
});

/** The console's stream consumer on the output stream (console/src/main.ts CONSOLE_CONSUMER_NAME, its default). */
export const CONSOLE_FAN_OUT = Object.freeze({ consumerName: 'risk-console' });

export interface ConsoleServiceProps {
  cluster: ecs.ICluster;
  /** The processor's image (the Dockerfile builds both entry points). */
  image: ecs.ContainerImage;
  /** Where reports go (KINESIS_STREAM): PutRecords only; `key` when the stream is encrypted with a customer key. */
  input: { stream: kinesis.IStream; key?: kms.IKey };
  /** Where alerts and summaries are read (OUTPUT_STREAM): polling reads only. */
  output: { stream: kinesis.IStream; key?: kms.IKey };
  /** PROCESSOR_URLS: base URLs of the processors' status endpoint (`/ready`), for fleet health. */
  processorUrls: string[];
  /** The processor tasks' security group: it admits the console on the processor's status port. */
  processorSecurityGroup: ec2.ISecurityGroup;
  subnets: ec2.SubnetSelection;
  /**
   * The warehouse of a card's alert history: the cluster, its endpoint and security group, and
   * the read-only database user the console logs in as with temporary IAM credentials.
   */
  warehouse?: {
    clusterId: string;
    host: string;
    port: number;
    database: string;
    user: string;
    /** What GetClusterCredentials is allowed on: that user and database (Warehouse#loginArns). */
    loginArns: string[];
    securityGroup: ec2.ISecurityGroup;
  };
  logRetention?: logs.RetentionDays;
}

export class ConsoleService extends Construct {
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly logGroup: logs.LogGroup;
  readonly securityGroup: ec2.SecurityGroup;
  readonly streamConsumer: kinesis.CfnStreamConsumer;

  constructor(scope: Construct, id: string, props: ConsoleServiceProps) {
    super(scope, id);
    const c = CONSOLE_CONTAINER;
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: c.cpu,
      memoryLimitMiB: c.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    // Exactly what the console calls. console/src/main.ts: DescribeStreamSummary (the output
    // stream's ARN), then DescribeStreamConsumer by stream ARN and name (common/src/stream-consumer.ts;
    // IAM names the consumer <stream ARN>/consumer/<name> then, and by its full ARN for
    // SubscribeToShard); console/src/feed.ts: ListShards, and per shard SubscribeToShard
    // (common/src/fanout-reader.ts), or GetShardIterator and GetRecords with KINESIS_READ=polling,
    // the fallback, kept as for the processor. Reports: PutRecords (common/src/producer.ts).
    // With a warehouse: GetClusterCredentials for its one read-only user (console/src/redshift-credentials.ts).
    // Nothing else: no lease table, no snapshots, no secret; no RegisterStreamConsumer.
    this.streamConsumer = fanOutConsumer(this, this.taskDefinition, props.output.stream.streamArn, CONSOLE_FAN_OUT.consumerName);
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadOutputStream',
        actions: ['kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'],
        resources: [props.output.stream.streamArn],
      }),
    );
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({ sid: 'ReportToInputStream', actions: ['kinesis:PutRecords'], resources: [props.input.stream.streamArn] }),
    );
    // A customer-key stream decrypts on read and generates a data key on write, under the caller's
    // permissions; each grant on the key of the stream it serves.
    if (props.output.key) {
      this.taskDefinition.addToTaskRolePolicy(
        new iam.PolicyStatement({ sid: 'OutputStreamKey', actions: ['kms:Decrypt'], resources: [props.output.key.keyArn] }),
      );
    }
    if (props.input.key) {
      this.taskDefinition.addToTaskRolePolicy(
        new iam.PolicyStatement({ sid: 'InputStreamKey', actions: ['kms:GenerateDataKey'], resources: [props.input.key.keyArn] }),
      );
    }

    const warehouse = props.warehouse;
    if (warehouse) {
      this.taskDefinition.addToTaskRolePolicy(
        new iam.PolicyStatement({ sid: 'WarehouseLogin', actions: ['redshift:GetClusterCredentials'], resources: warehouse.loginArns }),
      );
    }

    this.container = this.taskDefinition.addContainer('Console', {
      containerName: c.name,
      image: props.image,
      command: [...c.command],
      user: PROCESSOR_CONTAINER.user,
      readonlyRootFilesystem: true,
      essential: true,
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
      portMappings: [{ containerPort: c.port, protocol: ecs.Protocol.TCP }],
      healthCheck: {
        command: ['CMD', ...c.healthCheckCommand],
        interval: Duration.seconds(c.healthCheck.intervalSeconds),
        timeout: Duration.seconds(c.healthCheck.timeoutSeconds),
        startPeriod: Duration.seconds(c.healthCheck.startPeriodSeconds),
        retries: c.healthCheck.retries,
      },
      environment: {
        AWS_REGION: Stack.of(this).region,
        KINESIS_ENDPOINT: '',
        KINESIS_STREAM: props.input.stream.streamName,
        OUTPUT_STREAM: props.output.stream.streamName,
        KINESIS_READ: 'fanout',
        CONSOLE_CONSUMER_NAME: CONSOLE_FAN_OUT.consumerName,
        CONSOLE_PORT: String(c.port),
        CONSOLE_HOST: c.host,
        PROCESSOR_URLS: props.processorUrls.join(','),
        ...(warehouse
          ? {
              WAREHOUSE_REDSHIFT_CLUSTER: warehouse.clusterId,
              WAREHOUSE_HOST: warehouse.host,
              WAREHOUSE_PORT: String(warehouse.port),
              WAREHOUSE_DATABASE: warehouse.database,
              WAREHOUSE_USER: warehouse.user,
            }
          : {}),
        LOG_LEVEL: 'info',
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'console' }),
    });

    const securityGroup = (this.securityGroup = new ec2.SecurityGroup(this, 'Tasks', {
      vpc: props.cluster.vpc,
      description: 'Console tasks: inbound from the load balancer only; outbound HTTPS to the AWS APIs and the processors status port',
      allowAllOutbound: false,
    }));
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the AWS APIs (VPC endpoints) and the image layers (S3)');
    // Fleet health: the console polls each processor task's GET /ready.
    securityGroup.connections.allowTo(props.processorSecurityGroup, ec2.Port.tcp(PROCESSOR_CONTAINER.port), 'The console reads the processors /ready');
    // A card's alert history: the console reads the warehouse (TLS, the cluster requires it).
    if (warehouse)
      securityGroup.connections.allowTo(warehouse.securityGroup, ec2.Port.tcp(warehouse.port), 'The console reads a card history in the warehouse');

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      vpcSubnets: props.subnets,
      securityGroups: [securityGroup],
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      enableExecuteCommand: false,
    });
    // Tasks start once the consumer exists: the console would otherwise register it, which its
    // role may not.
    this.service.node.addDependency(this.streamConsumer);
  }
}
