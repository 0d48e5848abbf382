/**
 * The stolen list: written from a cards file with a key, read back as the same card refs; a
 * malformed line, a foreign header or two key ids are refused naming the line, never quoting it.
 */
import t from 'tap';
import { join } from 'node:path';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { CardTokenizer, parseCardRef } from '../src/card-token.js';
import { writeCardsCsv } from '../src/cards-file.js';
import { formatStolenList, readStolenList, STOLEN_LIST_HEADER, stolenRefsOfCardsFile, writeStolenList } from '../src/stolen-list.js';
import { generateCards } from '../../cardgen/src/generate.js';
import { withTempDir } from './helpers.js';

const key = new CardTokenizer('k1', 'stolen-list-test-key-of-32-bytes!!!');

t.test('written from a cards file, read back as the stolen cards refs; no card number in it', async (t) => {
  const dir = await withTempDir(t);
  const rows = generateCards({ count: 2_000, seed: 3, stolenRatio: 0.1 });
  const cardsFile = join(dir, 'cards.csv');
  await writeCardsCsv(cardsFile, rows);
  const refs = await stolenRefsOfCardsFile(cardsFile, key);
  const stolen = rows.filter((r) => r.stolen).map((r) => r.cardNumber);
  t.same(refs.sort(), stolen.map((c) => key.cardRef(c)).sort(), 'one ref per stolen card');
  const path = join(dir, 'stolen-cards.csv');
  await writeStolenList(path, refs);
  t.equal((await stat(path)).mode & 0o777, 0o600, 'readable by its owner only');
  const text = await readFile(path, 'utf8');
  t.equal(text.split('\n')[0], STOLEN_LIST_HEADER);
  t.notOk(
    rows.some((r) => text.includes(r.cardNumber)),
    'no card number of the file in the list',
  );
  t.same((await readStolenList(path)).sort(), refs.sort(), 'read back: the same refs');
  for (const ref of refs) t.ok(parseCardRef(ref), 'each a well-formed card ref');
});

t.test('a malformed list is refused, naming the line', async (t) => {
  const dir = await withTempDir(t);
  // Each text through the reader the processor uses (line by line from a file).
  const read = async (text: string) => {
    const path = join(dir, 'x.csv');
    await writeFile(path, text);
    return readStolenList(path);
  };
  const [a, b] = ['4111111111111111', '5555555555554444'].map((c) => key.cardRef(c));
  const good = formatStolenList([a!, b!]);
  const lines = good.trimEnd().split('\n');
  await t.rejects(read(lines.slice(1).join('\n')), { name: 'InputFileError', message: /x\.csv:1: first line must be the header/ });
  await t.rejects(read(''), { name: 'InputFileError', message: /x\.csv:1: first line must be the header/ }, 'an empty file');
  await t.rejects(read(`${lines[0]}\n${lines[1]}\nnot,a,ref\n`), { name: 'InputFileError', message: /x\.csv:3: expected card_key_id/ });
  await t.rejects(read(`${lines[0]}\n${lines[1]!.replace(/,[^,]+,/, ',4111111111111111,')}\n`), { message: /x\.csv:2:/ }, 'a card number in the token column');
  const other = new CardTokenizer('k2', 'another-stolen-list-key-of-32-byte').cardRef('6011111111111117');
  const mixed = formatStolenList([a!]).trimEnd() + '\n' + formatStolenList([other]).trimEnd().split('\n')[1] + '\n';
  await t.rejects(read(mixed), { message: /x\.csv:3: key id k2 differs from line 2's k1/ });
  t.same(await read(good), [a, b], 'the good list reads');
  t.same(await read(good.trimEnd()), [a, b], 'without its last newline too');
  await t.rejects(readStolenList('/nonexistent/stolen.csv'), {
    name: 'InputFileError',
    message: /cannot read the stolen list: no such file \(write one with `npm run stolen-list`\)/,
  });
});
