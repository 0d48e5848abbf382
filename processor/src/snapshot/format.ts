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
 * The lines of a byte stream, as bytes (split on \n, the one line end encodeSnapshot writes): a
 * line left unparsed is never decoded into a string, and a value's stored bytes are a view of its
 * line, not a copy. readline decoded every pane group into a string first: see "Restore from a
 * snapshot" in docs/benchmarks.md for what this saves a take-over.
 */
async function* byteLines(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  for await (const chunk of input) {
    let from = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      yield parts.length === 0 ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      from = nl + 1;
    }
    if (from < chunk.length) parts.push(chunk.subarray(from));
  }
  if (parts.length > 0) yield Buffer.concat(parts);
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;

/**
 * Reads a snapshot's bytes back, checking it against `ref`, and hands each entry to `onEntry` as it
 * is read: its key, its value parsed, and the value's JSON as stored, as bytes (so a restore can
 * commit it as it is instead of serialising it again). Resolves with the header once the trailer
 * checks. Entries whose key starts with `unparsed` come with `value` undefined, neither decoded
 * nor parsed (a restore that takes them later skips most of the work up front); gzip's CRC and
 * the trailer still vouch for their bytes, and whoever parses them later checks them.
 */
export async function readSnapshot(
  ref: SnapshotRef,
  body: Readable,
  onEntry: (key: string, value: unknown, stored: Buffer) => void,
  options: { unparsed?: string } = {},
): Promise<SnapshotHeader> {
  const unparsedHead = options.unparsed === undefined ? undefined : Buffer.from(`[${JSON.stringify(options.unparsed).slice(0, -1)}`);
  const bad = (why: string, cause?: unknown) => new SnapshotError('SNAPSHOT_INVALID', `snapshot ${ref.key}: ${why}`, cause === undefined ? {} : { cause });
  const gunzip = createGunzip();
  body.on('error', (err) => gunzip.destroy(err));
  let header: SnapshotHeader | undefined;
  let trailer: z.infer<typeof trailerSchema> | undefined;
  let entries = 0;
  try {
    for await (const bytes of byteLines(body.pipe(gunzip))) {
      if (trailer) throw bad('data after the trailer');
      if (header && unparsedHead && bytes.length > unparsedHead.length && bytes.compare(unparsedHead, 0, unparsedHead.length, 0, unparsedHead.length) === 0) {
        // `["<key>",<value>]` with a key free of escapes, as encodeSnapshot writes state keys.
        const close = bytes.indexOf(QUOTE, unparsedHead.length);
        const plainKey = close > 0 && bytes.subarray(0, close).indexOf(BACKSLASH) < 0;
        if (plainKey && bytes[close + 1] === COMMA && bytes[bytes.length - 1] === CLOSE_BRACKET) {
          onEntry(bytes.toString('utf8', 2, close), undefined, bytes.subarray(close + 2, bytes.length - 1));
          entries++;
          continue;
        }
      }
      const line = bytes.toString('utf8');
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
        const asWritten = line.charCodeAt(keyJson.length + 1) === 44 && line.startsWith(keyJson, 1) && line.endsWith(']');
        const stored = asWritten ? bytes.subarray(Buffer.byteLength(keyJson) + 2, bytes.length - 1) : Buffer.from(JSON.stringify(value[1]));
        onEntry(key, value[1], stored);
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
