/**
 * The processor's ECS service on Fargate, and the optional simulator task definition.
 *
 * `PROCESSOR_CONTAINER` holds the settings the image (Dockerfile) must agree with: port, health
 * check, user, state directory, stop timeout. deploy/test/cdk/image.test.ts parses the Dockerfile
 * and checks both against these values and against the synthesized task definition.
 *
 * Shutdown: ECS sends SIGTERM, waits `stopTimeoutSeconds`, then SIGKILLs. The processor drains,
 * flushes and checkpoints within SHUTDOWN_TIMEOUT_MS (then exits 1 on its own), so the stop
 * timeout is well above it: a kill never cuts a checkpoint.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { COLLECTOR_IMAGE, LAG_METRIC, collectorConfigYaml } from './collector.js';
import { fanOutConsumer } from './fan-out.js';

export const PROCESSOR_CONTAINER = Object.freeze({
  name: 'processor',
  port: 8080,
  /** The image's unprivileged user (Dockerfile `USER`). */
  user: 'node',
  /** LevelDB state: the image's VOLUME, a Fargate ephemeral bind mount here. */
  stateDir: '/var/lib/processor/state',
  /** The image's default STOLEN_LIST: where `docker run` mounts it. ECS reads it from S3 instead. */
  mountedStolenList: '/etc/processor/stolen-cards.csv',
  /** The image's default CARD_TOKEN_KEY_FILE (mounted by `docker run`); ECS reads the key from Secrets Manager. */
  mountedCardTokenKey: '/etc/processor/card-token-key.json',
  command: ['node', 'dist/processor/src/main.js'],
  healthCheckCommand: ['node', 'scripts/healthcheck.mjs'],
  healthCheck: { intervalSeconds: 10, timeoutSeconds: 5, startPeriodSeconds: 30, retries: 3 },
  /** processor/src/config.ts SHUTDOWN_TIMEOUT_MS (its default). */
  shutdownTimeoutMs: 25_000,
  /** > SHUTDOWN_TIMEOUT_MS with room for the last PutRecords retries; Fargate allows up to 120 s. */
  stopTimeoutSeconds: 60,
  /** Fargate task storage (GiB, 21–200); the state lives there and is rebuilt by a new task. */
  ephemeralStorageGiB: 30,
  cpu: 512,
  memoryMiB: 1024,
});

/**
 * Scaling on lag, not CPU: every scale event moves leases, and each move costs the new owner a
 * rebuild, so the service scales out only when a shard stays behind, by one task at a time (two if
 * far behind), and scales in only after a long calm. Bounded by the shard count (`maxTasks`).
 */
export const LAG_SCALING = Object.freeze({
  /** Scale out when the worst shard is this far behind latest for `outMinutes` minutes. */
  outAboveSeconds: 60,
  farAboveSeconds: 300,
  outMinutes: 3,
  outCooldownMinutes: 10,
  /** Scale in when the worst shard stays within this of latest for `inMinutes` minutes. */
  inBelowSeconds: 5,
  inMinutes: 30,
  inCooldownMinutes: 30,
});

/**
 * Enhanced fan-out: the stream consumer the processor reads through (KINESIS_READ=fanout). The
 * stack registers it, so the task role has no kinesis:RegisterStreamConsumer; the processor finds it
 * by name at start (DescribeStreamConsumer) and subscribes each shard on its ARN.
 */
export const FAN_OUT = Object.freeze({ consumerName: 'payments-processor' });

/**
 * Shard state snapshots in S3 (SNAPSHOT_BUCKET): the key prefix the processor writes under
 * (SNAPSHOT_PREFIX) and the task role's grants are scoped to; one definition for both.
 */
export const SNAPSHOTS = Object.freeze({ prefix: 'snapshots/' });

export const SIMULATOR_COMMAND = ['node', 'dist/simulator/src/main.js', '--rate', '100'] as const;

export interface ProcessorServiceProps {
  cluster: ecs.ICluster;
  image: ecs.ContainerImage;
  stream: kinesis.IStream;
  streamKey: kms.IKey;
  leaseTable: dynamodb.ITable;
  /**
   * The cards file in S3 (CARDS_FILE=s3://bucket/key): the card numbers the simulator pays with.
   * Only the simulator's task role may read it (the processor never sees a card number at rest).
   */
  cards: { bucket: s3.IBucket; key: string };
  /** The stolen list in S3 (STOLEN_LIST=s3://bucket/key: tokens, no card number): the processor's task role reads exactly this object. */
  stolenList: { bucket: s3.IBucket; key: string };
  /** The card token key (Secrets Manager): the processor tokenises the payments it reads; its task role may read exactly this secret. */
  cardTokenKey: secretsmanager.ISecret;
  /** Upper bound of the task count: more tasks than shards would hold no lease. */
  maxTasks: number;
  subnets: ec2.SubnetSelection;
  logRetention?: logs.RetentionDays;
  /** The Amazon Managed Service for Prometheus workspace the collector remote-writes to. */
  metrics: { workspaceArn: string; remoteWriteUrl: string };
  /** Also define a simulator task definition (run it with `aws ecs run-task`). */
  simulator?: boolean;
  /**
   * The bucket of shard state snapshots: the task role may put, get and delete objects under
   * `SNAPSHOTS.prefix` and list that prefix, nothing else of the bucket. Without it, no snapshots:
   * a new owner of a shard rebuilds its state by replaying the last ~65 minutes.
   */
  snapshots?: { bucket: s3.IBucket };
}

