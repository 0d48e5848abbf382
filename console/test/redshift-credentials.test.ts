/**
 * The console's Redshift login in AWS: a temporary password from GetClusterCredentials for the
 * read-only user, fetched once, shared by concurrent connections, renewed before it expires, never
 * cached after a failure; the pool connects as `IAM:<user>` over TLS; the settings are checked at
 * start. Against a fake Redshift API (no Redshift here); the query path is history.test.ts's.
 */
import t from 'tap';
import type { GetClusterCredentialsCommand } from '@aws-sdk/client-redshift';
import { ConfigError } from '../../common/src/errors.js';
import { connection, warehouseTarget, type RedshiftTarget, type WarehouseEnv } from '../src/history.js';
import { RedshiftCredentials, type CredentialsApi } from '../src/redshift-credentials.js';

const LOGIN = { clusterId: 'payments-warehouse', database: 'payments', user: 'risk_console' };
const MINUTE = 60_000;

/** A fake GetClusterCredentials: password N valid for an hour from `now()`, or `fail` thrown. */
function fakeApi(now: () => number) {
  const calls: Array<GetClusterCredentialsCommand['input']> = [];
  let fail: Error | undefined;
  let user: string | undefined;
  const api: CredentialsApi = {
    async send(command) {
      calls.push(command.input);
      await new Promise((r) => setImmediate(r));
      if (fail) throw fail;
      return { DbUser: user ?? `IAM:${command.input.DbUser}`, DbPassword: `password-${calls.length}`, Expiration: new Date(now() + 60 * MINUTE) };
    },
  };
  return { api, calls, failWith: (e: Error | undefined) => (fail = e), logInAs: (u: string) => (user = u) };
}

t.test('one password, fetched once for the user, shared, renewed 5 min before it expires', async (t) => {
  let now = Date.parse('2026-12-06T10:00:00Z');
  const fake = fakeApi(() => now);
  const credentials = new RedshiftCredentials(LOGIN, { api: fake.api, now: () => now });
  t.equal(credentials.user, 'IAM:risk_console', 'the pool logs in as the IAM form of the user');

  const [a, b] = await Promise.all([credentials.password(), credentials.password()]);
  t.equal(a, 'password-1');
  t.equal(b, 'password-1', 'two connections opened at once share one request');
  t.same(fake.calls, [{ ClusterIdentifier: 'payments-warehouse', DbName: 'payments', DbUser: 'risk_console', DurationSeconds: 3600, AutoCreate: false }]);

  now += 54 * MINUTE;
  t.equal(await credentials.password(), 'password-1', 'kept while it has more than 5 min left');
  t.equal(fake.calls.length, 1);
  now += 2 * MINUTE;
  t.equal(await credentials.password(), 'password-2', 'renewed with 4 min left');
  t.equal(fake.calls.length, 2);
});

t.test('a failed request is the caller’s error, and the next connection asks again', async (t) => {
  const now = Date.parse('2026-12-06T10:00:00Z');
  const fake = fakeApi(() => now);
  const credentials = new RedshiftCredentials(LOGIN, { api: fake.api, now: () => now });
  fake.failWith(Object.assign(new Error('User: arn:aws:sts::1:assumed-role/console is not authorized'), { name: 'AccessDenied' }));
  await t.rejects(credentials.password(), /not authorized/);
  fake.failWith(undefined);
  t.equal(await credentials.password(), 'password-2', 'not cached: asked again');

  const wrongUser = fakeApi(() => now);
  wrongUser.logInAs('IAMA:risk_console');
  const auto = new RedshiftCredentials(LOGIN, { api: wrongUser.api, now: () => now });
  await t.rejects(auto.password(), /logs in as IAMA:risk_console, not IAM:risk_console/, 'a login as another user is refused');
  await t.rejects(auto.password(), /logs in as IAMA/);
  t.equal(wrongUser.calls.length, 2, 'and not kept: the next connection asks again');
});

t.test('the pool connects as the IAM user, with a fresh password per connection, over verified TLS', async (t) => {
  const now = Date.now();
  const fake = fakeApi(() => now);
  const credentials = new RedshiftCredentials(LOGIN, { api: fake.api, now: () => now });
  const settings = connection({ host: 'warehouse.abc.eu-west-1.redshift.amazonaws.com', port: 5439, database: 'payments', credentials });
  t.match(settings, {
    host: 'warehouse.abc.eu-west-1.redshift.amazonaws.com',
    port: 5439,
    database: 'payments',
    user: 'IAM:risk_console',
    ssl: { rejectUnauthorized: true },
  });
  t.notOk('connectionString' in settings);
  t.type(settings.password, 'function', 'pg asks for the password at each new connection');
  t.equal(await (settings.password as () => Promise<string>)(), 'password-1');

  t.same(connection('postgres://127.0.0.1:5432/payments'), { connectionString: 'postgres://127.0.0.1:5432/payments' }, 'locally: the URL as given');
});

t.test('the warehouse settings are checked at start', async (t) => {
  const base: WarehouseEnv = { WAREHOUSE_PORT: 5439, WAREHOUSE_DATABASE: 'payments', WAREHOUSE_USER: 'risk_console' };
  t.equal(warehouseTarget(base), undefined, 'none configured: no history');
  t.equal(warehouseTarget({ ...base, WAREHOUSE_URL: 'postgres://x/y' }), 'postgres://x/y');
  const fake = fakeApi(() => Date.now());
  const target = warehouseTarget({ ...base, WAREHOUSE_REDSHIFT_CLUSTER: 'payments-warehouse', WAREHOUSE_HOST: 'h.example' }, fake.api) as RedshiftTarget;
  t.match(target, { host: 'h.example', port: 5439, database: 'payments' });
  t.equal(await target.credentials.password(), 'password-1');
  t.same(fake.calls[0], { ClusterIdentifier: 'payments-warehouse', DbName: 'payments', DbUser: 'risk_console', DurationSeconds: 3600, AutoCreate: false });
  t.throws(() => warehouseTarget({ ...base, WAREHOUSE_URL: 'postgres://x/y', WAREHOUSE_REDSHIFT_CLUSTER: 'c' }), ConfigError, 'both: refused');
  t.throws(() => warehouseTarget({ ...base, WAREHOUSE_REDSHIFT_CLUSTER: 'c' }), /WAREHOUSE_HOST: required/, 'a cluster without its endpoint: refused');
});
