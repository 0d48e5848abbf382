/**
 * The local S3: s3rver (an npm-packaged S3-compatible server), for the processors' state snapshots
 * (SNAPSHOT_BUCKET). Objects are files under `directory`, so a restarted stack finds its snapshots
 * again. It knows one account, S3RVER/S3RVER, which createS3Client uses for a local endpoint.
 */
import type { LocalEmulator } from './loopback.js';

export async function startS3Emulator(options: { port?: number; directory: string; buckets?: string[] }): Promise<LocalEmulator> {
  const { default: S3rver } = await import('s3rver');
  const server = new S3rver({
    port: options.port ?? 0,
    address: '127.0.0.1',
    silent: true,
    directory: options.directory,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  const { port } = (await server.run()) as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, port, close: () => server.close() };
}
