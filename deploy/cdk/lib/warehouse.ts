/**
 * The Redshift warehouse and the load path into it.
 *
 *   Firehose → S3 staging bucket, tables/events/ and tables/rejects/ (deploy/delivery-stream.ts)
 *            → S3 event integration → two auto-copy jobs (COPY … JOB CREATE … AUTO ON) that run as
 *              the `loader` user and load each new file once into its table.
 *
 * Firehose never connects to the cluster, so the cluster is private (isolated subnets, no public
 * endpoint) and reads S3 through the VPC's S3 gateway endpoint (enhanced VPC routing). Users and
 * grants: deploy/warehouse/access.sql. The admin password is managed and rotated by Redshift.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnDeletionPolicy, CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as cr from 'aws-cdk-lib/custom-resources';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as redshift from 'aws-cdk-lib/aws-redshift';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DELIVERY, tablePrefix } from '../../delivery-stream.js';
import { bundledCode } from './bundle.js';

export const STAGING_SQL = fileURLToPath(new URL('../../warehouse/staging.sql', import.meta.url));
export const SQL_STEP_ENTRY = fileURLToPath(new URL('../../warehouse/sql-step.ts', import.meta.url));
export const ACCESS_SQL = fileURLToPath(new URL('../../warehouse/access.sql', import.meta.url));
export const WAREHOUSE = Object.freeze({
  database: 'payments',
  port: 5439,
  adminUser: 'payments_admin',
  loaderUser: 'loader',
  readerUser: 'grafana',
  /** The risk console's user (analyst role), logged in with temporary IAM credentials (console/src/redshift-credentials.ts). */
  consoleUser: 'risk_console',
  readerRole: 'analyst',
  /** Days of automated snapshots; the last one is also kept when the stack deletes the cluster. */
  snapshotRetentionDays: 35,
});

/**
 * A SQL script as single statements for the Data API: `--` comments removed, split on `;` outside
 * dollar-quoted bodies ($$ … $$, the stored procedures of access.sql).
 */
export function sqlStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let inBody = false;
  for (const line of sql.split('\n')) {
    const text = inBody ? line : line.replace(/--.*$/, '');
    for (const part of text.split(/(\$\$|;)/)) {
      if (part === '$$') inBody = !inBody;
      if (part === ';' && !inBody) {
        out.push(current);
        current = '';
      } else current += part;
    }
    current += '\n';
  }
  out.push(current);
  return out.map((s) => s.replace(/\s+/g, ' ').trim()).filter((s) => s.length > 0);
}

