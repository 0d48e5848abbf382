/**
 * The cards file: the one CSV that cardgen writes and the simulator and processor read. It is read
 * from a path, or, in AWS, from an S3 object (`s3://bucket/key`, given an S3 client).
 *
 *   card_number,network,stolen
 *   4539578763621486,visa,false
 *
 * UTF-8, LF line endings, exactly that header, one card per line, no quoting (no field can hold a
 * comma). `card_number` is 12-19 ASCII digits and Luhn-valid, `network` a non-empty lower-case name
 * (cardgen's network table), `stolen` exactly `true` or `false`. A card number appears once.
 * Documented in docs/cardgen.md; the format lives only here.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { getObjectStream, parseS3Uri } from './s3.js';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputFileError } from './errors.js';
import { isLuhnValid } from './luhn.js';
import { ownString } from './strings.js';

export const CARDS_CSV_HEADER = 'card_number,network,stolen';

export interface CardRow {
  cardNumber: string;
  network: string;
  stolen: boolean;
}

/** The rows as CSV lines, each ending in LF, without the header. */
export function formatCardRows(rows: readonly CardRow[]): string {
  const lines = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    lines[i] = r.cardNumber + ',' + r.network + (r.stolen ? ',true\n' : ',false\n');
  }
  return lines.join('');
}

/** A whole cards file as a string: header plus rows. */
export function formatCardsCsv(rows: readonly CardRow[]): string {
  return CARDS_CSV_HEADER + '\n' + formatCardRows(rows);
}

export interface WriteCardsOptions {
  /** Rows per write; bigger chunks mean fewer syscalls. */
  chunkRows?: number;
  /** Called after each chunk reaches the file, with the number of rows written so far. */
  onProgress?: (rowsWritten: number) => void;
  /** Aborting stops between chunks; the temp file is removed and the target left untouched. */
  signal?: AbortSignal;
}

/**
 * Writes rows to `path` atomically: into a temp file beside it, fsync, then rename over the target,
 * so a reader (or a killed run) never sees half a file. Creates the directory. `rows` may be a lazy
 * iterable: it is consumed chunk by chunk, so the whole file is never one string in memory.
 * Returns the number of rows written.
 */
