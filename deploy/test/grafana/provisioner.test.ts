/**
 * The Grafana provisioner (deploy/grafana) against a local HTTP server that answers the Grafana
 * API endpoints it uses as Grafana does, checks the bearer token, and records every request; the
 * AWS side (token, secret, SQL) is injected. Also: the Data API polling, the match with the local
 * provisioning, and the Lambda bundle that CloudFormation runs.
 */
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { build } from 'esbuild';
import { parse as parseYaml } from 'yaml';
import { ROOT, withTempDir } from '../../../common/test/helpers.js';
import { provision, alterUserSql, contentHash, type ProvisionerDeps, type ProvisionerEvent, type ResourceProperties } from '../../grafana/provisioner.js';
import { type WorkspaceToken } from '../../grafana/aws.js';
import { dashboards, datasourceDefinitions, type Datasource } from '../../grafana/content.js';
import { GrafanaHttpError } from '../../grafana/grafana-api.js';
import { lambdaBundleOptions } from '../../cdk/lib/bundle.js';
import { PROVISIONER_ENTRY } from '../../cdk/lib/observability.js';

const DASHBOARD_DIR = join(ROOT, 'grafana/dashboards');
const dashboardFiles = readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json'));
const readDashboard = (f: string) => JSON.parse(readFileSync(join(DASHBOARD_DIR, f), 'utf8')) as Record<string, unknown> & { uid: string };

const READER = { username: 'grafana_reader', password: 'S3cret-Pass!w0rd' };

interface Recorded {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
  status: number;
}

