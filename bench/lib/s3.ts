/**
 * s3rver (the local S3 of `npm start`) for the benches: in its own process (so that hashing and
 * writing a 20 MB PUT, or serving a GET, never runs on the thread being timed, as S3 never does),
 * on a free port and a temp directory, with `buckets` created; and an S3 client made the
 * product's way (createS3Client).
 *
 * This file is also that process: `node --import tsx bench/lib/s3.ts --serve <dir>` prints the
 * port on its first line of stdout and serves until it is killed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../common/src/s3.js';

/** s3rver's one account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const self = fileURLToPath(import.meta.url);

if (process.argv[1] === self && process.argv[2] === '--serve') {
  const { default: S3rver } = await import('s3rver');
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.argv[3]! });
  const { port } = (await server.run()) as { port: number };
  process.stdout.write(`${port}\n`);
}

export interface BenchS3 {
  endpoint: string;
  client: S3Client;
  close: () => Promise<void>;
}

export async function startS3(buckets: readonly string[]): Promise<BenchS3> {
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const dir = await mkdtemp(join(tmpdir(), 'sca-bench-s3-'));
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.split('\n')[0]));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before it served`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = await createS3Client({ region: 'us-east-1', endpoint, credentials: S3RVER_CREDENTIALS });
  for (const Bucket of buckets) await client.send(new CreateBucketCommand({ Bucket }));
  return {
    endpoint,
    client,
    close: async () => {
      client.destroy();
      child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
