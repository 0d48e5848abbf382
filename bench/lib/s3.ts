/**
 * s3rver (the local S3 of `npm start`) for the benches: in its own process (served.ts), on a free
 * port and a temp directory, with `buckets` created; and an S3 client made the product's way
 * (createS3Client). This file is also that process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../common/src/s3.js';
import { isServeCall, serveFromChild } from './served.js';

/** s3rver's one account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const self = fileURLToPath(import.meta.url);

if (isServeCall(self)) {
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
  const served = await serveFromChild(self, [dir]);
  const endpoint = `http://127.0.0.1:${served.port}`;
  const client = await createS3Client({ region: 'us-east-1', endpoint, credentials: S3RVER_CREDENTIALS });
  for (const Bucket of buckets) await client.send(new CreateBucketCommand({ Bucket }));
  return {
    endpoint,
    client,
    close: async () => {
      client.destroy();
      await served.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
