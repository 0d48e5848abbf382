/**
 * A shard snapshot as an object: its name and its bytes.
 *
 * Name: `<prefix><stream>/<shardId>/<stateId>/<sequence number, zero-padded to 128 digits>.ndjson.gz`,
 * so listing one line of state (`…/<stateId>/`) returns its snapshots oldest first (Kinesis
 * sequence numbers are decimal strings of at most 128 digits).
 *
 * Bytes: gzip of newline-separated JSON:
 *   line 1    the header: format, version, stream, shard, the checkpoint the state is at, when taken;
 *   lines 2…  one engine entry each, `[key, value]`, in key order (the value is the stored JSON as is);
 *   last line the trailer `{"end":true,"entries":N}`.
 * A snapshot without its trailer, with another entry count, or whose header disagrees with its
 * name is refused (and an older one used); gzip's CRC catches damaged bytes.
 */
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { createGunzip, createGzip } from 'node:zlib';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { ShardCheckpoint } from '../state/index.js';
import { SnapshotError } from './errors.js';

export const SNAPSHOT_FORMAT = 'payments-shard-snapshot';
export const SNAPSHOT_VERSION = 1;
const SEQUENCE_DIGITS = 128;
const SUFFIX = '.ndjson.gz';

/** Where one snapshot is, and the checkpoint its name says it holds. */
export interface SnapshotRef {
  readonly key: string;
  readonly shardId: string;
  readonly stateId: string;
  readonly sequenceNumber: string;
}

const headerSchema = z.strictObject({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(SNAPSHOT_VERSION),
  stream: z.string().min(1),
  shardId: z.string().min(1),
  checkpoint: z.strictObject({
    sequenceNumber: z.string().regex(/^\d{1,128}$/),
    watermarkMs: z.number().refine(Number.isFinite, 'must be finite'),
    shardEnd: z.boolean(),
    stateId: z.string().min(1).max(64),
  }),
  takenAtMs: z.number().int(),
});
export type SnapshotHeader = z.infer<typeof headerSchema>;

const trailerSchema = z.strictObject({ end: z.literal(true), entries: z.number().int().nonnegative() });

/** The prefix of every snapshot of one shard, or of one line of its state. */
export function snapshotPrefix(prefix: string, stream: string, shardId: string, stateId?: string): string {
  return `${prefix}${stream}/${shardId}/${stateId === undefined ? '' : `${stateId}/`}`;
}

export function snapshotKey(prefix: string, stream: string, shardId: string, stateId: string, sequenceNumber: string): string {
  return `${snapshotPrefix(prefix, stream, shardId, stateId)}${sequenceNumber.padStart(SEQUENCE_DIGITS, '0')}${SUFFIX}`;
}

/** The ref a listed key names, or undefined for anything else under the prefix. */
export function parseSnapshotKey(prefix: string, stream: string, key: string): SnapshotRef | undefined {
  const head = `${prefix}${stream}/`;
  if (!key.startsWith(head) || !key.endsWith(SUFFIX)) return undefined;
  const parts = key.slice(head.length, -SUFFIX.length).split('/');
  if (parts.length !== 3) return undefined;
  const [shardId, stateId, padded] = parts as [string, string, string];
  if (!/^\d{128}$/.test(padded) || shardId === '' || stateId === '') return undefined;
  const sequenceNumber = padded.replace(/^0+(?=\d)/, '');
  return { key, shardId, stateId, sequenceNumber };
}

/** The header a snapshot of `checkpoint` gets; the checkpoint must name its sequence number and state id. */
export function snapshotHeader(stream: string, shardId: string, checkpoint: ShardCheckpoint, takenAtMs: number): SnapshotHeader {
  const { sequenceNumber, stateId } = checkpoint;
  if (!sequenceNumber || !stateId) throw new TypeError(`snapshot of ${shardId}: the checkpoint has no sequence number or no state id`);
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    stream,
    shardId,
    checkpoint: { sequenceNumber, watermarkMs: checkpoint.watermarkMs, shardEnd: checkpoint.shardEnd, stateId },
    takenAtMs,
  };
}

