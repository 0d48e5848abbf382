/**
 * Talking to the warehouse: PostgreSQL locally (embedded PGlite, or any server at WAREHOUSE_URL),
 * Redshift in AWS. Statements go through the simple query protocol only (no bind parameters): the
 * embedded PGlite server queues protocol messages from all connections on one session, and only a
 * simple Query message is atomic there. Values are therefore inlined with `literal()`.
 */
import pg from 'pg';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** A SQL string literal: standard_conforming_strings quoting, NUL bytes (which text cannot hold) escaped. */
export function literal(value: string | number | boolean | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return `'${value.replace(/\0/g, '\\u0000').replace(/'/g, "''")}'`;
}

export async function connectWarehouse(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  return client;
}

export async function isRedshift(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ version: string }>('SELECT version() AS version');
  return /redshift/i.test(rows[0]?.version ?? '');
}

/** Applies the staging DDL (and, on PostgreSQL, the GETDATE() shim first). Idempotent. */
export async function applyStagingSchema(client: pg.Client, options: { localDelivery?: boolean } = {}): Promise<void> {
  const files = [...((await isRedshift(client)) ? [] : ['postgres-compat.sql']), 'staging.sql', ...(options.localDelivery ? ['local-delivery.sql'] : [])];
  for (const file of files) {
    await client.query(await readFile(here(file), 'utf8'));
  }
}