/** Grafana's datasource and dashboard endpoints, in memory; `fail` queues statuses for a "METHOD path". */
async function fakeGrafana(t: Test) {
  const requests: Recorded[] = [];
  const datasources = new Map<string, Record<string, unknown>>();
  const dashboardsByUid = new Map<string, Record<string, unknown>>();
  const validTokens = new Set<string>();
  const failures = new Map<string, { statuses: number[]; body?: string }>();

  const server = createServer((req, res) => {
    (async () => {
      const text = await readBody(req);
      const body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
      const method = req.method ?? '';
      const path = req.url ?? '';
      const reply = (status: number, payload: unknown, raw?: string) => {
        requests.push({ method, path, authorization: req.headers.authorization, body, status });
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(raw ?? JSON.stringify(payload));
      };
      const failure = failures.get(`${method} ${path}`);
      const forced = failure?.statuses.shift();
      if (forced !== undefined) return reply(forced, { message: `forced ${forced}` }, failure?.body);
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !validTokens.has(bearer)) return reply(401, { message: 'invalid API key' });

      const dsUid = /^\/api\/datasources\/uid\/([^/]+)$/.exec(path)?.[1];
      if (method === 'GET' && dsUid) {
        const ds = datasources.get(dsUid);
        return ds ? reply(200, { id: 1, ...ds }) : reply(404, { message: 'Data source not found' });
      }
      if (method === 'POST' && path === '/api/datasources') {
        const uid = String(body?.uid);
        if (datasources.has(uid)) return reply(409, { message: 'data source with the same uid already exists' });
        datasources.set(uid, body!);
        return reply(200, { id: datasources.size, message: 'Datasource added' });
      }
      if (method === 'PUT' && dsUid) {
        if (!datasources.has(dsUid)) return reply(404, { message: 'Data source not found' });
        datasources.set(dsUid, body!);
        return reply(200, { message: 'Datasource updated' });
      }
      if (method === 'POST' && path === '/api/dashboards/db') {
        const dashboard = body?.dashboard as { uid?: string; id?: unknown } | undefined;
        if (!dashboard?.uid) return reply(400, { message: 'dashboard uid missing' });
        // Grafana: a non-null id that it does not know is "Dashboard not found".
        if (dashboard.id !== null && dashboard.id !== undefined) return reply(404, { message: 'Dashboard not found' });
        if (dashboardsByUid.has(dashboard.uid) && body?.overwrite !== true) return reply(412, { status: 'name-exists' });
        dashboardsByUid.set(dashboard.uid, body!);
        return reply(200, { status: 'success', uid: dashboard.uid });
      }
      return reply(404, { message: 'Not found' });
    })().catch((err: unknown) => res.writeHead(500).end(`fake Grafana failed: ${String(err)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    datasources,
    dashboards: dashboardsByUid,
    validTokens,
    /** The next answers to `method path`, before any check; `body` (sent as is) instead of a message. */
    fail(method: string, path: string, statuses: number[], body?: string) {
      failures.set(`${method} ${path}`, { statuses: [...statuses], body });
    },
  };
}
type FakeGrafana = Awaited<ReturnType<typeof fakeGrafana>>;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function properties(grafana: FakeGrafana): ResourceProperties {
  return {
    WorkspaceId: 'g-abc',
    WorkspaceUrl: `${grafana.url}/`,
    Region: 'eu-west-1',
    PrometheusUrl: 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-xxx/',
    WarehouseHost: 'payments.abc.eu-west-1.redshift.amazonaws.com',
    WarehousePort: '5439',
    WarehouseDatabase: 'payments',
    ReaderSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:reader',
    AdminSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:admin',
    ClusterIdentifier: 'payments',
    ContentHash: contentHash(),
  };
}

/** Injected AWS side: tokens the fake Grafana accepts until deleted, the reader secret, recorded SQL. */
function fakeDeps(grafana: FakeGrafana, overrides: Partial<ProvisionerDeps> & { reader?: { username: string; password: string } } = {}) {
  const created: WorkspaceToken[] = [];
  const deleted: WorkspaceToken[] = [];
  const sql: string[] = [];
  const sleeps: number[] = [];
  const logs: string[] = [];
  const reader = overrides.reader ?? READER;
  const deps: ProvisionerDeps = {
    grafana: {
      async createToken() {
        const token = { id: `t${created.length + 1}`, serviceAccountId: 'sa-1', key: `glsa_key_${created.length + 1}` };
        created.push(token);
        grafana.validTokens.add(token.key);
        return token;
      },
      async deleteToken(token) {
        deleted.push(token);
        grafana.validTokens.delete(token.key);
      },
    },
    secrets: {
      async get(arn) {
        if (arn !== 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:reader') throw new Error(`unexpected secret ${arn}`);
        return JSON.stringify(reader);
      },
    },
    sql: {
      async run(statement) {
        sql.push(statement);
      },
    },
    fetch: globalThis.fetch,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    log: (line) => logs.push(line),
    ...overrides,
  };
  return { deps, created, deleted, sql, sleeps, logs };
}

/** The error a promise rejects with, or undefined. */
async function rejection(p: Promise<unknown>): Promise<Error | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
}
function thrown(f: () => unknown): Error | undefined {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

const event = (type: ProvisionerEvent['RequestType'], props: ResourceProperties, physicalId?: string): ProvisionerEvent => ({
  RequestType: type,
  ResourceProperties: props,
  ...(physicalId === undefined ? {} : { PhysicalResourceId: physicalId }),
});

const expectedDatasources = (props: ResourceProperties): Datasource[] =>
  datasourceDefinitions({
    prometheusUrl: props.PrometheusUrl,
    region: props.Region,
    warehouseUrl: `${props.WarehouseHost}:${props.WarehousePort}`,
    database: props.WarehouseDatabase,
    user: READER.username,
    password: READER.password,
  });

t.test('Create makes both data sources (POST), Update updates them (PUT), each with its own token', async (t) => {
  const grafana = await fakeGrafana(t);
  const props = properties(grafana);
  const { deps, created, deleted, logs } = fakeDeps(grafana);

  const first = await provision(event('Create', props), deps);
  t.same(first, { PhysicalResourceId: 'grafana-provisioning-g-abc' });
  const dsWrites = () => grafana.requests.filter((r) => r.path.startsWith('/api/datasources') && r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
  t.same(dsWrites(), ['POST /api/datasources', 'POST /api/datasources']);

  const second = await provision(event('Update', props, first.PhysicalResourceId), deps);
  t.same(second, first);
  t.same(dsWrites().slice(2), ['PUT /api/datasources/uid/prometheus', 'PUT /api/datasources/uid/warehouse']);

  // What Grafana holds is exactly the definitions, with the reader's name and password.
  const want = expectedDatasources(props);
  t.same(Object.fromEntries(grafana.datasources), Object.fromEntries(want.map((d) => [d.uid, d])));
  t.match(grafana.datasources.get('prometheus'), {
    url: props.PrometheusUrl,
    isDefault: true,
    jsonData: { httpMethod: 'POST', sigV4Auth: true, sigV4AuthType: 'ec2_iam_role', sigV4Region: 'eu-west-1', timeInterval: '15s' },
  });
  t.match(grafana.datasources.get('warehouse'), {
    type: 'grafana-postgresql-datasource',
    url: 'payments.abc.eu-west-1.redshift.amazonaws.com:5439',
    user: 'grafana_reader',
    jsonData: { database: 'payments', sslmode: 'require', postgresVersion: 1200, timescaledb: false },
    secureJsonData: { password: READER.password },
  });

  // Every request carried the run's token; each run's token was deleted at its end.
  t.equal(created.length, 2);
  t.same(deleted, created);
  const firstRun = grafana.requests.length / 2;
  t.ok(
    grafana.requests.slice(0, firstRun).every((r) => r.authorization === 'Bearer glsa_key_1'),
    'first run: token 1',
  );
  t.ok(
    grafana.requests.slice(firstRun).every((r) => r.authorization === 'Bearer glsa_key_2'),
    'second run: token 2',
  );
  t.ok(
    grafana.requests.every((r) => r.status === 200 || (r.method === 'GET' && r.status === 404)),
    'no unexpected answer',
  );
  t.notOk(logs.join('\n').includes(READER.password), 'password never logged');
  t.notOk(logs.join('\n').includes('glsa_key'), 'token never logged');
});

t.test('every file of grafana/dashboards is posted with overwrite and id null, on every run', async (t) => {
  const grafana = await fakeGrafana(t);
  const props = properties(grafana);
  const { deps } = fakeDeps(grafana);
  await provision(event('Create', props), deps);
  await provision(event('Update', props, 'grafana-provisioning-g-abc'), deps);

  const posts = grafana.requests.filter((r) => r.method === 'POST' && r.path === '/api/dashboards/db');
  t.equal(posts.length, 2 * dashboardFiles.length);
  t.ok(dashboardFiles.length >= 2);
  for (const file of dashboardFiles) {
    const json = readDashboard(file);
    const mine = posts.filter((p) => (p.body as { dashboard: { uid: string } }).dashboard.uid === json.uid);
    t.equal(mine.length, 2, `${file} posted on each run`);
    for (const p of mine) t.same(p.body, { dashboard: { ...json, id: null }, overwrite: true }, `${file}: the file, id null, overwrite`);
  }
});

t.test('a dashboard POST answered 500 five times fails the run, and the token is still deleted', async (t) => {
  const grafana = await fakeGrafana(t);
  const { deps, created, deleted, sleeps } = fakeDeps(grafana);
  grafana.fail('POST', '/api/dashboards/db', [500, 500, 500, 500, 500]);

  const err = await rejection(provision(event('Create', properties(grafana)), deps));
  t.type(err, GrafanaHttpError);
  t.match((err as Error).message, /POST \/api\/dashboards\/db answered 500: .*forced 500/);
  t.equal(grafana.requests.filter((r) => r.path === '/api/dashboards/db').length, 5, 'five attempts in all');
  t.equal(sleeps.length, 4, 'a wait between attempts');
  t.ok(
    sleeps.every((ms, i) => i === 0 || ms > sleeps[i - 1]!),
    `waits grow: ${sleeps.map(Math.round).join(', ')}`,
  );
  t.equal(created.length, 1);
  t.same(deleted, created, 'token deleted');
  t.equal(grafana.validTokens.size, 0);
});

t.test('503 then 200 is retried and succeeds; a network error is retried too', async (t) => {
  const grafana = await fakeGrafana(t);
  grafana.fail('GET', '/api/datasources/uid/prometheus', [503]);
  let refused = 0;
  const flaky: typeof fetch = (input, init) => (refused++ === 0 ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init));
  const { deps, deleted } = fakeDeps(grafana, { fetch: flaky });

  t.same(await provision(event('Create', properties(grafana)), deps), { PhysicalResourceId: 'grafana-provisioning-g-abc' });
  const gets = grafana.requests.filter((r) => r.method === 'GET' && r.path === '/api/datasources/uid/prometheus');
  t.same(
    gets.map((r) => r.status),
    [503, 404],
    'refused, then 503, then the answer',
  );
  t.equal(grafana.datasources.size, 2);
  t.equal(deleted.length, 1);
});

t.test('a 4xx other than the expected 404 fails at once, with method, path, status and the body cut to 500 chars', async (t) => {
  const grafana = await fakeGrafana(t);
  const long = `{"message":"${'x'.repeat(2_000)}"}`;
  grafana.fail('PUT', '/api/datasources/uid/warehouse', [400], long);
  grafana.fail('GET', '/api/datasources/uid/warehouse', [200], '{"uid":"warehouse"}');
  const { deps, created, deleted } = fakeDeps(grafana);

  const err = await rejection(provision(event('Create', properties(grafana)), deps));
  t.type(err, GrafanaHttpError);
  const e = err as GrafanaHttpError;
  t.match({ method: e.method, path: e.path, status: e.status }, { method: 'PUT', path: '/api/datasources/uid/warehouse', status: 400 });
  t.equal(e.body, long.slice(0, 500));
  t.equal(e.message, `Grafana PUT /api/datasources/uid/warehouse answered 400: ${long.slice(0, 500)}`);
  t.equal(grafana.requests.filter((r) => r.method === 'PUT').length, 1, 'not retried');
  t.same(deleted, created, 'token deleted');
});

t.test('ALTER USER sets the reader password from its secret, as the admin, before any Grafana call', async (t) => {
  const grafana = await fakeGrafana(t);
  const { deps, sql } = fakeDeps(grafana);
  await provision(event('Create', properties(grafana)), deps);
  const md5 = (text: string) => createHash('md5').update(text).digest('hex');
  t.same(sql, [`ALTER USER "grafana_reader" PASSWORD 'md5${md5('S3cret-Pass!w0rdgrafana_reader')}'`], "Redshift's MD5 form of password + user name");
  t.notMatch(sql[0], /S3cret/, 'never the password in clear: the Data API keeps statement texts for a day');
  t.equal(alterUserSql('_r2', 'abcDEF12'), `ALTER USER "_r2" PASSWORD 'md5${md5('abcDEF12_r2')}'`);

  for (const username of ['Reader', '2reader', 'r"; DROP USER admin; --', 'a'.repeat(64), '']) {
    t.throws(() => alterUserSql(username, 'abcDEF12'), /not a plain identifier/, `username ${JSON.stringify(username)}`);
  }
  t.equal(alterUserSql('a'.repeat(63), 'abcDEF12').length > 0, true, '63 characters is allowed');
  for (const password of [`abc'DEF1`, 'abc"DEF1', 'abc\\DEF1', 'abc DEF1', 'abc\nDEF1', '']) {
    const e = thrown(() => alterUserSql('reader', password));
    t.match(e?.message, /printable ASCII/, `password ${JSON.stringify(password)} refused`);
    if (password !== '') t.notOk(e?.message.includes(password), 'and not repeated in the error');
  }

  // A bad secret stops the run before SQL and before any token.
  const bad = await fakeGrafana(t);
  const f = fakeDeps(bad, { reader: { username: 'reader', password: `it's` } });
  await t.rejects(provision(event('Create', properties(bad)), f.deps), /printable ASCII/);
  t.same(f.sql, []);
  t.same(f.created, []);
  t.same(bad.requests, []);
});

t.test('a failing ALTER USER fails the run without its password in the message, and no token is made', async (t) => {
  const grafana = await fakeGrafana(t);
  const f = fakeDeps(grafana, {
    sql: {
      run: async (s) => {
        throw new Error(`Redshift statement 1 FAILED: syntax error near ${s}`);
      },
    },
  });
  const e = await rejection(provision(event('Create', properties(grafana)), f.deps));
  t.match(
    e?.message,
    /^setting the password of grafana_reader failed: Redshift statement 1 FAILED: syntax error near ALTER USER "grafana_reader" PASSWORD '\*\*\*'$/,
  );
  t.notOk(e?.message.includes(READER.password));
  t.same(f.created, []);
});

t.test('Delete does nothing and returns the physical id', async (t) => {
  const grafana = await fakeGrafana(t);
  const touched: string[] = [];
  const refuse = (what: string) => () => {
    touched.push(what);
    return Promise.reject(new Error(`${what} called on Delete`));
  };
  const deps: ProvisionerDeps = {
    grafana: { createToken: refuse('createToken'), deleteToken: refuse('deleteToken') },
    secrets: { get: refuse('secrets') },
    sql: { run: refuse('sql') },
    fetch: refuse('fetch'),
    log: () => undefined,
  };
  t.same(await provision(event('Delete', properties(grafana), 'grafana-provisioning-g-old'), deps), {
    PhysicalResourceId: 'grafana-provisioning-g-old',
  });
  t.same(touched, []);
  t.same(grafana.requests, []);
});

t.test('missing properties are all reported', async (t) => {
  const grafana = await fakeGrafana(t);
  const props: Partial<ResourceProperties> = { ...properties(grafana) };
  delete props.PrometheusUrl;
  delete props.AdminSecretArn;
  await t.rejects(
    provision(event('Create', props as ResourceProperties), fakeDeps(grafana).deps),
    /missing resource properties: PrometheusUrl, AdminSecretArn$/,
  );
});

t.test('the data sources match the local provisioning, and the dashboards use only their uids', async (t) => {
  const local = (
    parseYaml(readFileSync(join(ROOT, 'grafana/provisioning/datasources/datasources.yml'), 'utf8')) as {
      datasources: Array<Record<string, unknown>>;
    }
  ).datasources;
  const aws = datasourceDefinitions({ prometheusUrl: 'p/', region: 'r', warehouseUrl: 'h:1', database: 'd', user: 'u', password: 'pw' });
  const key = (d: Record<string, unknown>) => ({
    uid: d.uid,
    name: d.name,
    type: d.type,
    access: d.access,
    isDefault: d.isDefault ?? false,
  });
  t.same(
    aws.map((d) => key(d as unknown as Record<string, unknown>)),
    local.map(key),
  );
  for (const [i, l] of local.entries()) {
    const a = aws[i]!;
    t.same(
      Object.keys(a.jsonData)
        .filter((k) => k in (l.jsonData as object))
        .sort(),
      Object.keys(l.jsonData as object).sort(),
      `${a.uid}: every local jsonData key is set`,
    );
    t.same(Object.keys(a.secureJsonData ?? {}), Object.keys((l.secureJsonData as object | undefined) ?? {}), `${a.uid}: secureJsonData keys`);
  }
  const used = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const ds = o.datasource as { uid?: string } | undefined;
      if (ds?.uid) used.add(ds.uid);
      Object.values(o).forEach(walk);
    }
  };
  dashboardFiles.forEach((f) => walk(readDashboard(f)));
  t.same([...used].sort(), aws.map((d) => d.uid).sort());
});

