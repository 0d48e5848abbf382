/**
 * The local DynamoDB: dynalite (an npm-packaged emulator of the DynamoDB API) served over HTTP/1.1,
 * for the processors' lease table. `path` keeps its data in LevelDB on disk so a restarted stack
 * finds its leases again; without it the data lives in memory (tests). Port 0 picks a free port.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export interface DynamoEmulator {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export async function startDynamoEmulator(options: { port?: number; path?: string } = {}): Promise<DynamoEmulator> {
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    // Tables are ACTIVE at once: nothing here needs to rehearse AWS's CREATING delay.
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Keep-alive sockets of SDK clients would otherwise hold close() open.
        server.closeAllConnections?.();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
