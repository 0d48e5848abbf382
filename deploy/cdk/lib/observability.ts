/**
 * What tells an operator that something is wrong, and where they look:
 *   - an SNS topic every alert goes to (subscribe the on-call tool to it);
 *   - an Amazon Managed Service for Prometheus workspace that the tasks' collectors write to, with
 *     the rules of grafana/rules/processor.rules.yml and an alert manager that notifies the topic;
 *   - an Amazon Managed Grafana workspace (in the VPC) with that workspace and the warehouse as data
 *     sources and the dashboards of grafana/dashboards, provisioned by deploy/grafana/provisioner.ts;
 *   - CloudWatch alarms on the AWS side (`addAwsAlarms`), to the same topic.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as aps from 'aws-cdk-lib/aws-aps';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as grafana from 'aws-cdk-lib/aws-grafana';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { contentHash } from '../../grafana/provisioner.js';
import { bundledCode } from './bundle.js';
import { WAREHOUSE, type Warehouse } from './warehouse.js';

export const GRAFANA_VERSION = '10.4';
export const RULES_FILE = fileURLToPath(new URL('../../../grafana/rules/processor.rules.yml', import.meta.url));
export const PROVISIONER_ENTRY = fileURLToPath(new URL('../../grafana/provisioner.ts', import.meta.url));

/** The alert manager of the Prometheus workspace: every alert to the topic, grouped by name. */
export function alertManagerDefinition(topicArn: string, region: string): string {
  return [
    'alertmanager_config: |',
    '  route:',
    '    receiver: sns',
    '    group_by: [alertname, severity]',
    '    group_wait: 30s',
    '    group_interval: 5m',
    '    repeat_interval: 4h',
    '  receivers:',
    '    - name: sns',
    '      sns_configs:',
    `        - topic_arn: ${topicArn}`,
    '          sigv4:',
    `            region: ${region}`,
    "          subject: '[{{ .CommonLabels.severity }}] {{ .CommonLabels.alertname }}'",
    '          attributes:',
    "            severity: '{{ .CommonLabels.severity }}'",
    '',
  ].join('\n');
}

export interface ObservabilityProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  warehouse: Warehouse;
  deployLogs: logs.LogGroup;
  logRetention: logs.RetentionDays;
}

