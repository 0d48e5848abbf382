/**
 * The risk console in the AWS stack (ecs/console-service.ts, deploy/cdk/lib/console.ts), synthesized
 * offline once: nothing reaches the console but the load balancer, and nothing passes the load
 * balancer unsigned-in; the console's role may read the stream, publish reports and log in to the
 * warehouse as its read-only user, nothing else.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { ArnFormat, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { buildApp } from '../../cdk/lib/build-app.js';
import { ACCESS_LOG_PREFIX, CONSOLE_CONTEXT, CONSOLE_SIGN_IN } from '../../cdk/lib/console.js';
import { PROCESSOR_DNS, WAREHOUSE } from '../../cdk/lib/payments-stack.js';
import { CONSOLE_CONTAINER, CONSOLE_FAN_OUT } from '../../../ecs/console-service.js';
import { PROCESSOR_CONTAINER } from '../../../ecs/processor-service.js';

const DOMAIN = 'console.example.com';
const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000';
const outdir = t.testdir();
const { app, stack } = buildApp({ outdir, context: { [CONSOLE_CONTEXT.domain]: DOMAIN, [CONSOLE_CONTEXT.certificateArn]: CERTIFICATE } });
app.synth();
const template = Template.fromStack(stack);
const json = template.toJSON();
const resources = json.Resources as Record<string, { Type: string; Properties: Record<string, any>; DependsOn?: string[] }>;
const r = (v: unknown) => stack.resolve(v);
const idOf = (c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
const ofType = (type: string) => Object.entries(resources).filter(([, v]) => v.Type === type);
const only = (type: string) => {
  const found = ofType(type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]![1].Properties;
};
const { service: consoleService, access } = stack.console!;
const getAtt = (id: string) => ({ 'Fn::GetAtt': [id, 'GroupId'] });
const lbSg = idOf(access.loadBalancer.connections.securityGroups[0]!);
const consoleSg = idOf(consoleService.securityGroup);
const processorSg = idOf(stack.processor.securityGroup);
const warehouseSg = idOf(stack.warehouse.securityGroup);
const redshiftArn = (resource: string, name: string) =>
  r(stack.formatArn({ service: 'redshift', resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME }));

t.test('the domain and certificate are required: a clear error without them, no console with console=false', async (t) => {
  t.throws(() => buildApp({ outdir: t.testdir() }), /consoleDomain=.*\n.*consoleCertificateArn=.*\n.*console=false/s, 'both keys named, and the way out');
  t.throws(
    () => buildApp({ outdir: t.testdir(), context: { [CONSOLE_CONTEXT.domain]: DOMAIN, [CONSOLE_CONTEXT.certificateArn]: 'not-an-arn' } }),
    /consoleCertificateArn=.*given: "not-an-arn"/,
  );
  t.throws(
    () => buildApp({ outdir: t.testdir(), context: { [CONSOLE_CONTEXT.domain]: 'https://x', [CONSOLE_CONTEXT.certificateArn]: CERTIFICATE } }),
    /consoleDomain=/,
  );
  const without = buildApp({ outdir: t.testdir(), context: { [CONSOLE_CONTEXT.enabled]: 'false' } });
  t.equal(without.stack.console, undefined);
  const types = Object.values(Template.fromStack(without.stack).toJSON().Resources as Record<string, { Type: string }>).map((x) => x.Type);
  for (const type of ['AWS::ElasticLoadBalancingV2::LoadBalancer', 'AWS::Cognito::UserPool', 'AWS::ServiceDiscovery::Service'])
    t.notOk(types.includes(type), `no ${type}`);
  t.equal(types.filter((x) => x === 'AWS::ECS::Service').length, 1, 'the processor service only');
});

t.test('an allow-list: the load balancer admits only the given CIDRs, and a bad one fails the synth naming the key', async (t) => {
  const allowed = buildApp({
    outdir: t.testdir(),
    context: {
      [CONSOLE_CONTEXT.domain]: DOMAIN,
      [CONSOLE_CONTEXT.certificateArn]: CERTIFICATE,
      [CONSOLE_CONTEXT.allowedCidrs]: '203.0.113.0/24, 2001:db8::/32',
    },
  });
  const res = Template.fromStack(allowed.stack).toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const sg = allowed.stack.getLogicalId(allowed.stack.console!.access.loadBalancer.connections.securityGroups[0]!.node.defaultChild as CfnElement);
  const rules = [
    ...((res[sg]!.Properties.SecurityGroupIngress ?? []) as Record<string, unknown>[]),
    ...Object.values(res)
      .filter((v) => v.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(v.Properties.GroupId) === JSON.stringify(getAtt(sg)))
      .map((v) => v.Properties),
  ]
    .map((x) => `${x.CidrIp ?? x.CidrIpv6 ?? JSON.stringify(x.SourceSecurityGroupId)} ${x.FromPort}`)
    .sort();
  t.same(
    rules,
    ['2001:db8::/32 443', '2001:db8::/32 80', '203.0.113.0/24 443', '203.0.113.0/24 80'],
    'HTTPS and the redirect from those only, not from anywhere',
  );
  for (const bad of ['', '10.0.0.0', '10.0.0.0/33', 'example.com/24', '0.0.0.0/0,nope', ':/0', '2001:db8::/129'])
    t.throws(
      () =>
        buildApp({
          outdir: t.testdir(),
          context: { [CONSOLE_CONTEXT.domain]: DOMAIN, [CONSOLE_CONTEXT.certificateArn]: CERTIFICATE, [CONSOLE_CONTEXT.allowedCidrs]: bad },
        }),
      /consoleAllowedCidrs=/,
      `refused: ${JSON.stringify(bad)}`,
    );
});

t.test('cdk-nag: the console adds exactly three acknowledged findings, each for a reason', async (t) => {
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: { pluginName: string }) => p.pluginName === 'AwsSolutions');
  t.equal(nag.conclusion, 'success');
  const suppressed = nag.suppressedViolations as { ruleName: string; reason: string; violatingConstructs: { constructPath: string }[] }[];
  for (const v of suppressed.filter((x) => JSON.stringify(x.violatingConstructs).includes('/Console')))
    t.ok(v.reason.length >= 40, `${v.ruleName}: ${v.reason}`);
  const ours = suppressed
    .flatMap((v) => v.violatingConstructs.map((x) => `${v.ruleName} ${x.constructPath}`))
    .filter((x) => /\/Console/.test(x))
    .sort();
  const path = (c: IConstruct) => c.node.defaultChild!.node.path;
  t.same(
    ours,
    [
      `AwsSolutions-EC23 ${path(access.loadBalancer.connections.securityGroups[0]!)}`,
      `AwsSolutions-ECS2 ${path(consoleService.taskDefinition)}`,
      `AwsSolutions-IAM5[Resource::*] ${path(consoleService.taskDefinition.obtainExecutionRole().node.findChild('DefaultPolicy'))}`,
    ].sort(),
  );
});

t.test('HTTPS: sign in with Cognito first, then forward to the console; HTTP only redirects', async (t) => {
  const listeners = ofType('AWS::ElasticLoadBalancingV2::Listener').map(([, v]) => v.Properties);
  t.equal(listeners.length, 2);
  t.equal(ofType('AWS::ElasticLoadBalancingV2::ListenerRule').length, 0, 'no rule that could route around the sign-in');
  const https = listeners.find((l) => l.Port === 443)!;
  t.equal(https.Protocol, 'HTTPS');
  t.same(https.Certificates, [{ CertificateArn: CERTIFICATE }], 'the certificate from the context');
  t.equal(https.SslPolicy, 'ELBSecurityPolicy-TLS13-1-2-Res-2021-06', 'TLS 1.3 and 1.2 with forward-secret AEAD ciphers only');
  t.same(https.DefaultActions, [
    {
      Type: 'authenticate-cognito',
      Order: 1,
      AuthenticateCognitoConfig: {
        UserPoolArn: r(access.userPool.userPoolArn),
        UserPoolClientId: r(access.client.userPoolClientId),
        UserPoolDomain: r(access.signInDomain.domainName),
        OnUnauthenticatedRequest: 'authenticate',
        Scope: 'openid email',
        SessionTimeout: String(CONSOLE_SIGN_IN.sessionHours * 3600),
      },
    },
    { Type: 'forward', Order: 2, TargetGroupArn: r(access.targetGroup.targetGroupArn) },
  ]);
  t.ok(CONSOLE_SIGN_IN.sessionHours <= 12, 'a session lasts a working day, not the 7-day default');
  const http = listeners.find((l) => l.Port === 80)!;
  t.equal(http.Protocol, 'HTTP');
  t.same(http.DefaultActions, [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }], 'HTTP only redirects');
});

t.test('the load balancer: internet-facing in the public subnets, invalid headers dropped, access logs to the audit bucket', async (t) => {
  const lb = only('AWS::ElasticLoadBalancingV2::LoadBalancer');
  t.equal(lb.Scheme, 'internet-facing');
  t.equal(lb.Type, 'application');
  t.same(lb.Subnets, r(stack.vpc.publicSubnets.map((s) => s.subnetId)));
  const attrs = Object.fromEntries((lb.LoadBalancerAttributes as { Key: string; Value: unknown }[]).map((a) => [a.Key, a.Value]));
  t.equal(attrs['routing.http.drop_invalid_header_fields.enabled'], 'true');
  t.equal(attrs['access_logs.s3.enabled'], 'true');
  t.same(attrs['access_logs.s3.bucket'], r(stack.accessLogs.bucketName));
  t.equal(attrs['access_logs.s3.prefix'], ACCESS_LOG_PREFIX);
  const policy = Object.values(resources).find(
    (x) => x.Type === 'AWS::S3::BucketPolicy' && JSON.stringify(x.Properties.Bucket) === JSON.stringify(r(stack.accessLogs.bucketName)),
  )!;
  const grant = (policy.Properties.PolicyDocument.Statement as any[]).find((s) => s.Sid === 'ConsoleLoadBalancerAccessLogs');
  t.same(grant.Action, 's3:PutObject', 'put only');
  t.same(grant.Resource, r(stack.accessLogs.arnForObjects(`${ACCESS_LOG_PREFIX}/AWSLogs/${stack.account}/*`)), "under its prefix, this account's logs only");
  t.equal(grant.Principal.Service, 'logdelivery.elasticloadbalancing.amazonaws.com');
  t.match(JSON.stringify(grant.Principal.AWS), /Elbv2AccountMap/, "older regions: the region's ELB account");
});

t.test('the user pool: administrators create the users, strong passwords, TOTP MFA for everyone, kept on stack deletion', async (t) => {
  const [poolId, pool] = ofType('AWS::Cognito::UserPool')[0]!;
  t.equal(ofType('AWS::Cognito::UserPool').length, 1);
  const p = pool.Properties;
  t.same(p.AdminCreateUserConfig, { AllowAdminCreateUserOnly: true }, 'no self sign-up');
  t.equal(p.MfaConfiguration, 'ON', 'MFA required');
  t.same(p.EnabledMfas, ['SOFTWARE_TOKEN_MFA'], 'TOTP, no SMS');
  t.same(p.Policies.PasswordPolicy, {
    MinimumLength: CONSOLE_SIGN_IN.passwordMinLength,
    RequireLowercase: true,
    RequireUppercase: true,
    RequireNumbers: true,
    RequireSymbols: true,
    TemporaryPasswordValidityDays: CONSOLE_SIGN_IN.temporaryPasswordDays,
  });
  t.ok(CONSOLE_SIGN_IN.passwordMinLength >= 12);
  t.same(p.UserPoolAddOns, { AdvancedSecurityMode: 'ENFORCED' }, 'threat protection blocks risky sign-ins');
  t.equal(p.DeletionProtection, 'ACTIVE');
  t.equal((resources[poolId] as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
  const domain = only('AWS::Cognito::UserPoolDomain');
  t.same(domain.UserPoolId, { Ref: poolId });
  t.same(domain.Domain, { 'Fn::Join': ['', ['payments-console-', { Ref: 'AWS::AccountId' }]] }, 'a hosted sign-in domain unique to the account');
});

t.test('the user pool client: the load balancer, authorization-code flow, a secret, its one callback', async (t) => {
  const c = only('AWS::Cognito::UserPoolClient');
  t.equal(c.GenerateSecret, true, 'the load balancer holds a client secret');
  t.same(c.AllowedOAuthFlows, ['code'], 'authorization code only: no implicit flow, no client credentials');
  t.equal(c.AllowedOAuthFlowsUserPoolClient, true);
  t.same(c.AllowedOAuthScopes, CONSOLE_SIGN_IN.scopes);
  t.same(c.CallbackURLs, [`https://${DOMAIN}/oauth2/idpresponse`], "the load balancer's own callback, on the console's domain");
  t.same(c.SupportedIdentityProviders, ['COGNITO']);
  t.equal(c.PreventUserExistenceErrors, 'ENABLED');
  t.ok(c.RefreshTokenValidity <= CONSOLE_SIGN_IN.sessionHours * 60, 'a refresh token does not outlive the session');
});

t.test('the target group: the console port, health check on /health', async (t) => {
  const tg = only('AWS::ElasticLoadBalancingV2::TargetGroup');
  t.equal(tg.Port, CONSOLE_CONTAINER.port);
  t.equal(tg.Protocol, 'HTTP');
  t.equal(tg.TargetType, 'ip');
  t.equal(tg.HealthCheckPath, '/health');
  t.same(tg.Matcher, { HttpCode: '200' });
  const attrs = Object.fromEntries((tg.TargetGroupAttributes as { Key: string; Value: string }[]).map((a) => [a.Key, a.Value]));
  t.equal(attrs['stickiness.enabled'], 'true', 'a page stays on the task whose CSRF token it holds');
  const svc = resources[idOf(consoleService.service)]!;
  t.same(svc.Properties.LoadBalancers, [
    { ContainerName: CONSOLE_CONTAINER.name, ContainerPort: CONSOLE_CONTAINER.port, TargetGroupArn: r(access.targetGroup.targetGroupArn) },
  ]);
});

/** Every rule admitting traffic to a security group: its inline rules and the standalone ones. */
function ingressTo(sgId: string) {
  const inline = (resources[sgId]!.Properties.SecurityGroupIngress ?? []) as Record<string, unknown>[];
  const standalone = ofType('AWS::EC2::SecurityGroupIngress')
    .map(([, v]) => v.Properties)
    .filter((p) => JSON.stringify(p.GroupId) === JSON.stringify(getAtt(sgId)));
  return [...inline, ...standalone].map(({ FromPort, ToPort, IpProtocol, CidrIp, SourceSecurityGroupId }) => ({
    FromPort,
    ToPort,
    IpProtocol,
    ...(CidrIp ? { CidrIp } : {}),
    ...(SourceSecurityGroupId ? { SourceSecurityGroupId } : {}),
  }));
}
function egressFrom(sgId: string) {
  const inline = (resources[sgId]!.Properties.SecurityGroupEgress ?? []) as Record<string, unknown>[];
  const standalone = ofType('AWS::EC2::SecurityGroupEgress')
    .map(([, v]) => v.Properties)
    .filter((p) => JSON.stringify(p.GroupId) === JSON.stringify(getAtt(sgId)));
  return [...inline, ...standalone].map(({ FromPort, ToPort, CidrIp, DestinationSecurityGroupId }) => ({
    FromPort,
    ToPort,
    ...(CidrIp ? { CidrIp } : {}),
    ...(DestinationSecurityGroupId ? { DestinationSecurityGroupId } : {}),
  }));
}

