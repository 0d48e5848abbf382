/**
 * The local DynamoDB: dynalite (an npm-packaged emulator of the DynamoDB API) served over HTTP/1.1,
 * for the processors' lease table. `path` keeps its data in LevelDB on disk so a restarted stack
 * finds its leases again; without it the data lives in memory (tests). Port 0 picks a free port.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { serveOnLoopback, type LocalEmulator } from './loopback.js';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export type DynamoEmulator = LocalEmulator;

export async function startDynamoEmulator(options: { port?: number; path?: string } = {}): Promise<DynamoEmulator> {
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    // Tables are ACTIVE at once: nothing here needs to rehearse AWS's CREATING delay.
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  return serveOnLoopback(server, options.port);
}
