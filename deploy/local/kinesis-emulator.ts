/**
 * The local Kinesis: kinesalite (an npm-packaged emulator of the Kinesis API) served over HTTP/1.1,
 * persisted under data/ so a second `npm start` reuses the stream and its records.
 */
import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { serveOnLoopback, type LocalEmulator } from './loopback.js';
import { sleep } from '../../common/src/retry.js';
import { awsErrorName } from '../../common/src/kinesis.js';

const require = createRequire(import.meta.url);
const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => Server;

export type KinesisEmulator = LocalEmulator;

/**
 * Starts kinesalite on 127.0.0.1. `path` keeps its data in LevelDB on disk; without it the data
 * lives in memory (tests). Port 0 picks a free port.
 */
export async function startKinesisEmulator(options: { port?: number; path?: string } = {}): Promise<KinesisEmulator> {
  const server = kinesalite({
    ...(options.path ? { path: options.path } : {}),
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 100,
  });
  return serveOnLoopback(server, options.port);
}

/** Creates the stream if it is missing and waits until it is ACTIVE. Returns its shard count. */
export async function ensureStream(client: KinesisClient, streamName: string, shardCount: number): Promise<number> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  } catch (e) {
    if (awsErrorName(e) !== 'ResourceInUseException') throw e;
  }
  for (let i = 0; ; i++) {
    const { StreamDescriptionSummary: s } = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (s?.StreamStatus === 'ACTIVE') return s.OpenShardCount ?? shardCount;
    if (i > 100) throw new Error(`stream ${streamName} did not become ACTIVE`);
    await sleep(100);
  }
}