/** The auto-copy statement of one staging table: the loader runs it once, Redshift then loads every new file. */
export function copyJobSql(p: { table: string; columns: readonly string[]; bucketName: string; prefix: string; roleArn: string; job: string }): string {
  return (
    `COPY ${p.table} (${p.columns.join(', ')}) FROM 's3://${p.bucketName}/${p.prefix}' IAM_ROLE '${p.roleArn}' ` +
    `FORMAT AS JSON 'auto' TIMEFORMAT 'auto' GZIP JOB CREATE ${p.job} AUTO ON`
  );
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

export interface WarehouseProps {
  vpc: ec2.IVpc;
  /** Isolated subnets: the cluster has no route to or from the internet. */
  subnets: ec2.SubnetSelection;
  /** Where Firehose writes tables/events/ and tables/rejects/. */
  staging: s3.Bucket;
  /** Audit logs of the cluster (connections, users, user activity). */
  auditLogs: s3.Bucket;
  nodeType: string;
  /** Log group of the deploy steps (custom resources). */
  deployLogs: logs.LogGroup;
}

export class Warehouse extends Construct {
  readonly cluster: redshift.CfnCluster;
  readonly clusterArn: string;
  readonly securityGroup: ec2.SecurityGroup;
  /** The Redshift-managed secret of the admin user (rotated by Redshift). */
  readonly adminSecretArn: string;
  /** The role the auto-copy jobs read S3 with. */
  readonly loadRole: iam.Role;
  readonly namespacePolicy: cr.AwsCustomResource;
  readonly integration: redshift.CfnIntegration;
  /** Step 2: grants Redshift takes only outside a transaction block, each on its own. */
  readonly grants: CustomResource;
  readonly statements: string[];
  readonly grantStatements: string[];
  readonly stepRole: iam.Role;
  readonly provider: cr.Provider;
  readonly ddl: CustomResource;
  readonly copyJobs: { table: string; job: string; sql: string; resource: CustomResource }[] = [];

  /**
   * What `redshift:GetClusterCredentials` for `user` must be allowed on: that database user and
   * the one database (a temporary login as nobody else, into nothing else).
   */
  loginArns(user: string): string[] {
    const stack = Stack.of(this);
    const arn = (resource: string, name: string) =>
      stack.formatArn({ service: 'redshift', resource, resourceName: `${this.cluster.ref}/${name}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    return [arn('dbuser', user), arn('dbname', WAREHOUSE.database)];
  }

  constructor(scope: Construct, id: string, props: WarehouseProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const key = new kms.Key(this, 'Key', { enableKeyRotation: true, description: 'Redshift cluster encryption' });
    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: props.vpc,
      description: 'Redshift: no inbound traffic except from the Grafana workspace; loads read S3 through the gateway endpoint',
      allowAllOutbound: false,
    });
    // Enhanced VPC routing sends COPY's S3 reads through the VPC: HTTPS out, which in the isolated
    // subnets can only reach the S3 gateway endpoint (they have no other route).
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'S3 through the gateway endpoint (COPY with enhanced VPC routing)');
    const subnetGroup = new redshift.CfnClusterSubnetGroup(this, 'Subnets', {
      description: 'Isolated subnets: the cluster is reachable only inside the VPC',
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
    });
    const parameterGroup = new redshift.CfnClusterParameterGroup(this, 'Parameters', {
      description: 'Payments warehouse: TLS required, user activity logged',
      parameterGroupFamily: 'redshift-1.0',
      parameters: [
        { parameterName: 'require_ssl', parameterValue: 'true' },
        { parameterName: 'enable_user_activity_logging', parameterValue: 'true' },
      ],
    });

    // The auto-copy jobs read exactly the table prefixes; nothing else of the bucket.
    this.loadRole = new iam.Role(this, 'LoadRole', {
      assumedBy: new iam.ServicePrincipal('redshift.amazonaws.com'),
      description: "Redshift's auto-copy jobs read tables/ of the staging bucket",
    });
    this.loadRole.addToPolicy(new iam.PolicyStatement({ sid: 'ReadTables', actions: ['s3:GetObject'], resources: [props.staging.arnForObjects('tables/*')] }));
    this.loadRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListTables',
        actions: ['s3:ListBucket'],
        resources: [props.staging.bucketArn],
        conditions: { StringLike: { 's3:prefix': ['tables/*'] } },
      }),
    );

    const cluster = (this.cluster = new redshift.CfnCluster(this, 'Cluster', {
      clusterType: 'single-node',
      nodeType: props.nodeType,
      dbName: WAREHOUSE.database,
      port: WAREHOUSE.port,
      masterUsername: WAREHOUSE.adminUser,
      manageMasterPassword: true,
      encrypted: true,
      kmsKeyId: key.keyId,
      publiclyAccessible: false,
      enhancedVpcRouting: true,
      clusterSubnetGroupName: subnetGroup.ref,
      clusterParameterGroupName: parameterGroup.ref,
      vpcSecurityGroupIds: [this.securityGroup.securityGroupId],
      iamRoles: [this.loadRole.roleArn],
      automatedSnapshotRetentionPeriod: WAREHOUSE.snapshotRetentionDays,
      allowVersionUpgrade: true,
      preferredMaintenanceWindow: 'Sun:04:00-Sun:04:30',
      loggingProperties: { bucketName: props.auditLogs.bucketName, s3KeyPrefix: 'redshift/' },
    }));
    // Deleting the stack (or replacing the cluster) leaves a final snapshot, never nothing.
    cluster.cfnOptions.deletionPolicy = CfnDeletionPolicy.SNAPSHOT;
    cluster.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.SNAPSHOT;
    this.adminSecretArn = cluster.attrMasterPasswordSecretArn;
    this.clusterArn = stack.formatArn({
      service: 'redshift',
      resource: 'cluster',
      resourceName: cluster.ref,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // Audit logging: only Redshift, on behalf of a cluster of this account and region, may write.
    props.auditLogs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RedshiftAuditLogs',
        principals: [new iam.ServicePrincipal('redshift.amazonaws.com')],
        actions: ['s3:PutObject', 's3:GetBucketAcl'],
        resources: [props.auditLogs.bucketArn, props.auditLogs.arnForObjects('redshift/*')],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'redshift',
              resource: 'cluster',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    cluster.node.addDependency(props.auditLogs);

    // S3 event integration: the staging bucket tells Redshift about new files (auto-copy).
    props.staging.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RedshiftAutoCopyIntegration',
        principals: [new iam.ServicePrincipal('redshift.amazonaws.com')],
        actions: ['s3:GetBucketNotification', 's3:PutBucketNotification', 's3:GetBucketLocation'],
        resources: [props.staging.bucketArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'redshift',
              resource: 'integration',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    // The namespace's resource policy lets the staging bucket's integration deliver to it. Set after
    // the cluster exists, on its exact namespace ARN (a policy inside the cluster resource could
    // only name it by wildcard).
    const namespacePolicy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'redshift.amazonaws.com' },
          Action: 'redshift:AuthorizeInboundIntegration',
          Resource: cluster.attrClusterNamespaceArn,
          Condition: { StringEquals: { 'aws:SourceArn': props.staging.bucketArn } },
        },
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:${stack.partition}:iam::${stack.account}:root` },
          Action: 'redshift:CreateInboundIntegration',
          Resource: cluster.attrClusterNamespaceArn,
          Condition: { StringEquals: { 'aws:SourceArn': props.staging.bucketArn } },
        },
      ],
    });
    const putPolicy = {
      service: 'Redshift',
      action: 'PutResourcePolicy',
      parameters: { ResourceArn: cluster.attrClusterNamespaceArn, Policy: namespacePolicy },
      physicalResourceId: cr.PhysicalResourceId.of('namespace-policy'),
    };
    this.namespacePolicy = new cr.AwsCustomResource(this, 'NamespacePolicy', {
      installLatestAwsSdk: false,
      logGroup: props.deployLogs,
      onCreate: putPolicy,
      onUpdate: putPolicy,
      onDelete: { service: 'Redshift', action: 'DeleteResourcePolicy', parameters: { ResourceArn: cluster.attrClusterNamespaceArn } },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['redshift:DeleteResourcePolicy', 'redshift:PutResourcePolicy'],
          resources: [cluster.attrClusterNamespaceArn],
        }),
      ]),
    });
    this.integration = new redshift.CfnIntegration(this, 'StagingIntegration', {
      integrationName: 'payments-staging-autocopy',
      sourceArn: props.staging.bucketArn,
      targetArn: cluster.attrClusterNamespaceArn,
    });
    this.integration.node.addDependency(props.staging, this.namespacePolicy);

    // ---- deploy steps: SQL run through the Data API by a Lambda that waits for the result
    // (deploy/warehouse/sql-step.ts), so a failed statement fails the deployment.
    const stepRole = new iam.Role(this, 'SqlStepRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Warehouse deploy steps: run SQL through the Redshift Data API and wait for it',
    });
    stepRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Logs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [props.deployLogs.logGroupArn],
      }),
    );
    stepRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RunSql',
        actions: ['redshift-data:BatchExecuteStatement', 'redshift-data:ExecuteStatement'],
        resources: [this.clusterArn],
      }),
    );
    // The Data API authorizes DescribeStatement by the caller that submitted the statement; it has no resource type.
    stepRole.addToPolicy(new iam.PolicyStatement({ sid: 'WaitForSql', actions: ['redshift-data:DescribeStatement'], resources: ['*'] }));
    stepRole.addToPolicy(new iam.PolicyStatement({ sid: 'AdminSecret', actions: ['secretsmanager:GetSecretValue'], resources: [this.adminSecretArn] }));
    stepRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'LoaderCredentials',
        actions: ['redshift:GetClusterCredentials'],
        resources: this.loginArns(WAREHOUSE.loaderUser),
      }),
    );
    this.stepRole = stepRole;
    const stepFunction = new lambda.Function(this, 'SqlStep', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: bundledCode(SQL_STEP_ENTRY),
      role: stepRole,
      timeout: Duration.minutes(14),
      memorySize: 256,
      logGroup: props.deployLogs,
      description: 'Runs warehouse SQL through the Redshift Data API and waits for it',
    });
    this.provider = new cr.Provider(this, 'SqlSteps', { onEventHandler: stepFunction, logGroup: props.deployLogs });

    // Step 1 (admin): tables, users, grants. Runs again whenever the statements change.
    const roleArn = this.loadRole.roleArn;
    const statements = (this.statements = [...sqlStatements(readFileSync(STAGING_SQL, 'utf8')), ...sqlStatements(readFileSync(ACCESS_SQL, 'utf8'))]);
    const grants = (this.grantStatements = [
      // Only the loader may COPY with the load role (by default every user may use a cluster role).
      `REVOKE ASSUMEROLE ON ALL FROM PUBLIC FOR ALL`,
      `GRANT ASSUMEROLE ON '${roleArn}' TO ${WAREHOUSE.loaderUser} FOR COPY`,
      // Creating and dropping its auto-copy jobs is a permission of its own.
      `GRANT CREATE, DROP FOR COPY JOBS IN DATABASE ${WAREHOUSE.database} TO ${WAREHOUSE.loaderUser}`,
    ]);
    const where = { ClusterIdentifier: cluster.ref, Database: WAREHOUSE.database };
    this.ddl = new CustomResource(this, 'Ddl', {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::WarehouseSql',
      properties: { ...where, SecretArn: this.adminSecretArn, StepName: 'warehouse-ddl', Sqls: statements },
    });
    this.grants = new CustomResource(this, 'Grants', {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::WarehouseSql',
      properties: { ...where, SecretArn: this.adminSecretArn, StepName: 'warehouse-grants', Sqls: grants, Separately: 'true' },
    });
    this.grants.node.addDependency(this.ddl);

    // Step 2 (loader): one auto-copy job per table, named after its definition. A changed
    // definition creates the new job first, then CloudFormation deletes (drops) the old one.
    for (const [name, table, columns] of [
      ['events', DELIVERY.table, DELIVERY.columns],
      ['rejects', DELIVERY.rejectsTable, DELIVERY.rejectsColumns],
    ] as const) {
      const at = { table, columns, bucketName: props.staging.bucketName, prefix: tablePrefix(name), roleArn };
      const job = `payments_${name}_${hash(copyJobSql({ ...at, job: 'JOB' }))}`;
      const sql = copyJobSql({ ...at, job });
      const resource = new CustomResource(this, `CopyJob${name === 'events' ? 'Events' : 'Rejects'}`, {
        serviceToken: this.provider.serviceToken,
        resourceType: 'Custom::WarehouseSql',
        properties: { ...where, DbUser: WAREHOUSE.loaderUser, StepName: job, Sqls: [sql], DeleteSqls: [`COPY JOB DROP ${job}`] },
      });
      resource.node.addDependency(this.ddl, this.grants, this.integration);
      this.copyJobs.push({ table, job, sql, resource });
    }
  }
}
