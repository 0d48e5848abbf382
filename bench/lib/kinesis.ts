/**
 * kinesalite (the local Kinesis of `npm start`) for the benches that write more than its in-memory
 * store holds (an hour of 4 shards at 1 000 payments/s is 14.4 M records, which memdown keeps at
 * several kB each): in its own process (served.ts), persisted in LevelDB under a temp directory,
 * as `npm start` persists it under data/. This file is also that process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKinesisEmulator } from '../../deploy/local/kinesis-emulator.js';
import { isServeCall, serveFromChild } from './served.js';

const self = fileURLToPath(import.meta.url);

if (isServeCall(self)) {
  const emulator = await startKinesisEmulator({ path: process.argv[3]! });
  process.stdout.write(`${emulator.port}\n`);
}

export interface BenchKinesis {
  endpoint: string;
  close: () => Promise<void>;
}

export async function startKinesisOnDisk(): Promise<BenchKinesis> {
  const dir = await mkdtemp(join(tmpdir(), 'sca-bench-kinesis-'));
  const served = await serveFromChild(self, [dir]);
  return {
    endpoint: `http://127.0.0.1:${served.port}`,
    close: async () => {
      await served.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