export class Observability extends Construct {
  readonly topic: sns.Topic;
  readonly prometheus: aps.CfnWorkspace;
  readonly rules: aps.CfnRuleGroupsNamespace;
  readonly remoteWriteUrl: string;
  readonly grafana: grafana.CfnWorkspace;
  readonly grafanaRole: iam.Role;
  readonly grafanaSecurityGroup: ec2.SecurityGroup;
  readonly readerSecret: secretsmanager.Secret;
  readonly provisionerRole: iam.Role;
  readonly provisioning: CustomResource;
  readonly provider: cr.Provider;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // ---- the alert topic (encrypted; CloudWatch and the Prometheus alert manager may publish)
    const key = new kms.Key(this, 'TopicKey', { enableKeyRotation: true, description: 'Operations alert topic encryption' });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AlarmPublishers',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('aps.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        // No condition here: the topic policy limits who may publish (by source account and ARN);
        // the services' KMS calls are not documented to carry aws:SourceAccount.
      }),
    );
    const topic = (this.topic = new sns.Topic(this, 'Alerts', {
      displayName: 'Stolen-card alerting: operations alerts',
      masterKey: key,
      enforceSSL: true,
    }));

    // ---- Amazon Managed Service for Prometheus: the series, the rules, the alert manager
    const ampLogs = new logs.LogGroup(this, 'PrometheusLogs', { retention: props.logRetention });
    const prometheus = (this.prometheus = new aps.CfnWorkspace(this, 'Prometheus', {
      alias: 'stolen-card-alerting',
      alertManagerDefinition: alertManagerDefinition(topic.topicArn, stack.region),
      loggingConfiguration: { logGroupArn: ampLogs.logGroupArn },
    }));
    this.remoteWriteUrl = `${prometheus.attrPrometheusEndpoint}api/v1/remote_write`;
    this.rules = new aps.CfnRuleGroupsNamespace(this, 'Rules', {
      workspace: prometheus.attrArn,
      name: 'processor',
      data: readFileSync(RULES_FILE, 'utf8'),
    });
    const publishers: [string, iam.ServicePrincipal, Record<string, unknown>][] = [
      ['PrometheusAlertManager', new iam.ServicePrincipal('aps.amazonaws.com'), { ArnEquals: { 'aws:SourceArn': prometheus.attrArn } }],
      ['CloudWatchAlarms', new iam.ServicePrincipal('cloudwatch.amazonaws.com'), {}],
    ];
    for (const [sid, principal, extra] of publishers) {
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          principals: [principal],
          actions: ['sns:Publish', 'sns:GetTopicAttributes'],
          resources: [topic.topicArn],
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account }, ...extra },
        }),
      );
    }

    // ---- Amazon Managed Grafana, inside the VPC so that it reaches the private warehouse
    const grafanaRole = (this.grafanaRole = new iam.Role(this, 'GrafanaRole', {
      assumedBy: new iam.ServicePrincipal('grafana.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'Managed Grafana queries the Prometheus workspace',
    }));
    grafanaRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'QueryMetrics',
        actions: ['aps:GetLabels', 'aps:GetMetricMetadata', 'aps:GetSeries', 'aps:QueryMetrics'],
        resources: [prometheus.attrArn],
      }),
    );
    const sg = (this.grafanaSecurityGroup = new ec2.SecurityGroup(this, 'GrafanaSg', {
      vpc: props.vpc,
      description: 'Managed Grafana: outbound to the warehouse (5439) and HTTPS to AWS APIs',
      allowAllOutbound: false,
    }));
    sg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the Prometheus endpoint and any AWS API Grafana calls (VPC endpoints, else NAT)');
    sg.connections.allowTo(props.warehouse.securityGroup, ec2.Port.tcp(WAREHOUSE.port), 'Grafana reads the warehouse');
    const workspace = (this.grafana = new grafana.CfnWorkspace(this, 'Grafana', {
      name: 'stolen-card-alerting',
      description: 'Dashboards of the processor (Prometheus) and the risk team (warehouse)',
      accountAccessType: 'CURRENT_ACCOUNT',
      authenticationProviders: ['AWS_SSO'],
      permissionType: 'CUSTOMER_MANAGED',
      roleArn: grafanaRole.roleArn,
      pluginAdminEnabled: false,
      // 10.3 or later: the Warehouse data source's type (grafana-postgresql-datasource) needs it.
      grafanaVersion: GRAFANA_VERSION,
      vpcConfiguration: {
        securityGroupIds: [sg.securityGroupId],
        subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
      },
    }));

    // The warehouse login Grafana uses: the read-only `grafana` user (deploy/warehouse/access.sql).
    this.readerSecret = new secretsmanager.Secret(this, 'WarehouseReader', {
      description: "Password of the warehouse's read-only grafana user (set by the Grafana provisioning step)",
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: WAREHOUSE.readerUser }),
        generateStringKey: 'password',
        excludePunctuation: true,
        passwordLength: 32,
      },
    });

    // ---- provisioning: data sources and dashboards (deploy/grafana/provisioner.ts)
    const role = (this.provisionerRole = new iam.Role(this, 'ProvisionerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Grafana provisioning: a short-lived API token, the data sources, the dashboards, the reader password',
    }));
    const workspaceArn = stack.formatArn({ service: 'grafana', resource: '/workspaces', resourceName: workspace.attrId });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Logs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [props.deployLogs.logGroupArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'GrafanaToken',
        actions: [
          'grafana:CreateWorkspaceServiceAccount',
          'grafana:CreateWorkspaceServiceAccountToken',
          'grafana:DeleteWorkspaceServiceAccountToken',
          'grafana:ListWorkspaceServiceAccounts',
        ],
        resources: [workspaceArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Secrets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.readerSecret.secretArn, props.warehouse.adminSecretArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SetReaderPassword',
        actions: ['redshift-data:ExecuteStatement'],
        resources: [props.warehouse.clusterArn],
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WaitForSql', actions: ['redshift-data:DescribeStatement'], resources: ['*'] }));
    const provisioner = new lambda.Function(this, 'Provisioner', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: bundledCode(PROVISIONER_ENTRY),
      role,
      timeout: Duration.minutes(5),
      memorySize: 256,
      logGroup: props.deployLogs,
      description: 'Provisions the Managed Grafana data sources and dashboards',
    });
    const provider = (this.provider = new cr.Provider(this, 'GrafanaProvisioning', {
      onEventHandler: provisioner,
      logGroup: props.deployLogs,
    }));
    const cluster = props.warehouse.cluster;
    this.provisioning = new CustomResource(this, 'Provisioning', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::GrafanaProvisioning',
      properties: {
        WorkspaceId: workspace.attrId,
        WorkspaceUrl: `https://${workspace.attrEndpoint}`,
        Region: stack.region,
        PrometheusUrl: prometheus.attrPrometheusEndpoint,
        WarehouseHost: cluster.attrEndpointAddress,
        WarehousePort: cluster.attrEndpointPort,
        WarehouseDatabase: WAREHOUSE.database,
        ReaderSecretArn: this.readerSecret.secretArn,
        AdminSecretArn: props.warehouse.adminSecretArn,
        ClusterIdentifier: cluster.ref,
        ContentHash: contentHash(),
      },
    });
    // The reader user must exist before its password is set.
    this.provisioning.node.addDependency(props.warehouse.ddl);
  }
}

export interface AwsAlarmsProps {
  topic: sns.ITopic;
  stream: kinesis.Stream;
  leaseTable: dynamodb.Table;
  deliveryStreamName: string;
  transform: lambda.IFunction;
  service: ecs.FargateService;
  clusterName: string;
  warehouseClusterId: string;
}

