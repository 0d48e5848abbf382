/**
 * Shard snapshots in S3, as Flink keeps its checkpoints: every task of the service reaches the
 * bucket (Fargate's own disk is empty on every new task), objects are written whole or not at all,
 * and nothing has to be mounted. Locally the same code runs against s3rver (`npm start`).
 *
 * The store only names, writes, lists, reads and deletes objects; which snapshot may be used is
 * decided by the caller against the lease (shard-snapshots.ts), never by what happens to be newest.
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { SnapshotError } from './errors.js';
import { parseSnapshotKey, snapshotKey, snapshotPrefix, type SnapshotHeader, type SnapshotRef } from './format.js';

export interface S3SnapshotsOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every key: `snapshots/` by default (SNAPSHOT_PREFIX). */
  prefix: string;
  /** The input stream's name: one bucket can hold the snapshots of several streams. */
  stream: string;
}

type S3Module = typeof import('@aws-sdk/client-s3');

export class S3Snapshots {
  readonly #o: S3SnapshotsOptions;
  readonly #s3: S3Module;
  /** Keys of snapshots found unusable only after they were read (a pane group refused later). */
  readonly #refused = new Set<string>();

  private constructor(options: S3SnapshotsOptions, s3: S3Module) {
    this.#o = options;
    this.#s3 = s3;
  }

  /** Loads the S3 SDK (only a processor with snapshots pays for it). */
  static async create(options: S3SnapshotsOptions): Promise<S3Snapshots> {
    return new S3Snapshots(options, await import('@aws-sdk/client-s3'));
  }

  /**
   * Marks a snapshot unusable for the rest of this process: it read back whole, but a part restored
   * later was refused (alerts first, source/pane-restore.ts). A restore passes it over from now
   * on, so the task's restart takes an older one or replays instead of failing on it again.
   */
  refuse(key: string): void {
    this.#refused.add(key);
  }

  isRefused(key: string): boolean {
    return this.#refused.has(key);
  }

  /** `s3://bucket/prefix`, for log lines. */
  get location(): string {
    return `s3://${this.#o.bucket}/${this.#o.prefix}`;
  }

  async put(header: SnapshotHeader, body: Buffer): Promise<SnapshotRef> {
    const { bucket, prefix, stream } = this.#o;
    const c = header.checkpoint;
    const key = snapshotKey(prefix, stream, header.shardId, c.stateId, c.sequenceNumber);
    await this.#call(`write ${key}`, () =>
      this.#o.client.send(
        new this.#s3.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }),
      ),
    );
    return { key, shardId: header.shardId, stateId: c.stateId, sequenceNumber: c.sequenceNumber };
  }

  /** Snapshots of a shard (of one line of its state when `stateId` is given), oldest first within a line. */
  async list(shardId: string, stateId?: string): Promise<SnapshotRef[]> {
    const { bucket, prefix, stream } = this.#o;
    const refs: SnapshotRef[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call(`list ${snapshotPrefix(prefix, stream, shardId, stateId)}`, () =>
        this.#o.client.send(
          new this.#s3.ListObjectsV2Command({
            Bucket: bucket,
            Prefix: snapshotPrefix(prefix, stream, shardId, stateId),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const o of page.Contents ?? []) {
        const ref = o.Key ? parseSnapshotKey(prefix, stream, o.Key) : undefined;
        if (ref && ref.shardId === shardId) refs.push(ref);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return refs;
  }

  async open(ref: SnapshotRef): Promise<Readable> {
    const out = await this.#call(`read ${ref.key}`, () => this.#o.client.send(new this.#s3.GetObjectCommand({ Bucket: this.#o.bucket, Key: ref.key })));
    if (!out.Body) throw new SnapshotError('SNAPSHOT_STORE_FAILED', `read ${ref.key}: empty response`);
    return out.Body as Readable;
  }

  async delete(refs: readonly SnapshotRef[]): Promise<void> {
    for (let i = 0; i < refs.length; i += 1000) {
      const Objects = refs.slice(i, i + 1000).map((r) => ({ Key: r.key }));
      const out = await this.#call(`delete ${Objects.length} snapshots`, () =>
        this.#o.client.send(new this.#s3.DeleteObjectsCommand({ Bucket: this.#o.bucket, Delete: { Objects, Quiet: true } })),
      );
      const failed = out.Errors ?? [];
      if (failed.length > 0)
        throw new SnapshotError('SNAPSHOT_STORE_FAILED', `delete: ${failed.length} not deleted, first ${failed[0]?.Key}: ${failed[0]?.Code}`);
    }
  }

  async #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (cause) {
      if (cause instanceof SnapshotError) throw cause;
      throw new SnapshotError('SNAPSHOT_STORE_FAILED', `${this.location}: ${what}: ${(cause as Error).name}: ${(cause as Error).message}`, { cause });
    }
  }
}