export async function writeCardsCsv(path: string, rows: Iterable<CardRow>, options: WriteCardsOptions = {}): Promise<number> {
  const chunkRows = options.chunkRows ?? 65_536;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  // Same directory as the target, so rename stays on one filesystem and is atomic.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const file = await open(tmp, 'wx');
  let written = 0;
  let closed = false;
  try {
    await file.write(CARDS_CSV_HEADER + '\n');
    let chunk: CardRow[] = [];
    for (const row of rows) {
      chunk.push(row);
      if (chunk.length === chunkRows) {
        written = await writeChunk(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) written = await writeChunk(chunk);
    await file.sync();
    await file.close();
    closed = true;
    await rename(tmp, path);
    return written;
  } catch (error) {
    if (!closed) await file.close().catch(() => {});
    await rm(tmp, { force: true });
    throw error;
  }

  async function writeChunk(chunk: CardRow[]): Promise<number> {
    options.signal?.throwIfAborted();
    await file.write(formatCardRows(chunk));
    const total = written + chunk.length;
    options.onProgress?.(total);
    return total;
  }
}

/** One data row as read, with its 1-based line number in the file. */
export interface ReadCardRow extends CardRow {
  line: number;
}

const NETWORK_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const MAX_LINE = 1024;

/**
 * Streams the rows of a cards file in batches (one per read chunk, so the per-row cost stays a
 * plain function call), validating each line; throws InputFileError naming the file and the 1-based
 * line, e.g. `data/cards.csv:17: card number fails the Luhn check`. Messages never quote a card
 * number. Repeated card numbers are not checked here: that needs every number in memory, which
 * `readCardsFile` has anyway.
 */
export async function* readCardRowBatches(path: string, source: CardsSource = {}): AsyncGenerator<ReadCardRow[]> {
  const fail = (line: number, what: string): never => {
    throw new InputFileError(`${path}:${line}: ${what}`);
  };
  let stream: Readable;
  const s3 = parseS3Uri(path);
  if (s3) {
    if (!source.s3) throw new InputFileError(`${path}: an s3:// cards file needs an S3 client (this caller has none)`);
    try {
      stream = (await getObjectStream(source.s3, s3.bucket, s3.key)).setEncoding('utf8');
    } catch (error) {
      throw ioError(path, error);
    }
  } else {
    stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  }
  let lineNo = 0;
  let sawHeader = false;
  // The last network name that passed the check: most lines repeat one of a few names.
  let lastNetwork: string | undefined;
  const parse = (text: string, out: ReadCardRow[]): void => {
    lineNo++;
    if (text.endsWith('\r')) fail(lineNo, 'line ends in CR (CRLF line endings); the format uses LF only');
    if (!sawHeader) {
      if (text !== CARDS_CSV_HEADER) {
        const why = /^\d/.test(text) ? 'the header is missing' : text.charCodeAt(0) === 0xfeff ? 'found a byte-order mark' : 'found something else';
        fail(lineNo, `first line must be the header '${CARDS_CSV_HEADER}'; ${why}`);
      }
      sawHeader = true;
      return;
    }
    if (text === '') fail(lineNo, 'empty line');
    // indexOf rather than split or regexes: this runs a million times for a large file.
    const c1 = text.indexOf(',');
    const c2 = c1 === -1 ? -1 : text.indexOf(',', c1 + 1);
    if (c2 === -1 || text.indexOf(',', c2 + 1) !== -1) {
      fail(lineNo, `expected 3 fields (card_number,network,stolen), found ${text.split(',').length}`);
    }
    const cardNumber = text.slice(0, c1);
    const network = text.slice(c1 + 1, c2);
    const stolen = text.slice(c2 + 1);
    if (c1 < 12 || c1 > 19 || !isLuhnValid(cardNumber)) {
      if (!/^\d*$/.test(cardNumber)) fail(lineNo, 'card number must be 12 to 19 digits, found a character that is not a digit');
      if (c1 < 12 || c1 > 19) fail(lineNo, `card number must be 12 to 19 digits, found ${c1}`);
      fail(lineNo, 'card number fails the Luhn check');
    }
    if (network !== lastNetwork) {
      if (!NETWORK_NAME.test(network)) fail(lineNo, `network must be a lower-case name, found '${clip(network)}'`);
      lastNetwork = network;
    }
    if (stolen !== 'true' && stolen !== 'false') fail(lineNo, `stolen must be 'true' or 'false', found '${clip(stolen)}'`);
    out.push({ cardNumber, network, stolen: stolen === 'true', line: lineNo });
  };

  let rest = '';
  try {
    for await (const chunk of stream) {
      const text = rest + (chunk as string);
      const batch: ReadCardRow[] = [];
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        parse(text.slice(start, nl), batch);
        start = nl + 1;
      }
      rest = text.slice(start);
      // A valid line is under 60 characters; do not buffer a file that has no line breaks.
      if (rest.length > MAX_LINE) fail(lineNo + 1, `line longer than ${MAX_LINE} characters`);
      if (batch.length > 0) yield batch;
    }
  } catch (error) {
    throw error instanceof InputFileError ? error : ioError(path, error);
  } finally {
    stream.destroy();
  }
  const last: ReadCardRow[] = [];
  // A last line without its LF is accepted.
  if (rest !== '') parse(rest, last);
  if (!sawHeader) fail(1, `empty file; expected the header '${CARDS_CSV_HEADER}'`);
  if (last.length > 0) yield last;
}

/** Where a cards file that is not a local path comes from. */
export interface CardsSource {
  /** Reads `s3://bucket/key` cards files. */
  s3?: S3Client;
}

/** Row by row over `readCardRowBatches`. */
export async function* readCardRows(path: string, source: CardsSource = {}): AsyncGenerator<ReadCardRow> {
  for await (const batch of readCardRowBatches(path, source)) yield* batch;
}

export interface CardsFile {
  /** Every card number, in file order. */
  cards: string[];
  /** The card numbers marked stolen. */
  stolen: Set<string>;
}

/**
 * Reads and validates a whole cards file (see `readCardRows` for the per-line checks) and also
 * rejects a card number that appears twice, since its stolen flag would be ambiguous.
 */
export async function readCardsFile(path: string, source: CardsSource = {}): Promise<CardsFile> {
  const cards: string[] = [];
  const stolen = new Set<string>();
  const seen = new Set<string>();
  for await (const batch of readCardRowBatches(path, source)) {
    for (const row of batch) {
      if (seen.has(row.cardNumber)) {
        // Rows sit on consecutive lines after the header (empty lines are rejected).
        const first = cards.indexOf(row.cardNumber) + 2;
        throw new InputFileError(`${path}:${row.line}: card number repeats line ${first}`);
      }
      seen.add(row.cardNumber);
      cards.push(row.cardNumber);
      // Kept for the process's life: not as a view into the file chunk it was read from.
      if (row.stolen) stolen.add(ownString(row.cardNumber));
    }
  }
  return { cards, stolen };
}

/** Why a file or S3 object could not be read, as an InputFileError naming it (`what`: the kind of file). */
export function ioError(path: string, error: unknown, what = 'cards file', hint = 'generate one with `npm run cardgen -- --count N`'): InputFileError {
  const code = (error as NodeJS.ErrnoException).code;
  const name = (error as Error | undefined)?.name;
  const why =
    name === 'NoSuchKey' || name === 'NoSuchBucket'
      ? `no such S3 object (${name})`
      : name === 'AccessDenied'
        ? 'access denied by S3 (does the task role allow s3:GetObject on this object?)'
        : code === 'ENOENT'
          ? `no such file (${hint})`
          : code === 'EISDIR'
            ? 'it is a directory'
            : code === 'EACCES'
              ? 'permission denied'
              : (error as Error).message;
  return new InputFileError(`${path}: cannot read ${what}: ${why}`);
}

/** Quoted file content in a message: short, and never a whole line of data. */
function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + '...' : s;
}