export class ProcessorService extends Construct {
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly logGroup: logs.LogGroup;
  readonly collector: ecs.ContainerDefinition;
  readonly emfLogGroup: logs.LogGroup;
  readonly scaling: ecs.ScalableTaskCount;
  readonly lagMetric: cloudwatch.Metric;
  readonly securityGroup: ec2.SecurityGroup;
  readonly streamConsumer: kinesis.CfnStreamConsumer;
  readonly simulatorTaskDefinition?: ecs.FargateTaskDefinition;

  constructor(scope: Construct, id: string, props: ProcessorServiceProps) {
    super(scope, id);
    const c = PROCESSOR_CONTAINER;
    const region = Stack.of(this).region;

    const retention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention });
    this.emfLogGroup = new logs.LogGroup(this, 'ScalingMetrics', { retention });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: c.cpu,
      memoryLimitMiB: c.memoryMiB,
      ephemeralStorageGiB: c.ephemeralStorageGiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      volumes: [{ name: 'state' }],
    });
    // Exactly what the processor calls (common/src/shard-reader.ts, common/src/producer.ts,
    // processor/src/lease/table.ts), on exactly its resources.
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({
        sid: 'KinesisReadAndEmit',
        actions: ['kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards', 'kinesis:PutRecords'],
        resources: [props.stream.streamArn],
      }),
    );
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({ sid: 'StreamKey', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [props.streamKey.keyArn] }),
    );
    // Enhanced fan-out through its own consumer (fan-out.ts); the polling grants above stay:
    // KINESIS_READ=polling is the fallback.
    this.streamConsumer = fanOutConsumer(this, this.taskDefinition, props.stream.streamArn, FAN_OUT.consumerName);
    if (props.snapshots) {
      // processor/src/snapshot/s3-snapshots.ts: PutObject, GetObject, DeleteObjects (which needs
      // s3:DeleteObject per key), ListObjectsV2 with a Prefix under SNAPSHOTS.prefix.
      const { bucket } = props.snapshots;
      this.taskDefinition.addToTaskRolePolicy(
        new iam.PolicyStatement({
          sid: 'SnapshotObjects',
          actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
          resources: [bucket.arnForObjects(`${SNAPSHOTS.prefix}*`)],
        }),
      );
      this.taskDefinition.addToTaskRolePolicy(
        new iam.PolicyStatement({
          sid: 'SnapshotList',
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': `${SNAPSHOTS.prefix}*` } },
        }),
      );
    }
    const cardsFile = `s3://${props.cards.bucket.bucketName}/${props.cards.key}`;
    const readCards = new iam.PolicyStatement({
      sid: 'CardsFile',
      actions: ['s3:GetObject'],
      resources: [props.cards.bucket.arnForObjects(props.cards.key)],
    });
    const stolenList = `s3://${props.stolenList.bucket.bucketName}/${props.stolenList.key}`;
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({
        sid: 'StolenList',
        actions: ['s3:GetObject'],
        resources: [props.stolenList.bucket.arnForObjects(props.stolenList.key)],
      }),
    );
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({
        sid: 'CardTokenKey',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.cardTokenKey.secretArn],
      }),
    );
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({
        sid: 'LeaseTable',
        actions: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
        resources: [props.leaseTable.tableArn],
      }),
    );

    this.container = this.taskDefinition.addContainer('Processor', {
      containerName: c.name,
      image: props.image,
      command: [...c.command],
      user: c.user,
      readonlyRootFilesystem: true,
      essential: true,
      stopTimeout: Duration.seconds(c.stopTimeoutSeconds),
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
        AWS_REGION: region,
        KINESIS_ENDPOINT: '',
        KINESIS_STREAM: props.stream.streamName,
        LEASE_TABLE: props.leaseTable.tableName,
        DYNAMODB_ENDPOINT: '',
        STATE_DIR: c.stateDir,
        STOLEN_LIST: stolenList,
        CARD_TOKEN_KEY_SECRET: props.cardTokenKey.secretArn,
        HTTP_PORT: String(c.port),
        SHUTDOWN_TIMEOUT_MS: String(c.shutdownTimeoutMs),
        KINESIS_READ: 'fanout',
        KINESIS_CONSUMER_NAME: FAN_OUT.consumerName,
        ...(props.snapshots ? { SNAPSHOT_BUCKET: props.snapshots.bucket.bucketName, SNAPSHOT_PREFIX: SNAPSHOTS.prefix } : {}),
        LOG_LEVEL: 'info',
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'processor' }),
    });
    this.container.addMountPoints({ containerPath: c.stateDir, sourceVolume: 'state', readOnly: false });

    // The metrics collector (ecs/collector.ts). Essential: a task whose metrics cannot leave it is a
    // task nobody can see falling behind, so ECS replaces it rather than run it blind.
    this.collector = this.taskDefinition.addContainer('Collector', {
      containerName: 'collector',
      image: ecs.ContainerImage.fromRegistry(COLLECTOR_IMAGE),
      essential: true,
      readonlyRootFilesystem: true,
      memoryLimitMiB: 256,
      environment: {
        AWS_REGION: region,
        AOT_CONFIG_CONTENT: collectorConfigYaml({
          region,
          remoteWriteUrl: props.metrics.remoteWriteUrl,
          metricsPort: c.port,
          emfLogGroup: this.emfLogGroup.logGroupName,
        }),
      },
      healthCheck: {
        command: ['CMD', '/healthcheck'],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        startPeriod: Duration.seconds(30),
        retries: 3,
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'collector' }),
    });
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({ sid: 'RemoteWriteMetrics', actions: ['aps:RemoteWrite'], resources: [props.metrics.workspaceArn] }),
    );
    this.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({
        sid: 'ScalingMetric',
        actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
        resources: [this.emfLogGroup.logGroupArn],
      }),
    );

    const securityGroup = (this.securityGroup = new ec2.SecurityGroup(this, 'Tasks', {
      vpc: props.cluster.vpc,
      description:
        'Processor tasks: inbound only what the stack opens (the console, to the status port); outbound HTTPS to the AWS APIs and the collector image',
      allowAllOutbound: false,
    }));
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      vpcSubnets: props.subnets,
      securityGroups: [securityGroup],
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      enableExecuteCommand: false,
    });
    // Tasks start once the consumer exists: otherwise the processor would try to register it, which
    // its role may not.
    this.service.node.addDependency(this.streamConsumer);
    const scaling = (this.scaling = this.service.autoScaleTaskCount({ minCapacity: 1, maxCapacity: props.maxTasks }));
    const lag = (this.lagMetric = new cloudwatch.Metric({
      namespace: LAG_METRIC.namespace,
      metricName: LAG_METRIC.name,
      statistic: 'Maximum',
      period: Duration.minutes(1),
    }));
    const s = LAG_SCALING;
    scaling.scaleOnMetric('LagOut', {
      metric: lag,
      scalingSteps: [
        { upper: s.outAboveSeconds, change: 0 },
        { lower: s.outAboveSeconds, change: +1 },
        { lower: s.farAboveSeconds, change: +2 },
      ],
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      evaluationPeriods: s.outMinutes,
      cooldown: Duration.minutes(s.outCooldownMinutes),
    });
    scaling.scaleOnMetric('LagIn', {
      metric: lag,
      scalingSteps: [
        { upper: s.inBelowSeconds, change: -1 },
        { lower: s.inBelowSeconds, change: 0 },
      ],
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      evaluationPeriods: s.inMinutes,
      cooldown: Duration.minutes(s.inCooldownMinutes),
    });

    if (props.simulator) {
      const sim = new ecs.FargateTaskDefinition(this, 'SimulatorTask', {
        cpu: 256,
        memoryLimitMiB: 512,
        runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      });
      sim.addToTaskRolePolicy(new iam.PolicyStatement({ sid: 'KinesisPut', actions: ['kinesis:PutRecords'], resources: [props.stream.streamArn] }));
      sim.addToTaskRolePolicy(new iam.PolicyStatement({ sid: 'StreamKey', actions: ['kms:GenerateDataKey'], resources: [props.streamKey.keyArn] }));
      sim.addToTaskRolePolicy(readCards);
      sim.addContainer('Simulator', {
        containerName: 'simulator',
        image: props.image,
        command: [...SIMULATOR_COMMAND],
        user: c.user,
        readonlyRootFilesystem: true,
        linuxParameters: new ecs.LinuxParameters(this, 'SimulatorLinux', { initProcessEnabled: true }),
        environment: {
          AWS_REGION: region,
          KINESIS_ENDPOINT: '',
          KINESIS_STREAM: props.stream.streamName,
          CARDS_FILE: cardsFile,
          LOG_LEVEL: 'info',
        },
        logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'simulator' }),
      });
      this.simulatorTaskDefinition = sim;
    }
  }
}