t.test('contentHash is sha256 hex of the definitions and dashboards: a dashboard change changes it', async (t) => {
  const before = contentHash();
  t.match(before, /^[0-9a-f]{64}$/);
  t.equal(contentHash(), before, 'stable');
  const d = dashboards[0] as Record<string, unknown>;
  const title = d.title;
  d.title = `${String(title)} (changed)`;
  try {
    t.not(contentHash(), before);
  } finally {
    d.title = title;
  }
  t.equal(contentHash(), before);
});

t.test('the Lambda bundle builds, holds every dashboard, loads as CommonJS and answers Delete', async (t) => {
  const out = await build({ ...lambdaBundleOptions(PROVISIONER_ENTRY), write: false, logLevel: 'silent' });
  t.same(out.errors, []);
  t.equal(out.outputFiles.length, 1);
  const code = out.outputFiles[0]!.text;
  for (const file of dashboardFiles) t.ok(code.includes(JSON.stringify(readDashboard(file).uid)), `${file} inside the bundle`);
  t.ok(code.includes('CreateWorkspaceServiceAccountToken'), 'the AWS SDK inside the bundle');

  // Loaded by a plain node process, as Lambda loads it: no tsx, no require hook of the test runner.
  const dir = await withTempDir(t, 'sca-grafana-bundle-');
  const file = join(dir, 'index.js');
  writeFileSync(file, code);
  const load = `const m = await import(process.argv[1]);
    const handler = m.handler ?? m.default?.handler;
    console.log = () => undefined;
    const out = await handler({ RequestType: 'Delete', PhysicalResourceId: 'grafana-provisioning-g-abc', ResourceProperties: {} });
    process.stdout.write(JSON.stringify({ type: typeof handler, out }));`;
  const { NODE_OPTIONS: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', load, file], { cwd: dir, env, encoding: 'utf8' });
  t.equal(run.status, 0, `node loads the bundle: ${run.stderr}`);
  t.same(JSON.parse(run.stdout || '{}'), { type: 'function', out: { PhysicalResourceId: 'grafana-provisioning-g-abc' } });
});
