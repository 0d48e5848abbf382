/**
 * A card's alert history from the warehouse (staging.payment_events), for the card view: the
 * console's memory holds the last 1 000 alerts; the warehouse holds every one (a minute or so
 * behind, the delivery's buffering). One SQL text runs unchanged on PostgreSQL (locally, the
 * embedded warehouse) and on Redshift (in AWS, through the same `pg` client: Redshift speaks the
 * PostgreSQL protocol), as a user that may only read the staging schema (`risk_console`, of the
 * `analyst` role, deploy/warehouse/access.sql), logged in with a temporary IAM password
 * (redshift-credentials.ts).
 *
 * The token is matched as the exact text `"card_token":"<token>"` in the event's JSON (the
 * warehouse writes it compact: deploy/warehouse/rows.ts), by POSITION rather than LIKE, whose
 * `_` is a wildcard and occurs in tokens. Bounded: the last HISTORY_DAYS days, newest first, at
 * most `limit` rows, and a statement timeout, so a slow warehouse slows the card view only.
 */
import pg from 'pg';
import { CARD_TOKEN } from '../../common/src/card-token.js';
import { alertData, type AlertEvent } from '../../common/src/events.js';
import { ConfigError } from '../../common/src/errors.js';
import { RedshiftCredentials, type CredentialsApi } from './redshift-credentials.js';

export const HISTORY_DAYS = 30;
const TIMESTAMP_OID = 1114;
const DAY_MS = 86_400_000;

export interface HistoryAlert {
  event_id: string;
  /** When the alert was made (its event_date_origin), ISO. */
  created_at: string;
  data: AlertEvent['data'];
}

export interface CardHistory {
  /** The card's alerts in the warehouse, newest first; throws when the warehouse does not answer. */
  alerts(token: string, limit: number): Promise<HistoryAlert[]>;
  close(): Promise<void>;
}

export class HistoryError extends Error {
  override name = 'HistoryError';
}

export const HISTORY_SQL = `SELECT event_id, event_date_origin, event_json_data
  FROM staging.payment_events
  WHERE event_type = 'PAYMENT_ALERT' AND event_date_origin >= $1 AND POSITION($2 IN event_json_data) > 0
  ORDER BY event_date_origin DESC
  LIMIT $3`;

/** Redshift in AWS: its endpoint, and a temporary IAM login (no stored password). */
export interface RedshiftTarget {
  host: string;
  port: number;
  database: string;
  credentials: RedshiftCredentials;
}

/** The warehouse settings of the console's environment (console/src/main.ts). */
export interface WarehouseEnv {
  WAREHOUSE_URL?: string | undefined;
  WAREHOUSE_REDSHIFT_CLUSTER?: string | undefined;
  WAREHOUSE_HOST?: string | undefined;
  WAREHOUSE_PORT: number;
  WAREHOUSE_DATABASE: string;
  WAREHOUSE_USER: string;
  AWS_REGION?: string | undefined;
}

/**
 * The warehouse of a card's history, if one is configured: WAREHOUSE_URL (locally), or Redshift
 * with a temporary IAM login (in AWS); `api` replaces the Redshift client (tests).
 */
export function warehouseTarget(env: WarehouseEnv, api?: CredentialsApi): string | RedshiftTarget | undefined {
  const cluster = env.WAREHOUSE_REDSHIFT_CLUSTER;
  if (env.WAREHOUSE_URL && cluster) throw new ConfigError('console', ['WAREHOUSE_URL and WAREHOUSE_REDSHIFT_CLUSTER: set one of them, not both']);
  if (env.WAREHOUSE_URL) return env.WAREHOUSE_URL;
  if (!cluster) return undefined;
  if (!env.WAREHOUSE_HOST) throw new ConfigError('console', ['WAREHOUSE_HOST: required with WAREHOUSE_REDSHIFT_CLUSTER (the cluster endpoint address)']);
  const credentials = new RedshiftCredentials(
    { clusterId: cluster, database: env.WAREHOUSE_DATABASE, user: env.WAREHOUSE_USER },
    { ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}), ...(api ? { api } : {}) },
  );
  return { host: env.WAREHOUSE_HOST, port: env.WAREHOUSE_PORT, database: env.WAREHOUSE_DATABASE, credentials };
}

/** The connection settings of either target; Redshift requires TLS (require_ssl, deploy/cdk/lib/warehouse.ts). */
export function connection(target: string | RedshiftTarget): pg.PoolConfig {
  if (typeof target === 'string') return { connectionString: target };
  const { host, port, database, credentials } = target;
  return { host, port, database, user: credentials.user, password: () => credentials.password(), ssl: { rejectUnauthorized: true } };
}

/** `WAREHOUSE_URL` (postgres://…, the embedded warehouse locally), or Redshift in AWS. */
export class WarehouseHistory implements CardHistory {
  readonly #pool: pg.Pool;
  readonly #now: () => number;

  constructor(target: string | RedshiftTarget, options: { now?: () => number; timeoutMs?: number } = {}) {
    const timeoutMs = options.timeoutMs ?? 5_000;
    // Two connections: the card view is opened by people, one card at a time.
    this.#pool = new pg.Pool({
      ...connection(target),
      max: 2,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      // TIMESTAMP (no zone) as the text stored, UTC by convention: pg would read it as local time.
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === TIMESTAMP_OID ? (v: string) => v : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    // An idle connection the warehouse closes must not crash the console.
    this.#pool.on('error', () => undefined);
    this.#now = options.now ?? Date.now;
  }

  async alerts(token: string, limit: number): Promise<HistoryAlert[]> {
    if (!CARD_TOKEN.test(token)) throw new RangeError('not a card token');
    const since = new Date(this.#now() - HISTORY_DAYS * DAY_MS).toISOString().replace('T', ' ').slice(0, 23);
    let rows: Array<{ event_id: string; event_date_origin: string; event_json_data: string }>;
    try {
      ({ rows } = await this.#pool.query(HISTORY_SQL, [since, `"card_token":"${token}"`, limit]));
    } catch (error) {
      throw new HistoryError(`the warehouse did not answer: ${(error as Error).message}`, { cause: error });
    }
    const out: HistoryAlert[] = [];
    for (const row of rows) {
      // What the warehouse holds is checked like any input before it reaches a page.
      const data = alertData.safeParse(JSON.parse(row.event_json_data));
      if (!data.success || data.data.card_token !== token) continue;
      out.push({ event_id: row.event_id, created_at: new Date(`${row.event_date_origin.replace(' ', 'T')}Z`).toISOString(), data: data.data });
    }
    return out;
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
