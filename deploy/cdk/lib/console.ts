/**
 * The risk console's public entry: an internet-facing Application Load Balancer that signs every
 * request in with Amazon Cognito before it reaches the console service (ecs/console-service.ts).
 *
 *   browser ─HTTPS 443─► ALB: authenticate-cognito (hosted sign-in, MFA) ─► forward ─HTTP 8090─► console task
 *           ─HTTP 80──► ALB: redirect to HTTPS
 *
 * The console itself has no sign-in: it trusts that nothing reaches it but the load balancer, which
 * its security group enforces. Users are created by an administrator only (no self sign-up).
 *
 * The domain and its certificate are the deployer's (CDK context `consoleDomain`,
 * `consoleCertificateArn`): the stack never invents a name the certificate would not match, so a
 * missing one fails the synth (`consoleContext`). The load balancer admits anyone (the sign-in
 * guards the console) unless `consoleAllowedCidrs` lists the only sources it may admit.
 */
import { isIP } from 'node:net';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as actions from 'aws-cdk-lib/aws-elasticloadbalancingv2-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { FactName } from 'aws-cdk-lib/region-info';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CONSOLE_CONTAINER, type ConsoleService } from '../../../ecs/console-service.js';

/** CDK context keys (`cdk synth -c consoleDomain=console.example.com -c consoleCertificateArn=arn:…`). */
export const CONSOLE_CONTEXT = Object.freeze({
  domain: 'consoleDomain',
  certificateArn: 'consoleCertificateArn',
  /** Optional: the prefix of the Cognito hosted sign-in domain (default `payments-console-<account id>`). */
  authDomainPrefix: 'consoleAuthDomainPrefix',
  /** `false` leaves the console out of the stack. */
  enabled: 'console',
  /** Optional: comma-separated CIDRs (IPv4 or IPv6) that may reach the load balancer; default: anywhere. */
  allowedCidrs: 'consoleAllowedCidrs',
});

/** The load balancer's access logs go to the audit bucket under this prefix. */
export const ACCESS_LOG_PREFIX = 'console-alb';

export const CONSOLE_SIGN_IN = Object.freeze({
  /** The ALB's session cookie: a working day, then sign in again (with MFA). */
  sessionHours: 8,
  /** Cognito tokens the ALB holds for the session; the refresh token never outlives the session. */
  accessTokenMinutes: 60,
  refreshTokenHours: 8,
  passwordMinLength: 14,
  /** An administrator's temporary password must be changed within this many days. */
  temporaryPasswordDays: 3,
  /** The ALB signs in with the authorization-code flow and asks for these scopes. */
  scopes: ['openid', 'email'],
});

export interface ConsoleEndpoint {
  domain: string;
  certificateArn: string;
  authDomainPrefix?: string;
  /** Who may reach the load balancer (HTTPS and the HTTP redirect); undefined: anywhere, behind the sign-in. */
  allowedCidrs?: string[];
}