/** The snapshot's bytes: header, entries as stored, trailer, gzipped (level 1: state is rewritten often). */
export async function encodeSnapshot(header: SnapshotHeader, entries: AsyncIterable<[key: string, json: string]>): Promise<{ body: Buffer; entries: number }> {
  let count = 0;
  async function* lines(): AsyncGenerator<string> {
    yield `${JSON.stringify(header)}\n`;
    let text = '';
    for await (const [key, json] of entries) {
      text += `[${JSON.stringify(key)},${json}]\n`;
      count++;
      if (text.length >= 1 << 16) {
        yield text;
        text = '';
      }
    }
    yield `${text}${JSON.stringify({ end: true, entries: count })}\n`;
  }
  const gzip = createGzip({ level: 1 });
  const [, body] = await Promise.all([pipeline(Readable.from(lines()), gzip), buffer(gzip)]);
  return { body, entries: count };
}

/**
 * Reads a snapshot's bytes back, checking it against `ref`, and hands each entry to `onEntry` as it
 * is read: its key, its value parsed, and the value's JSON text as stored (so a restore can commit
 * it as it is instead of serialising it again). Resolves with the header once the trailer checks.
 */
export async function readSnapshot(ref: SnapshotRef, body: Readable, onEntry: (key: string, value: unknown, json: string) => void): Promise<SnapshotHeader> {
  const bad = (why: string, cause?: unknown) => new SnapshotError('SNAPSHOT_INVALID', `snapshot ${ref.key}: ${why}`, cause === undefined ? {} : { cause });
  const gunzip = createGunzip();
  body.on('error', (err) => gunzip.destroy(err));
  const lines = createInterface({ input: body.pipe(gunzip), crlfDelay: Infinity });
  let header: SnapshotHeader | undefined;
  let trailer: z.infer<typeof trailerSchema> | undefined;
  let entries = 0;
  try {
    for await (const line of lines) {
      if (trailer) throw bad('data after the trailer');
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (cause) {
        throw bad(`line ${entries + 2} is not JSON`, cause);
      }
      if (!header) {
        const parsed = headerSchema.safeParse(value);
        if (!parsed.success) throw bad(`bad header: ${parsed.error.message}`);
        header = parsed.data;
        continue;
      }
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string') {
        const key = value[0];
        const keyJson = JSON.stringify(key);
        // The line is `[<key>,<value as stored>]` as encodeSnapshot wrote it; anything else is re-encoded.
        const json =
          line.charCodeAt(keyJson.length + 1) === 44 && line.startsWith(keyJson, 1) && line.endsWith(']')
            ? line.slice(keyJson.length + 2, -1)
            : JSON.stringify(value[1]);
        onEntry(key, value[1], json);
        entries++;
        continue;
      }
      const end = trailerSchema.safeParse(value);
      if (!end.success) throw bad(`line ${entries + 2} is neither an entry nor the trailer`);
      trailer = end.data;
    }
  } catch (error) {
    if (error instanceof SnapshotError) throw error;
    throw bad(error instanceof Error && error.name === 'EngineStateError' ? error.message : 'unreadable (truncated or damaged)', error);
  }
  if (!header) throw bad('empty');
  if (!trailer) throw bad('no trailer: the snapshot was cut short');
  if (trailer.entries !== entries) throw bad(`the trailer says ${trailer.entries} entries, ${entries} were read`);
  const c = header.checkpoint;
  if (header.shardId !== ref.shardId || c.stateId !== ref.stateId || c.sequenceNumber !== ref.sequenceNumber) {
    throw bad(`its header (${header.shardId}, ${c.stateId}, ${c.sequenceNumber}) does not match its name`);
  }
  return header;
}

/** A snapshot read back whole, every entry parsed. */
export async function decodeSnapshot(ref: SnapshotRef, body: Readable): Promise<{ header: SnapshotHeader; entries: Array<[string, unknown]> }> {
  const entries: Array<[string, unknown]> = [];
  const header = await readSnapshot(ref, body, (key, value) => entries.push([key, value]));
  return { header, entries };
}
