/**
 * S3 for the one object this product reads from it: the cards file in AWS (`CARDS_FILE` =
 * `s3://bucket/key`). Same SDK code against AWS or a local S3-compatible endpoint (`S3_ENDPOINT`,
 * path-style, HTTP/1.1 as for the other emulators). Loaded on demand: only a process whose cards
 * file is in S3 pays for the S3 client.
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { http1Handler, type AwsEndpointConfig } from './kinesis.js';

const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;

/** Bucket and key of an `s3://bucket/key` URI; undefined for anything else (a file path). */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const m = S3_URI.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

export async function createS3Client(config: AwsEndpointConfig & { credentials?: { accessKeyId: string; secretAccessKey: string } }): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const local = config.credentials
    ? { credentials: config.credentials }
    : config.endpoint && !process.env.AWS_ACCESS_KEY_ID
      ? // The one account of s3rver, the local S3 that `npm start` runs (deploy/local/s3-emulator.ts).
        { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }
      : {};
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true, requestHandler: http1Handler() } : {}),
    ...local,
  });
}

/** The object's body as a stream (the SDK retries the request itself: 3 attempts, with backoff). */
export async function getObjectStream(client: S3Client, bucket: string, key: string): Promise<Readable> {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`s3://${bucket}/${key}: empty response`);
  return out.Body as Readable;
}