/** `address/prefix`, the address IPv4 or IPv6 (node:net's check) and the prefix within its length. */
function isCidr(text: string): boolean {
  const [address = '', prefix, ...rest] = text.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0 || prefix === undefined || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

/** The CIDRs of a `consoleAllowedCidrs` text, or the problem with it. */
export function parseAllowedCidrs(text: string): string[] | string {
  const cidrs = text
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  const bad = cidrs.filter((c) => !isCidr(c));
  if (cidrs.length === 0) return 'no CIDR given';
  if (bad.length > 0) return `not a CIDR: ${bad.map((c) => JSON.stringify(c)).join(', ')}`;
  return cidrs;
}

/**
 * The console's domain and certificate from the app's context; throws naming what is missing.
 * Returns undefined when the console is switched off (`-c console=false`).
 */
export function consoleContext(scope: Construct): ConsoleEndpoint | undefined {
  const get = (key: string): unknown => scope.node.tryGetContext(key);
  const enabled = get(CONSOLE_CONTEXT.enabled);
  if (enabled === false || enabled === 'false') return undefined;
  const domain = get(CONSOLE_CONTEXT.domain);
  const certificateArn = get(CONSOLE_CONTEXT.certificateArn);
  const problems: string[] = [];
  if (typeof domain !== 'string' || !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(domain))
    problems.push(`-c ${CONSOLE_CONTEXT.domain}=<the console's DNS name, e.g. console.example.com> (given: ${JSON.stringify(domain ?? null)})`);
  if (typeof certificateArn !== 'string' || !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/.test(certificateArn))
    problems.push(
      `-c ${CONSOLE_CONTEXT.certificateArn}=<an ACM certificate ARN for that name, in the stack's region> (given: ${JSON.stringify(certificateArn ?? null)})`,
    );
  const allowed = get(CONSOLE_CONTEXT.allowedCidrs);
  const cidrs = allowed === undefined ? undefined : parseAllowedCidrs(String(allowed));
  if (typeof cidrs === 'string') problems.push(`-c ${CONSOLE_CONTEXT.allowedCidrs}=<comma-separated CIDRs, e.g. 203.0.113.0/24> (${cidrs})`);
  if (problems.length > 0)
    throw new Error(
      `The risk console needs its domain and certificate:\n  ${problems.join('\n  ')}\n` +
        `or -c ${CONSOLE_CONTEXT.enabled}=false to leave the console out (docs/deployment.md, "The risk console").`,
    );
  const prefix = get(CONSOLE_CONTEXT.authDomainPrefix);
  return {
    domain: domain as string,
    certificateArn: certificateArn as string,
    ...(typeof prefix === 'string' ? { authDomainPrefix: prefix } : {}),
    ...(Array.isArray(cidrs) ? { allowedCidrs: cidrs } : {}),
  };
}

export interface ConsoleAccessProps extends ConsoleEndpoint {
  vpc: ec2.IVpc;
  service: ConsoleService;
  /** The audit bucket: the load balancer's access logs (who reached the console, from where). */
  accessLogs: s3.IBucket;
}

export class ConsoleAccess extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly https: elbv2.ApplicationListener;
  readonly http: elbv2.ApplicationListener;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly signInDomain: cognito.UserPoolDomain;

  constructor(scope: Construct, id: string, props: ConsoleAccessProps) {
    super(scope, id);
    const s = CONSOLE_SIGN_IN;

    // ---- who may sign in: users an administrator creates (admin-create-user), TOTP MFA for all.
    // Kept when the stack is deleted: the users and their MFA devices are not rebuildable.
    this.userPool = new cognito.UserPool(this, 'Users', {
      userPoolName: 'payments-console',
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: s.passwordMinLength,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(s.temporaryPasswordDays),
      },
      // A console that can mark any card stolen is worth a second factor for everyone; TOTP only:
      // SMS would need a sending role and is the weaker factor.
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.signInDomain = this.userPool.addDomain('SignIn', {
      cognitoDomain: { domainPrefix: props.authDomainPrefix ?? `payments-console-${Stack.of(this).account}` },
    });
    this.client = this.userPool.addClient('LoadBalancer', {
      userPoolClientName: 'console-load-balancer',
      generateSecret: true,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: s.scopes.map((x) => cognito.OAuthScope.custom(x)),
        callbackUrls: [`https://${props.domain}/oauth2/idpresponse`],
        logoutUrls: [`https://${props.domain}/`],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.minutes(s.accessTokenMinutes),
      idTokenValidity: Duration.minutes(s.accessTokenMinutes),
      refreshTokenValidity: Duration.hours(s.refreshTokenHours),
      enableTokenRevocation: true,
    });

    // ---- the load balancer: public subnets, HTTPS with a TLS 1.3/1.2 policy of forward-secret
    // AEAD ciphers only, malformed headers dropped rather than passed to the console.
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
      deletionProtection: false,
      securityGroup: new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
        vpc: props.vpc,
        description: props.allowedCidrs
          ? 'Console load balancer: HTTPS and HTTP (redirected) from the allowed CIDRs; out to the console tasks and the sign-in endpoints'
          : 'Console load balancer: HTTPS and HTTP (redirected) from the internet; out to the console tasks and the sign-in endpoints',
        allowAllOutbound: false,
      }),
    });
    // Access logs to the audit bucket. CDK's logAccessLogs needs a concrete region and this stack
    // is region-agnostic, so the attributes and the bucket grant are written here: regions opened
    // before August 2022 deliver as their regional ELB account (a mapping looked up at deploy
    // time), newer ones as the log-delivery service. A region missing from CDK's mapping fails the
    // deployment at the lookup rather than running without logs (docs/deployment.md).
    const stack = Stack.of(this);
    this.loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
    this.loadBalancer.setAttribute('access_logs.s3.bucket', props.accessLogs.bucketName);
    this.loadBalancer.setAttribute('access_logs.s3.prefix', ACCESS_LOG_PREFIX);
    props.accessLogs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ConsoleLoadBalancerAccessLogs',
        actions: ['s3:PutObject'],
        principals: [
          new iam.ArnPrincipal(`arn:${stack.partition}:iam::${stack.regionalFact(FactName.ELBV2_ACCOUNT)}:root`),
          new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com'),
        ],
        resources: [props.accessLogs.arnForObjects(`${ACCESS_LOG_PREFIX}/AWSLogs/${stack.account}/*`)],
      }),
    );
    const policy = props.accessLogs.policy;
    if (policy) this.loadBalancer.node.addDependency(policy);

    const c = CONSOLE_CONTAINER;
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Console', {
      vpc: props.vpc,
      targetType: elbv2.TargetType.IP,
      protocol: elbv2.ApplicationProtocol.HTTP,
      port: c.port,
      targets: [props.service.service.loadBalancerTarget({ containerName: c.name, containerPort: c.port })],
      healthCheck: {
        path: '/health',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // Pages hold a server-sent-events stream; a stopping task's pages reconnect to the new one.
      deregistrationDelay: Duration.seconds(30),
      stickinessCookieDuration: Duration.hours(s.sessionHours),
    });

    this.https = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      sslPolicy: elbv2.SslPolicy.TLS13_RES,
      // Open to anywhere unless an allow-list is given (the rules follow the listeners).
      open: !props.allowedCidrs,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      defaultAction: new actions.AuthenticateCognitoAction({
        userPool: this.userPool,
        userPoolClient: this.client,
        userPoolDomain: this.signInDomain,
        scope: s.scopes.join(' '),
        sessionTimeout: Duration.hours(s.sessionHours),
        onUnauthenticatedRequest: elbv2.UnauthenticatedAction.AUTHENTICATE,
        next: elbv2.ListenerAction.forward([this.targetGroup]),
      }),
    });
    this.http = this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: !props.allowedCidrs,
      defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
    });
    for (const cidr of props.allowedCidrs ?? []) {
      const peer = isIP(cidr.split('/')[0]!) === 6 ? ec2.Peer.ipv6(cidr) : ec2.Peer.ipv4(cidr);
      for (const port of [443, 80]) this.loadBalancer.connections.allowFrom(peer, ec2.Port.tcp(port), `Console from ${cidr}`);
    }
  }
}
