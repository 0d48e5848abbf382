/**
 * The Dockerfile and the ECS task definition agree: port, health check, user, state directory,
 * start command, stop timeout (and the `docker run` of docs/deployment.md gives the same stop
 * timeout, since a Dockerfile cannot). The Dockerfile is read as text.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CONSOLE_CONTAINER, ConsoleService } from '../../../ecs/console-service.js';
import { PROCESSOR_CONTAINER as C, ProcessorService } from '../../../ecs/processor-service.js';
import { processorEnv, loadProcessorConfig } from '../../../processor/src/config.js';
import { envOf, execForm, healthcheck, last, readDockerfile, seconds } from './dockerfile.js';

const { runtime, build } = readDockerfile();
const env = envOf(runtime);

// The ECS side, synthesized from ecs/processor-service.ts on its own.
const stack = new Stack(new App(), 'EcsOnly');
const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PUBLIC }] });
const key = new kms.Key(stack, 'Key');
const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
const image = ecs.ContainerImage.fromRegistry('example/processor:test');
const stream = new kinesis.Stream(stack, 'Stream', { encryptionKey: key });
const processor = new ProcessorService(stack, 'Processor', {
  cluster,
  image,
  stream,
  streamKey: key,
  leaseTable: new dynamodb.Table(stack, 'Leases', { partitionKey: { name: 'leaseKey', type: dynamodb.AttributeType.STRING } }),
  cards: { bucket: new s3.Bucket(stack, 'Cards'), key: 'cards.csv' },
  stolenList: { bucket: new s3.Bucket(stack, 'Lists'), key: 'stolen-cards.csv' },
  cardTokenKey: new secretsmanager.Secret(stack, 'CardTokenKey'),
  maxTasks: 4,
  subnets: { subnetType: ec2.SubnetType.PUBLIC },
  simulator: false,
  metrics: {
    workspaceArn: 'arn:aws:aps:eu-west-1:123456789012:workspace/ws-test',
    remoteWriteUrl: 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-test/api/v1/remote_write',
  },
});
const consoleService = new ConsoleService(stack, 'Console', {
  cluster,
  image,
  input: { stream },
  output: { stream },
  processorUrls: ['http://processor.example.internal:8080'],
  processorSecurityGroup: processor.securityGroup,
  subnets: { subnetType: ec2.SubnetType.PUBLIC },
});
const taskDefs = Template.fromStack(stack).findResources('AWS::ECS::TaskDefinition');
const taskOf = (td: ecs.TaskDefinition) => taskDefs[stack.getLogicalId(td.node.defaultChild as ecs.CfnTaskDefinition)]!.Properties;
const task = taskOf(processor.taskDefinition);
const container = task.ContainerDefinitions[0];
const ecsEnv = Object.fromEntries((container.Environment as { Name: string; Value: string }[]).map((e) => [e.Name, e.Value]));

t.test('base images: one pinned Node 22 (exact patch) slim in both stages, dependencies by npm ci', async (t) => {
  t.match(runtime.from, /^node:22\.\d+\.\d+-bookworm-slim$/, 'an exact Node 22 patch version');
  t.equal(build.from, runtime.from);
  t.match(last(build, 'RUN') ?? '', /scripts\/build-dist\.sh/);
  t.ok(
    runtime.instructions.some((i) => i.op === 'RUN' && /npm ci --omit=dev --ignore-scripts/.test(i.args)),
    'production dependencies only, without install scripts (patch-package is a dev tool)',
  );
  t.notOk(
    runtime.instructions.some((i) => i.op === 'COPY' && /^(\.|common|processor|simulator|console|deploy)\b/.test(i.args)),
    'no TypeScript sources in the runtime stage',
  );
  t.notOk(
    [...build.instructions, ...runtime.instructions].some((i) => /cards\.csv|\bdata\b/.test(i.args) && i.op !== 'ENV'),
    'no card data built or copied into the image',
  );
});

t.test('port', async (t) => {
  t.equal(last(runtime, 'EXPOSE'), String(C.port));
  t.equal(env.HTTP_PORT, String(C.port));
  t.same(container.PortMappings, [{ ContainerPort: C.port, Protocol: 'tcp' }]);
  t.equal(ecsEnv.HTTP_PORT, String(C.port));
});

t.test('health check: the same command and timings on GET /health', async (t) => {
  const hc = healthcheck(last(runtime, 'HEALTHCHECK')!);
  t.same(hc.command, [...C.healthCheckCommand]);
  t.same(container.HealthCheck.Command, ['CMD', ...hc.command]);
  t.equal(seconds(hc.options.interval!), container.HealthCheck.Interval);
  t.equal(seconds(hc.options.timeout!), container.HealthCheck.Timeout);
  t.equal(seconds(hc.options['start-period']!), container.HealthCheck.StartPeriod);
  t.equal(Number(hc.options.retries), container.HealthCheck.Retries);
  const script = readFileSync(new URL('../../../scripts/healthcheck.mjs', import.meta.url), 'utf8');
  t.match(script, /\/health`/);
  t.ok(
    runtime.instructions.some((i) => i.op === 'COPY' && i.args.includes('scripts/healthcheck.mjs')),
    'the script is in the image',
  );
});

t.test('user: unprivileged, the same in both', async (t) => {
  const user = last(runtime, 'USER');
  t.equal(user, C.user);
  t.notMatch(user ?? 'root', /^(root|0)(:|$)/);
  t.equal(container.User, user);
});

t.test('state directory: a volume in the image, an ephemeral mount in ECS, owned by the user', async (t) => {
  t.same(execForm(last(runtime, 'VOLUME')!), [C.stateDir]);
  t.equal(env.STATE_DIR, C.stateDir);
  t.equal(ecsEnv.STATE_DIR, C.stateDir);
  t.same(container.MountPoints, [{ ContainerPath: C.stateDir, ReadOnly: false, SourceVolume: 'state' }]);
  t.same(task.Volumes, [{ Name: 'state' }]);
  t.same(task.EphemeralStorage, { SizeInGiB: C.ephemeralStorageGiB });
  t.ok(
    runtime.instructions.some((i) => i.op === 'RUN' && i.args.includes(`chown -R ${C.user}:${C.user} ${C.stateDir.replace(/\/state$/, '')}`)),
    'chown before VOLUME',
  );
  const order = runtime.instructions.map((i) => i.op);
  t.ok(order.lastIndexOf('RUN') < order.indexOf('VOLUME'), 'no RUN after VOLUME (its changes would be discarded)');
});

t.test('start command and stop: SIGTERM to the processor, stop timeout above its shutdown timeout', async (t) => {
  const cmd = execForm(last(runtime, 'CMD')!);
  t.same(cmd, [...C.command]);
  t.same(container.Command, cmd);
  t.equal(last(runtime, 'ENTRYPOINT'), undefined, 'no entrypoint wrapper between PID 1 and the processor');
  t.equal(last(runtime, 'STOPSIGNAL'), 'SIGTERM');
  const shutdownMs = Number(env.SHUTDOWN_TIMEOUT_MS);
  t.equal(shutdownMs, C.shutdownTimeoutMs);
  t.equal(Number(ecsEnv.SHUTDOWN_TIMEOUT_MS), shutdownMs);
  t.equal(loadProcessorConfig({}).SHUTDOWN_TIMEOUT_MS, shutdownMs, 'the processor default is the same');
  t.equal(container.StopTimeout, C.stopTimeoutSeconds);
  t.ok(C.stopTimeoutSeconds * 1000 >= shutdownMs + 10_000, 'at least 10 s of margin');
  t.ok(C.stopTimeoutSeconds <= 120, 'Fargate allows 120 s at most');
  t.equal(container.LinuxParameters.InitProcessEnabled, true, 'ECS runs an init (like docker --init)');
});

t.test('environment: every variable the image sets is one the processor reads; ECS agrees on the shared ones', async (t) => {
  const known = new Set([...Object.keys(processorEnv), 'LOG_LEVEL', 'NODE_ENV']);
  for (const name of Object.keys(env)) t.ok(known.has(name), `${name} is read by the processor`);
  for (const name of Object.keys(ecsEnv)) t.ok(known.has(name), `ECS ${name} is read by the processor`);
  for (const name of ['STATE_DIR', 'HTTP_PORT', 'SHUTDOWN_TIMEOUT_MS', 'KINESIS_ENDPOINT', 'DYNAMODB_ENDPOINT']) t.equal(ecsEnv[name], env[name], name);
  t.equal(env.KINESIS_ENDPOINT, '', 'AWS endpoints by default in the image');
  t.equal(env.DYNAMODB_ENDPOINT, '', 'no local DynamoDB default leaks into the image');
  t.equal(env.STOLEN_LIST, C.mountedStolenList, 'the image expects the stolen list mounted');
  t.equal(env.CARD_TOKEN_KEY_FILE, C.mountedCardTokenKey, 'and the card token key');
  t.notOk('CARDS_FILE' in env, 'the image names no cards file');
  t.match(JSON.stringify(stack.resolve(ecsEnv.STOLEN_LIST)), /s3:\/\//, 'ECS reads the stolen list from S3');
  t.ok(ecsEnv.CARD_TOKEN_KEY_SECRET, 'and the key from Secrets Manager');
  t.notOk('CARDS_FILE' in ecsEnv, 'the processor task names no cards file');
  t.equal(last(runtime, 'WORKDIR'), '/app');
});

t.test('the console task runs this image: a command the build compiles, the image health check script on its port, the same user', async (t) => {
  const container = taskOf(consoleService.taskDefinition).ContainerDefinitions[0];
  t.same(container.Command, [...CONSOLE_CONTAINER.command]);
  const [node, entry] = CONSOLE_CONTAINER.command;
  t.equal(node, 'node');
  // dist/<path>.js is compiled from <path>.ts by scripts/build-dist.sh, the build stage's RUN.
  const files = (JSON.parse(readFileSync(new URL('../../../scripts/tsconfig.build.json', import.meta.url), 'utf8')) as { files: string[] }).files;
  t.ok(files.includes(`../${entry!.replace(/^dist\//, '').replace(/\.js$/, '.ts')}`), `${entry} is built`);
  t.ok(
    build.instructions.some((i) => i.op === 'COPY' && i.args.startsWith('console/src/')),
    'its sources are in the build stage',
  );
  const imageCheck = healthcheck(last(runtime, 'HEALTHCHECK')!).command;
  t.same(container.HealthCheck.Command, ['CMD', ...imageCheck, String(CONSOLE_CONTAINER.port)], "the image's script, told the console port");
  const script = readFileSync(new URL('../../../scripts/healthcheck.mjs', import.meta.url), 'utf8');
  t.match(script, /process\.argv\[2\]/, 'the script takes the port as its argument');
  t.equal(container.User, last(runtime, 'USER'));
  t.equal(container.ReadonlyRootFilesystem, true);
  t.same(container.PortMappings, [{ ContainerPort: CONSOLE_CONTAINER.port, Protocol: 'tcp' }]);
  t.equal(container.LinuxParameters.InitProcessEnabled, true);
});

t.test('docs/deployment.md: docker run with the same stop timeout, port, state volume and --init', async (t) => {
  const doc = readFileSync(new URL('../../../docs/deployment.md', import.meta.url), 'utf8');
  const run = /docker run[^`]*?(?=\n```)/s.exec(doc)?.[0] ?? '';
  t.match(run, new RegExp(`--stop-timeout[ =]${C.stopTimeoutSeconds}\\b`));
  t.match(run, /--init\b/);
  t.match(run, new RegExp(`-p \\S*:?${C.port}\\b`));
  t.match(run, new RegExp(`-v \\S+:${C.stateDir.replace(/\//g, '\\/')}\\b`));
  t.match(run, /LEASE_TABLE/);
  for (const [file, path] of [
    ['stolen-cards\\.csv', C.mountedStolenList],
    ['card-token-key\\.json', C.mountedCardTokenKey],
  ] as const) {
    t.match(run, new RegExp(`-v \\S+${file}:${path.replace(/[/.]/g, '\\$&')}:ro\\b`), `${path} mounted read-only where the image expects it`);
  }
  t.notMatch(run, /\/cards\.csv:/, 'no cards file is mounted');
});

t.test('.dockerignore keeps dependencies, data and CDK output out of the build context', async (t) => {
  const ignore = readFileSync(new URL('../../../.dockerignore', import.meta.url), 'utf8').split('\n');
  for (const p of ['node_modules', 'data', 'dist', '.git', 'deploy/cdk.out']) t.ok(ignore.includes(p), p);
});
