/**
 * Test helpers shared by every component's tests. Each registers its own cleanup with tap's
 * `t.teardown`, so a failing test never leaves a server behind.
 */
import type { Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../src/kinesis.js';
import { loadCardTokenKeyFile, type CardTokenizer } from '../src/card-token.js';
import { listAllShards } from '../src/shard-reader.js';
import { ensureStream, startKinesisEmulator } from '../../deploy/local/kinesis-emulator.js';
import { startKinesisLocal } from '../../deploy/local/kinesis-local.js';

/**
 * An in-memory Kinesis emulator on a free port with one stream; closed when the test ends.
 * kinesalite, or kinesis-local for enhanced fan-out (deploy/local/kinesis-local.ts).
 */
export async function withKinesis(t: Test, options: { stream?: string; shards?: number; emulator?: 'kinesalite' | 'kinesis-local' } = {}) {
  const emulator = options.emulator === 'kinesis-local' ? await startKinesisLocal() : await startKinesisEmulator();
  const client = createKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint });
  const stream = options.stream ?? 'test-stream';
  await ensureStream(client, stream, options.shards ?? 2);
  t.teardown(async () => {
    client.destroy();
    await emulator.close();
  });
  return { endpoint: emulator.endpoint, client, stream };
}

/** A fresh temp directory, removed when the test ends. */
export async function withTempDir(t: Test, prefix = 'sca-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An in-memory embedded warehouse with the staging schema; closed when the test ends. */
export async function withWarehouse(t: Test) {
  const { startEmbeddedWarehouse } = await import('../../deploy/local/warehouse.js');
  const { connectWarehouse, applyStagingSchema } = await import('../../deploy/warehouse/schema.js');
  const warehouse = await startEmbeddedWarehouse();
  const client = await connectWarehouse(warehouse.url);
  await applyStagingSchema(client, { localDelivery: true });
  t.teardown(async () => {
    await client.end();
    await warehouse.close();
  });
  return { url: warehouse.url, client };
}

/** Polls `check` until it returns true or `timeoutMs` passes (then fails with `what`). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Repository root, for spawning components as a user would. */
export const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Starts a component (`script` relative to the root) as a child process the way the npm scripts
 * do, collecting its output; killed when the test ends if still running.
 */
export async function spawnComponent(t: Test, script: string, args: string[] = [], env: Record<string, string> = {}) {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (output.stdout += d));
  child.stderr.on('data', (d) => (output.stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, output, exit };
}

/** Every record of every shard from TRIM_HORIZON, shard by shard, with the shard it came from. */
export async function readAllRecords(client: KinesisClient, stream: string): Promise<Array<_Record & { shardId: string }>> {
  const out: Array<_Record & { shardId: string }> = [];
  for (const shard of await listAllShards(client, stream)) {
    let iterator = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' })))
      .ShardIterator;
    while (iterator) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) out.push({ ...r, shardId: shard.ShardId! });
      if (!page.Records?.length) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

/** Deterministic [0, 1) numbers (mulberry32), so a failing run can be replayed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * s3rver (an npm S3-compatible server) on a free port, in a temp dir, with `buckets` created; an
 * S3 client for it made the product's way (createS3Client). Both closed when the test ends.
 */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function withS3(t: Test, buckets: string[] = []) {
  const { default: S3rver } = await import('s3rver');
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const { createS3Client } = await import('../src/s3.js');
  const dir = await withTempDir(t, 'sca-s3-');
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  // s3rver knows one account; a process under test is given it as AWS_ACCESS_KEY_ID/SECRET.
  const client = await createS3Client({ region: 'us-east-1', endpoint, credentials: S3RVER_CREDENTIALS });
  for (const Bucket of buckets) await client.send(new CreateBucketCommand({ Bucket }));
  t.teardown(async () => {
    client.destroy();
    await server.close();
  });
  return { endpoint, client };
}

/**
 * A card token key file written for one test (as `npm start` writes data/card-token-key.json),
 * and its tokenizer, so the test computes the tokens the components do.
 */
export async function withCardTokenKey(t: Test, dir?: string): Promise<{ path: string; tokenizer: CardTokenizer }> {
  const path = join(dir ?? (await withTempDir(t)), 'card-token-key.json');
  return { path, tokenizer: await loadCardTokenKeyFile(path, { create: true }) };
}
