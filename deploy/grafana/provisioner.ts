/**
 * The onEvent handler of the CloudFormation custom resource (CDK `custom-resources.Provider`) that
 * provisions the Amazon Managed Grafana workspace: CloudFormation cannot create Grafana data
 * sources or dashboards. Bundled by esbuild into one file, AWS SDK and dashboards included
 * (deploy/grafana/bundle.ts).
 *
 * Create/Update, in this order:
 *  1. read the reader user's secret and set that password in Redshift (ALTER USER, as the admin,
 *     through the Data API), so the password Grafana is given is the one Redshift checks;
 *  2. create a service-account token (15 min) for the Grafana HTTP API;
 *  3. upsert the data sources `prometheus` and `warehouse` (fixed uids, see content.ts);
 *  4. post every dashboard with overwrite;
 *  5. delete the token, also when 3 or 4 failed.
 * Delete does nothing: the workspace goes with the stack.
 * Any failure throws, which the Provider framework reports to CloudFormation as FAILED.
 * No password and no token is ever logged or put into an error message.
 */
import { createHash } from 'node:crypto';
import { GrafanaClient } from '@aws-sdk/client-grafana';
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { redshiftDataApi } from '../warehouse/data-api.js';
import { redshiftSql, secretsManagerSecrets, workspaceTokens, type SecretSource, type SqlRunner, type TokenSource } from './aws.js';
import { dashboards, datasourceDefinitions, type Datasource } from './content.js';
import { grafanaApi, type GrafanaApi, type RetryOptions } from './grafana-api.js';

export { contentHash } from './content.js';

export const PROPERTY_NAMES = [
  'WorkspaceId',
  'WorkspaceUrl',
  'Region',
  'PrometheusUrl',
  'WarehouseHost',
  'WarehousePort',
  'WarehouseDatabase',
  'ReaderSecretArn',
  'AdminSecretArn',
  'ClusterIdentifier',
  'ContentHash',
] as const;
export type ResourceProperties = Record<(typeof PROPERTY_NAMES)[number], string>;

export interface ProvisionerEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  ResourceProperties: ResourceProperties & { ServiceToken?: string };
  /** Present on Update and Delete. */
  PhysicalResourceId?: string;
}