/**
 * CloudWatch alarms on what the Prometheus rules cannot see: the AWS services around the processor.
 * Thresholds are in the runbook table of docs/deployment.md, which says what to do for each.
 */
export function addAwsAlarms(scope: Construct, p: AwsAlarmsProps): cloudwatch.Alarm[] {
  const five = Duration.minutes(5);
  const one = Duration.minutes(1);
  const firehose = (metricName: string, statistic: string) =>
    new cloudwatch.Metric({
      namespace: 'AWS/Firehose',
      metricName,
      dimensionsMap: { DeliveryStreamName: p.deliveryStreamName },
      statistic,
      period: five,
    });
  const containerInsights = (metricName: string) =>
    new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName,
      dimensionsMap: { ClusterName: p.clusterName, ServiceName: p.service.serviceName },
      statistic: 'Average',
      period: one,
    });
  const specs: {
    id: string;
    description: string;
    metric: cloudwatch.IMetric;
    threshold: number;
    periods: number;
    comparison: cloudwatch.ComparisonOperator;
    missing: cloudwatch.TreatMissingData;
  }[] = [
    {
      id: 'StreamIteratorAge',
      description: 'A polling reader of the payments stream (Firehose; the processor only when it polls) is more than 5 minutes behind',
      metric: p.stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: 'Maximum', period: one }),
      threshold: 5 * 60_000,
      periods: 5,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'StreamReadThrottled',
      description: 'More than 5 % of GetRecords calls on the payments stream are throttled (read budget exceeded)',
      metric: p.stream.metricReadProvisionedThroughputExceeded({ statistic: 'Average', period: five }),
      threshold: 0.05,
      periods: 3,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'StreamWriteThrottled',
      description: 'More than 1 % of writes to the payments stream are throttled (add shards)',
      metric: p.stream.metricWriteProvisionedThroughputExceeded({ statistic: 'Average', period: five }),
      threshold: 0.01,
      periods: 3,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'DeliveryToS3Failing',
      description: 'Firehose failed to write records to the staging bucket',
      metric: firehose('DeliveryToS3.Success', 'Minimum'),
      threshold: 1,
      periods: 2,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'DeliveryTransformFailing',
      description: 'Firehose could not run the transformation Lambda on some records (they go to errors/processing-failed/)',
      metric: firehose('ExecuteProcessing.Success', 'Minimum'),
      threshold: 1,
      periods: 2,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'DeliveryStale',
      description: 'The oldest record not yet in S3 is more than 15 minutes old',
      metric: firehose('DeliveryToS3.DataFreshness', 'Maximum'),
      threshold: 15 * 60,
      periods: 3,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'TransformErrors',
      description: 'The Firehose transformation Lambda is failing',
      metric: p.transform.metricErrors({ statistic: 'Sum', period: five }),
      threshold: 0,
      periods: 1,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'ProcessorTasksMissing',
      description: 'Fewer processor tasks run than desired for 10 minutes (crash loop, image pull or capacity)',
      metric: new cloudwatch.MathExpression({
        expression: 'desired - running',
        usingMetrics: { desired: containerInsights('DesiredTaskCount'), running: containerInsights('RunningTaskCount') },
        period: one,
        label: 'missing tasks',
      }),
      threshold: 0,
      periods: 10,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.BREACHING,
    },
    {
      id: 'ProcessorNotRunning',
      description: 'No processor task is running: nothing is alerting on stolen cards',
      metric: containerInsights('RunningTaskCount'),
      threshold: 1,
      periods: 3,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.BREACHING,
    },
    {
      id: 'LeaseTableThrottled',
      description: 'DynamoDB throttled requests to the lease table (lease renewals at risk)',
      metric: p.leaseTable.metricThrottledRequestsForOperations({
        operations: [dynamodb.Operation.GET_ITEM, dynamodb.Operation.PUT_ITEM, dynamodb.Operation.UPDATE_ITEM, dynamodb.Operation.SCAN],
        period: five,
      }),
      threshold: 0,
      periods: 1,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
    {
      id: 'WarehouseUnhealthy',
      description: 'The Redshift cluster reports unhealthy: loads and dashboards stop',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Redshift',
        metricName: 'HealthStatus',
        dimensionsMap: { ClusterIdentifier: p.warehouseClusterId },
        statistic: 'Minimum',
        period: one,
      }),
      threshold: 1,
      periods: 5,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.BREACHING,
    },
  ];
  const action = new actions.SnsAction(p.topic);
  return specs.map((s) => {
    const alarm = new cloudwatch.Alarm(scope, s.id, {
      alarmDescription: s.description,
      metric: s.metric,
      threshold: s.threshold,
      evaluationPeriods: s.periods,
      datapointsToAlarm: s.periods,
      comparisonOperator: s.comparison,
      treatMissingData: s.missing,
    });
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return alarm;
  });
}
