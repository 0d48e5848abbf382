/**
 * The stolen list: what the processor knows of the stolen cards, with no card number in it. Written
 * from the cards file by `npm run stolen-list` (which holds the card token key), read by the
 * processor from a path or, in AWS, an S3 object (`s3://bucket/key`).
 *
 *   card_key_id,card_token,card_masked,card_route
 *   local-1a2b3c4d,3q2-7w…(43),453957******1486,Yb0…(22)
 *
 * UTF-8, LF line endings, exactly that header, one stolen card per line, no quoting. Each line is
 * a card ref's parts (common/src/card-token.ts): the token (HMAC-SHA-256 of the card number), its
 * key's id, the masked form (first 6 and last 4 digits: what lets the processor rule out most
 * payments before it computes an HMAC) and the route (the card's Kinesis hash key, encrypted).
 * Every line has one key id: the list is rewritten when the key rotates. docs/deployment.md.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { basename, dirname, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseCardRef, splitCardRef, type CardTokenizer } from './card-token.js';
import { ioError, readCardRowBatches, type CardsSource } from './cards-file.js';
import { InputFileError } from './errors.js';
import { getObjectStream, parseS3Uri } from './s3.js';

export const STOLEN_LIST_HEADER = 'card_key_id,card_token,card_masked,card_route';

/** The list's text for these card refs. */
export function formatStolenList(refs: Iterable<string>): string {
  const lines = [STOLEN_LIST_HEADER];
  for (const ref of refs) {
    const p = splitCardRef(ref);
    lines.push(`${p.card_key_id},${p.card_token},${p.card_masked},${p.card_route}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The stolen cards of a cards file as card refs of `tokenizer`'s key; `onProgress` gets the rows read so far. */
export async function stolenRefsOfCardsFile(
  cardsPath: string,
  tokenizer: CardTokenizer,
  source: CardsSource = {},
  onProgress?: (rows: number) => void,
): Promise<string[]> {
  const refs = new Set<string>();
  let rows = 0;
  for await (const batch of readCardRowBatches(cardsPath, source)) {
    for (const row of batch) if (row.stolen) refs.add(tokenizer.cardRef(row.cardNumber));
    rows += batch.length;
    onProgress?.(rows);
  }
  return [...refs];
}

/** Writes the list to `path` atomically (a reader sees the old list or the new one, never half). */
export async function writeStolenList(path: string, refs: Iterable<string>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // Beside the target, so the rename stays on one filesystem; readable by its owner only.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const file = await open(tmp, 'wx', 0o600);
  try {
    await file.writeFile(formatStolenList(refs));
    await file.sync();
    await file.close();
    await rename(tmp, path);
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Reads a stolen list from a path or an `s3://` object, line by line as it arrives: read whole, a
 * 10 MB list of 100 000 cards left ~50 MB more resident memory in the processor after it was
 * parsed and dropped (bench "memory"); a list is as long as there are stolen cards. Errors name
 * `path` and the line, never quote a line.
 */
export async function readStolenList(path: string, source: { s3?: S3Client } = {}): Promise<string[]> {
  const s3 = parseS3Uri(path);
  const refs: string[] = [];
  let keyId: string | undefined;
  let n = 0;
  const noHeader = () => new InputFileError(`${path}:1: first line must be the header '${STOLEN_LIST_HEADER}'`);
  try {
    if (s3 && !source.s3) throw new InputFileError(`${path}: an s3:// stolen list needs an S3 client`);
    const input = s3 ? await getObjectStream(source.s3!, s3.bucket, s3.key) : createReadStream(path);
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (++n === 1) {
        if (line !== STOLEN_LIST_HEADER) throw noHeader();
        continue;
      }
      const fields = line.split(',');
      // The line's fields joined as a card ref, checked once by parseCardRef (the one definition).
      const ref = fields.length === 4 ? `${fields[1]}:${fields[2]}:${fields[3]}:${fields[0]}` : '';
      const parts = parseCardRef(ref);
      if (!parts)
        throw new InputFileError(
          `${path}:${n}: expected card_key_id,card_token,card_masked,card_route (a token of 43 base64url characters, a masked number, a route of 22)`,
        );
      keyId ??= parts.card_key_id;
      if (parts.card_key_id !== keyId) throw new InputFileError(`${path}:${n}: key id ${parts.card_key_id} differs from line 2's ${keyId}: a list has one key`);
      refs.push(ref);
    }
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    throw ioError(path, error, 'the stolen list', 'write one with `npm run stolen-list`');
  }
  if (n === 0) throw noHeader();
  return refs;
}