t.test('network: the console only from the load balancer, the processors status port only from the console, the warehouse from the console too', async (t) => {
  const tcp = (port: number, from: object) => ({ FromPort: port, ToPort: port, IpProtocol: 'tcp', ...from });
  t.same(
    ingressTo(consoleSg),
    [tcp(CONSOLE_CONTAINER.port, { SourceSecurityGroupId: getAtt(lbSg) })],
    'console tasks: 8090 from the load balancer, nothing else',
  );
  t.same(
    ingressTo(processorSg),
    [tcp(PROCESSOR_CONTAINER.port, { SourceSecurityGroupId: getAtt(consoleSg) })],
    'processor tasks: 8080 from the console, nothing else',
  );
  t.same(
    ingressTo(lbSg).sort((a, b) => Number(a.FromPort) - Number(b.FromPort)),
    [tcp(80, { CidrIp: '0.0.0.0/0' }), tcp(443, { CidrIp: '0.0.0.0/0' })],
    'the load balancer: HTTP (redirected) and HTTPS from anywhere',
  );
  t.same(
    egressFrom(lbSg).sort((a, b) => Number(a.FromPort) - Number(b.FromPort)),
    [
      { FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' },
      { FromPort: CONSOLE_CONTAINER.port, ToPort: CONSOLE_CONTAINER.port, DestinationSecurityGroupId: getAtt(consoleSg) },
    ],
    'the load balancer reaches the console tasks and the Cognito token endpoint, nothing else',
  );
  t.same(
    egressFrom(consoleSg).sort((a, b) => Number(a.FromPort) - Number(b.FromPort)),
    [
      { FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' },
      { FromPort: WAREHOUSE.port, ToPort: WAREHOUSE.port, DestinationSecurityGroupId: getAtt(warehouseSg) },
      { FromPort: PROCESSOR_CONTAINER.port, ToPort: PROCESSOR_CONTAINER.port, DestinationSecurityGroupId: getAtt(processorSg) },
    ],
    'the console reaches the AWS APIs, the warehouse and the processors status port',
  );
  t.ok(
    ingressTo(warehouseSg).some((x) => JSON.stringify(x) === JSON.stringify(tcp(WAREHOUSE.port, { SourceSecurityGroupId: getAtt(consoleSg) }))),
    'the warehouse admits the console on its port',
  );
  const svc = resources[idOf(consoleService.service)]!.Properties;
  t.same(svc.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups, [getAtt(consoleSg)]);
  t.equal(svc.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  t.same(svc.NetworkConfiguration.AwsvpcConfiguration.Subnets, r(stack.vpc.privateSubnets.map((s) => s.subnetId)), 'private subnets');
});

t.test('Cloud Map: the processor tasks under one private name, one A record each, which the console is given', async (t) => {
  const ns = only('AWS::ServiceDiscovery::PrivateDnsNamespace');
  t.equal(ns.Name, PROCESSOR_DNS.namespace);
  t.same(ns.Vpc, r(stack.vpc.vpcId));
  const [cmId, cm] = ofType('AWS::ServiceDiscovery::Service')[0]!;
  t.equal(cm.Properties.Name, PROCESSOR_DNS.service);
  t.equal(cm.Properties.DnsConfig.RoutingPolicy, 'MULTIVALUE', 'every task answers, not one');
  t.same(
    cm.Properties.DnsConfig.DnsRecords.map((x: { Type: string }) => x.Type),
    ['A'],
  );
  const processor = resources[idOf(stack.processor.service)]!.Properties;
  t.same(processor.ServiceRegistries, [{ RegistryArn: { 'Fn::GetAtt': [cmId, 'Arn'] } }]);
});

t.test("the console task: the processor's image, the console command and environment, health check, logs", async (t) => {
  const td = resources[idOf(consoleService.taskDefinition)]!.Properties;
  t.equal(td.ContainerDefinitions.length, 1);
  const [c] = td.ContainerDefinitions;
  const processorTd = resources[idOf(stack.processor.taskDefinition)]!.Properties;
  t.same(c.Image, processorTd.ContainerDefinitions[0].Image, 'the same image as the processor');
  t.same(c.Command, ['node', 'dist/console/src/main.js']);
  const env = Object.fromEntries((c.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
  t.same(env, {
    AWS_REGION: { Ref: 'AWS::Region' },
    KINESIS_ENDPOINT: '',
    KINESIS_STREAM: r(stack.stream.streamName),
    OUTPUT_STREAM: r(stack.stream.streamName),
    KINESIS_READ: 'fanout',
    CONSOLE_CONSUMER_NAME: CONSOLE_FAN_OUT.consumerName,
    CONSOLE_PORT: String(CONSOLE_CONTAINER.port),
    CONSOLE_HOST: '0.0.0.0',
    PROCESSOR_URLS: `http://${PROCESSOR_DNS.service}.${PROCESSOR_DNS.namespace}:${PROCESSOR_CONTAINER.port}`,
    // Reports record the user this load balancer signs in (console/src/identity.ts checks the signer).
    CONSOLE_ALB_ARN: { Ref: idOf(stack.console!.access.loadBalancer) },
    // A card's history: Redshift, logged in as the read-only user with a temporary IAM password.
    WAREHOUSE_REDSHIFT_CLUSTER: r(stack.warehouse.cluster.ref),
    WAREHOUSE_HOST: r(stack.warehouse.cluster.attrEndpointAddress),
    WAREHOUSE_PORT: String(WAREHOUSE.port),
    WAREHOUSE_DATABASE: WAREHOUSE.database,
    WAREHOUSE_USER: WAREHOUSE.consoleUser,
    LOG_LEVEL: 'info',
  });
  t.same(c.PortMappings, [{ ContainerPort: CONSOLE_CONTAINER.port, Protocol: 'tcp' }]);
  t.same(c.HealthCheck.Command, ['CMD', 'node', 'scripts/healthcheck.mjs', String(CONSOLE_CONTAINER.port)]);
  t.equal(c.User, PROCESSOR_CONTAINER.user);
  t.equal(c.ReadonlyRootFilesystem, true);
  t.equal(c.LogConfiguration.LogDriver, 'awslogs');
  t.same(c.LogConfiguration.Options['awslogs-group'], r(consoleService.logGroup.logGroupName));
  t.equal(resources[idOf(consoleService.logGroup)]!.Properties.RetentionInDays, 365);
  const svc = resources[idOf(consoleService.service)]!.Properties;
  t.equal(svc.DesiredCount, 1, 'one task: its view and CSRF token are per process');
  t.same(svc.DeploymentConfiguration.DeploymentCircuitBreaker, { Enable: true, Rollback: true });
  t.equal(svc.LaunchType, 'FARGATE');
  for (const name of ['ConsoleUrl', 'ConsoleLoadBalancerDns', 'ConsoleUserPoolId']) t.ok(json.Outputs[name], `output ${name}`);
  t.equal(json.Outputs.ConsoleUrl.Value, `https://${DOMAIN}/`);
});

t.test('enhanced fan-out: the console reads through its own stream consumer, registered before its tasks start', async (t) => {
  const id = stack.getLogicalId(consoleService.streamConsumer);
  t.same(resources[id]!.Properties, { ConsumerName: CONSOLE_FAN_OUT.consumerName, StreamARN: r(stack.stream.streamArn) }, 'on the output stream');
  t.not(CONSOLE_FAN_OUT.consumerName, resources[stack.getLogicalId(stack.processor.streamConsumer)]!.Properties.ConsumerName, "not the processor's");
  t.ok(resources[idOf(consoleService.service)]!.DependsOn?.includes(id), 'the service after the consumer: the console finds it, never registers it');
});

interface Statement {
  actions: string[];
  resources: unknown[];
}
function statementsOf(roleName: unknown): Statement[] {
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as unknown[]).some((x) => JSON.stringify(x) === JSON.stringify(r(roleName))))
    .flatMap(([, p]) =>
      (p.Properties.PolicyDocument.Statement as { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[]).map((s) => {
        if (s.Effect !== 'Allow' || s.Condition) throw new Error(`unexpected statement ${JSON.stringify(s)}`);
        return { actions: [s.Action].flat().sort(), resources: [s.Resource].flat() };
      }),
    );
}

t.test('least privilege: the console role reads the output stream and publishes to the input stream, nothing else', async (t) => {
  const role = consoleService.taskDefinition.taskRole as unknown as { roleName: string };
  const statements = statementsOf(role.roleName);
  const norm = (ss: Statement[]) => ss.map((s) => JSON.stringify(s)).sort();
  t.same(
    norm(statements),
    norm([
      // console/src/main.ts and feed.ts: the stream, its shards, the console's consumer (by name and
      // by ARN), SubscribeToShard; GetShardIterator/GetRecords for KINESIS_READ=polling, the fallback.
      {
        actions: ['kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'],
        resources: [r(stack.stream.streamArn)],
      },
      { actions: ['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard'], resources: [r(consoleService.streamConsumer.attrConsumerArn)] },
      { actions: ['kinesis:DescribeStreamConsumer'], resources: [r(`${stack.stream.streamArn}/consumer/${CONSOLE_FAN_OUT.consumerName}`)] },
      // common/src/producer.ts: the reports.
      { actions: ['kinesis:PutRecords'], resources: [r(stack.stream.streamArn)] },
      { actions: ['kms:Decrypt'], resources: [r(stack.streamKey.keyArn)] },
      { actions: ['kms:GenerateDataKey'], resources: [r(stack.streamKey.keyArn)] },
      // console/src/redshift-credentials.ts: a temporary password of the read-only user, in the one database.
      {
        actions: ['redshift:GetClusterCredentials'],
        resources: [
          redshiftArn('dbuser', `${stack.warehouse.cluster.ref}/${WAREHOUSE.consoleUser}`),
          redshiftArn('dbname', `${stack.warehouse.cluster.ref}/${WAREHOUSE.database}`),
        ],
      },
    ]),
    'exactly these actions on exactly these resources',
  );
  const text = JSON.stringify(statements);
  t.notMatch(text, /"\*"|:\*"/, 'no wildcard action or resource');
  for (const [what, ref] of [
    ['the lease table', stack.leaseTable.tableArn],
    ['the snapshots bucket', stack.snapshots.bucketArn],
    ['the cards bucket', stack.cards.bucketArn],
    ['the staging bucket', stack.staging.bucketArn],
    ['the card token key secret', stack.cardTokenKey.secretArn],
    ['the warehouse cluster (only its read-only user)', stack.warehouse.clusterArn],
    ["the warehouse admin's secret", stack.warehouse.adminSecretArn],
    ["the warehouse admin's login", redshiftArn('dbuser', `${stack.warehouse.cluster.ref}/${WAREHOUSE.adminUser}`)],
  ] as const)
    t.notOk(text.includes(JSON.stringify(r(ref))), `no access to ${what}`);
  t.same(
    statements.flatMap((s) => s.actions).filter((a) => !/^(kinesis|kms):/.test(a)),
    ['redshift:GetClusterCredentials'],
    'no other service: nothing of Redshift but the login',
  );
  // The execution role: the image pull and its own logs.
  for (const s of statementsOf((consoleService.taskDefinition.obtainExecutionRole() as unknown as { roleName: string }).roleName))
    for (const a of s.actions)
      t.match(a, /^(ecr:(GetAuthorizationToken|BatchCheckLayerAvailability|GetDownloadUrlForLayer|BatchGetImage)|logs:(CreateLogStream|PutLogEvents))$/);
  const trust = resources[(r((role as unknown as { roleArn: string }).roleArn) as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!]!;
  t.same(trust.Properties.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'ecs-tasks.amazonaws.com' });
});
