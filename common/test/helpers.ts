/**
 * Test helpers shared by every component's tests. Each registers its own cleanup with tap's
 * `t.teardown`, so a failing test never leaves a server behind.
 */
import type { Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKinesisClient } from '../src/kinesis.js';
import { ensureStream, startKinesisEmulator } from '../../deploy/local/kinesis-emulator.js';

/** An in-memory kinesalite on a free port with one stream; closed when the test ends. */
export async function withKinesis(t: Test, options: { stream?: string; shards?: number } = {}) {
  const emulator = await startKinesisEmulator();
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