export interface ProvisionerResult {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

export interface ProvisionerDeps {
  grafana: TokenSource;
  secrets: SecretSource;
  sql: SqlRunner;
  fetch: typeof fetch;
  /** Grafana HTTP retry; tests shorten the waits. */
  sleep?: (ms: number) => Promise<void>;
  retry?: Partial<RetryOptions>;
  log?: (line: string) => void;
}

export function physicalResourceId(workspaceId: string): string {
  return `grafana-provisioning-${workspaceId}`;
}

const USERNAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * `ALTER USER "<username>" PASSWORD 'md5<md5(password + username)>'`. Neither can be a bind
 * parameter in Redshift, so both are checked instead: a plain lower-case identifier, and a password
 * of printable ASCII without quote, double quote or backslash. The password goes as Redshift's MD5
 * form, never in clear: the Data API keeps a statement's text for a day (DescribeStatement).
 */
export function alterUserSql(username: string, password: string): string {
  if (!USERNAME.test(username)) throw new Error(`reader username ${JSON.stringify(username)} is not a plain identifier (${USERNAME.source})`);
  if (password === '' || !/^[\x21-\x7e]+$/.test(password) || /['"\\]/.test(password)) {
    throw new Error(`the password of reader ${username} must be printable ASCII without spaces, ', " or \\`);
  }
  return `ALTER USER "${username}" PASSWORD 'md5${createHash('md5')
    .update(password + username)
    .digest('hex')}'`;
}

/** The Provider framework's onEvent entry point: real AWS clients in the resource's Region. */
export async function handler(event: ProvisionerEvent): Promise<ProvisionerResult> {
  const p = event.ResourceProperties;
  const region = p.Region;
  return provision(event, {
    grafana: workspaceTokens(new GrafanaClient({ region }), p.WorkspaceId),
    secrets: secretsManagerSecrets(new SecretsManagerClient({ region })),
    sql: redshiftSql(redshiftDataApi(new RedshiftDataClient({ region })), {
      cluster: p.ClusterIdentifier,
      database: p.WarehouseDatabase,
      secretArn: p.AdminSecretArn,
    }),
    fetch: globalThis.fetch,
  });
}

export async function provision(event: ProvisionerEvent, deps: ProvisionerDeps): Promise<ProvisionerResult> {
  const log = deps.log ?? ((line: string) => console.log(line));
  if (event.RequestType === 'Delete') {
    log(`Delete ${event.PhysicalResourceId}: nothing to do`);
    return { PhysicalResourceId: event.PhysicalResourceId ?? physicalResourceId(event.ResourceProperties.WorkspaceId) };
  }
  const p = checkProperties(event.ResourceProperties);
  const id = physicalResourceId(p.WorkspaceId);
  log(`${event.RequestType} ${id} (content ${p.ContentHash})`);

  // 1. The reader's password, in Redshift first.
  const reader = parseUserSecret(p.ReaderSecretArn, await deps.secrets.get(p.ReaderSecretArn));
  const sql = alterUserSql(reader.username, reader.password);
  try {
    await deps.sql.run(sql);
  } catch (err) {
    throw new Error(
      `setting the password of ${reader.username} failed: ${redact(redact((err as Error).message, reader.password), /PASSWORD 'md5[0-9a-f]{32}'/g)}`,
    );
  }
  log(`password of warehouse user ${reader.username} set from ${p.ReaderSecretArn}`);

  // 2.–5. Grafana, with a token that is deleted whatever happens.
  const token = await deps.grafana.createToken();
  const api = grafanaApi({ baseUrl: p.WorkspaceUrl, token: token.key, fetch: deps.fetch, sleep: deps.sleep, retry: deps.retry });
  const definitions = datasourceDefinitions({
    prometheusUrl: p.PrometheusUrl,
    region: p.Region,
    warehouseUrl: `${p.WarehouseHost}:${p.WarehousePort}`,
    database: p.WarehouseDatabase,
    user: reader.username,
    password: reader.password,
  });
  try {
    for (const ds of definitions) log(`data source ${ds.uid}: ${await upsertDatasource(api, ds)}`);
    for (const dashboard of dashboards) {
      await api.request('POST', '/api/dashboards/db', { dashboard: { ...dashboard, id: null }, overwrite: true });
      log(`dashboard ${dashboard.uid}: posted`);
    }
  } catch (err) {
    await deps.grafana.deleteToken(token).catch((e: unknown) => log(`deleting token ${token.id} failed (it expires by itself): ${(e as Error).message}`));
    throw err;
  }
  await deps.grafana.deleteToken(token);
  log(`token ${token.id} deleted`);
  return { PhysicalResourceId: id };
}

async function upsertDatasource(api: GrafanaApi, ds: Datasource): Promise<'created' | 'updated'> {
  const path = `/api/datasources/uid/${encodeURIComponent(ds.uid)}`;
  const found = await api.request('GET', path, undefined, [404]);
  if (found.status === 404) {
    await api.request('POST', '/api/datasources', ds);
    return 'created';
  }
  await api.request('PUT', path, ds);
  return 'updated';
}

function checkProperties(props: Partial<ResourceProperties>): ResourceProperties {
  const missing = PROPERTY_NAMES.filter((name) => typeof props[name] !== 'string' || props[name] === '');
  if (missing.length > 0) throw new Error(`missing resource properties: ${missing.join(', ')}`);
  return props as ResourceProperties;
}

function parseUserSecret(arn: string, text: string): { username: string; password: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text: not repeated here.
    throw new Error(`secret ${arn} is not JSON`);
  }
  const { username, password } = (value ?? {}) as Record<string, unknown>;
  if (typeof username !== 'string' || typeof password !== 'string') throw new Error(`secret ${arn} needs string fields "username" and "password"`);
  return { username, password };
}

function redact(text: string, secret: string | RegExp): string {
  if (secret instanceof RegExp) return text.replace(secret, "PASSWORD '***'");
  return secret === '' ? text : text.split(secret).join('***');
}
