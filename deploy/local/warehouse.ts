/**
 * The local warehouse: PGlite (PostgreSQL compiled to WebAssembly, from npm) served over the
 * PostgreSQL wire protocol, so every component talks `pg` to a URL exactly as it would to a real
 * PostgreSQL or Redshift. Data persists in `dataDir`; without one it lives in memory (tests).
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { mkdir } from 'node:fs/promises';

export interface EmbeddedWarehouse {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startEmbeddedWarehouse(options: { dataDir?: string; port?: number } = {}): Promise<EmbeddedWarehouse> {
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const db = options.dataDir ? await PGlite.create(options.dataDir) : await PGlite.create();
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: options.port ?? 0,
    // PGlite is one session: connections are multiplexed onto it query by query.
    maxConnections: 64,
  });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
