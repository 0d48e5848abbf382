import t from 'tap';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputFileError } from '../src/errors.js';
import { CARDS_CSV_HEADER, formatCardsCsv, readCardRows, readCardsFile, writeCardsCsv, type CardRow } from '../src/cards-file.js';
import { withTempDir } from './helpers.js';

// Published test numbers, all Luhn-valid.
const VISA = '4111111111111111';
const MC = '5555555555554444';
const AMEX = '378282246310005';
const DISCOVER = '6011111111111117';

const ROWS: CardRow[] = [
  { cardNumber: VISA, network: 'visa', stolen: false },
  { cardNumber: MC, network: 'mastercard', stolen: true },
  { cardNumber: AMEX, network: 'amex', stolen: false },
];

t.test('format: header, one LF-terminated line per card, true/false', async (t) => {
  t.equal(CARDS_CSV_HEADER, 'card_number,network,stolen');
  t.equal(formatCardsCsv(ROWS), 'card_number,network,stolen\n4111111111111111,visa,false\n5555555555554444,mastercard,true\n378282246310005,amex,false\n');
  t.equal(formatCardsCsv([]), 'card_number,network,stolen\n');
});

t.test('write then read round-trips', async (t) => {
  const dir = await withTempDir(t);
  const path = join(dir, 'a', 'b', 'cards.csv');
  t.equal(await writeCardsCsv(path, ROWS), 3);
  t.equal(await readFile(path, 'utf8'), formatCardsCsv(ROWS));
  const { cards, stolen } = await readCardsFile(path);
  t.same(cards, [VISA, MC, AMEX]);
  t.same([...stolen], [MC]);
  const rows = [];
  for await (const row of readCardRows(path)) rows.push(row);
  t.same(
    rows,
    ROWS.map((r, i) => ({ ...r, line: i + 2 })),
    'rows carry their line numbers',
  );
  t.same(await readdir(join(dir, 'a', 'b')), ['cards.csv'], 'no temp file left');
});

t.test('writer streams a lazy iterable in chunks and reports progress', async (t) => {
  const dir = await withTempDir(t);
  const path = join(dir, 'cards.csv');
  function* many() {
    for (let i = 0; i < 10; i++) yield ROWS[i % 3]!;
  }
  const progress: number[] = [];
  t.equal(await writeCardsCsv(path, many(), { chunkRows: 4, onProgress: (n) => progress.push(n) }), 10);
  t.same(progress, [4, 8, 10]);
  t.equal((await readFile(path, 'utf8')).split('\n').length, 12);
});

t.test('an aborted or failing write leaves the old file and no temp file', async (t) => {
  const dir = await withTempDir(t);
  const path = join(dir, 'cards.csv');
  await writeFile(path, 'previous\n');
  const controller = new AbortController();
  function* rows() {
    for (let i = 0; i < 100; i++) {
      if (i === 50) controller.abort();
      yield ROWS[0]!;
    }
  }
  await t.rejects(writeCardsCsv(path, rows(), { chunkRows: 10, signal: controller.signal }));
  function* throwing(): Generator<CardRow> {
    yield ROWS[0]!;
    throw new Error('generator broke');
  }
  await t.rejects(writeCardsCsv(path, throwing()), /generator broke/);
  t.equal(await readFile(path, 'utf8'), 'previous\n');
  t.same(await readdir(dir), ['cards.csv']);
});

t.test('reader accepts a header-only file and a last line without LF', async (t) => {
  const dir = await withTempDir(t);
  const empty = join(dir, 'empty.csv');
  await writeFile(empty, 'card_number,network,stolen\n');
  t.same(await readCardsFile(empty), { cards: [], stolen: new Set() });
  const noLf = join(dir, 'nolf.csv');
  await writeFile(noLf, `card_number,network,stolen\n${VISA},visa,true`);
  t.same(await readCardsFile(noLf), { cards: [VISA], stolen: new Set([VISA]) });
});

t.test('each malformed file names the file, the line and the problem', async (t) => {
  const dir = await withTempDir(t);
  const H = CARDS_CSV_HEADER;
  const cases: [string, string, string][] = [
    ['empty file', '', '1: empty file; expected the header'],
    ['wrong header', 'card,network,stolen\n', "1: first line must be the header 'card_number,network,stolen'; found something else"],
    ['missing header', `${VISA},visa,false\n`, '1: first line must be the header'],
    ['byte-order mark', `\ufeff${H}\n`, '1: first line must be the header'],
    ['CRLF', `${H}\r\n${VISA},visa,false\r\n`, '1: line ends in CR'],
    ['CRLF in a row', `${H}\n${VISA},visa,false\r\n`, '2: line ends in CR'],
    ['empty line', `${H}\n${VISA},visa,false\n\n${MC},mastercard,false\n`, '3: empty line'],
    ['two fields', `${H}\n${VISA},visa,false\n${MC},true\n`, '3: expected 3 fields (card_number,network,stolen), found 2'],
    ['four fields', `${H}\n${VISA},visa,false,x\n`, '2: expected 3 fields (card_number,network,stolen), found 4'],
    ['one field', `${H}\n${VISA}\n`, '2: expected 3 fields (card_number,network,stolen), found 1'],
    ['letter in number', `${H}\n4111-1111-1111-1111,visa,false\n`, '2: card number must be 12 to 19 digits, found a character that is not a digit'],
    ['spaces around number', `${H}\n ${VISA},visa,false\n`, '2: card number must be 12 to 19 digits, found a character that is not a digit'],
    ['too short', `${H}\n41111111116,visa,false\n`, '2: card number must be 12 to 19 digits, found 11'],
    ['too long', `${H}\n41111111111111111113,visa,false\n`, '2: card number must be 12 to 19 digits, found 20'],
    ['empty number', `${H}\n,visa,false\n`, '2: card number must be 12 to 19 digits, found 0'],
    ['Luhn', `${H}\n${VISA},visa,false\n${MC},mastercard,false\n4111111111111112,visa,false\n`, '4: card number fails the Luhn check'],
    ['empty network', `${H}\n${VISA},,false\n`, "2: network must be a lower-case name, found ''"],
    ['upper-case network', `${H}\n${VISA},VISA,false\n`, "2: network must be a lower-case name, found 'VISA'"],
    ['stolen yes', `${H}\n${VISA},visa,yes\n`, "2: stolen must be 'true' or 'false', found 'yes'"],
    ['stolen TRUE', `${H}\n${VISA},visa,TRUE\n`, "2: stolen must be 'true' or 'false', found 'TRUE'"],
    ['stolen empty', `${H}\n${VISA},visa,\n`, "2: stolen must be 'true' or 'false', found ''"],
    ['stolen last line without LF', `${H}\n${VISA},visa,true\n${MC},mastercard,1`, "3: stolen must be 'true' or 'false', found '1'"],
    ['no line breaks', `${H}\n${VISA},visa,false\n${'x'.repeat(2 << 20)}`, '3: line longer than 1024 characters'],
    ['duplicate', `${H}\n${VISA},visa,false\n${MC},mastercard,false\n${DISCOVER},discover,false\n${MC},mastercard,true\n`, '5: card number repeats line 3'],
  ];
  for (const [name, content, expected] of cases) {
    const path = join(dir, `${name.replace(/\W+/g, '-')}.csv`);
    await writeFile(path, content);
    const error = await readCardsFile(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(error, InputFileError, name);
    t.equal((error as InputFileError | undefined)?.code, 'INPUT_FILE', name);
    t.equal((error as Error | undefined)?.message.slice(0, path.length + 1 + expected.length), `${path}:${expected}`, name);
    t.notMatch((error as Error | undefined)?.message ?? '', /4111111111111111|5555555555554444/, `${name}: no card number in the message`);
  }
});

t.test('line numbers stay right across read chunks of a large file', async (t) => {
  const dir = await withTempDir(t);
  const path = join(dir, 'big.csv');
  // ~2.4 MB: spans several 1 MiB reads. Valid 16-digit numbers built from a counter.
  const lines = [CARDS_CSV_HEADER];
  for (let i = 0; i < 100_000; i++) {
    const payload = '4' + String(i).padStart(14, '0');
    lines.push(`${payload}${checkDigit(payload)},visa,${i % 10 === 0}`);
  }
  await writeFile(path, lines.join('\n') + '\n');
  const ok = await readCardsFile(path);
  t.equal(ok.cards.length, 100_000);
  t.equal(ok.stolen.size, 10_000);
  // Break line 87 654 (row 87 653, 0-based in lines[]): flip its check digit.
  const n = 87_653;
  const row = lines[n]!;
  const wrong = String((Number(row[15]) + 1) % 10);
  lines[n] = row.slice(0, 15) + wrong + row.slice(16);
  await writeFile(path, lines.join('\n') + '\n');
  await t.rejects(readCardsFile(path), { name: 'InputFileError', message: `${path}:${n + 1}: card number fails the Luhn check` });
});

t.test('a missing file or a directory gets a clear message', async (t) => {
  const dir = await withTempDir(t);
  const missing = join(dir, 'nope.csv');
  await t.rejects(readCardsFile(missing), {
    name: 'InputFileError',
    message: `${missing}: cannot read cards file: no such file (generate one with \`npm run cardgen -- --count N\`)`,
  });
  const sub = join(dir, 'sub');
  await mkdir(sub);
  await t.rejects(readCardsFile(sub), { name: 'InputFileError', message: `${sub}: cannot read cards file: it is a directory` });
});

/** Luhn check digit, written independently of common/src/luhn.ts. */
function checkDigit(payload: string): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    let d = Number(payload[payload.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

t.test('an s3:// cards file is read from S3, with the same rules and clear errors', async (t) => {
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  const { withS3 } = await import('./helpers.js');
  const s3 = await withS3(t, ['reference-data']);
  const rows = [
    { cardNumber: '4539578763621486', network: 'visa', stolen: true },
    { cardNumber: '5555555555554444', network: 'mastercard', stolen: false },
  ];
  await s3.client.send(new PutObjectCommand({ Bucket: 'reference-data', Key: 'cards/cards.csv', Body: formatCardsCsv(rows) }));
  const read = await readCardsFile('s3://reference-data/cards/cards.csv', { s3: s3.client });
  t.same(
    read.cards,
    rows.map((r) => r.cardNumber),
  );
  t.same([...read.stolen], ['4539578763621486']);

  await s3.client.send(
    new PutObjectCommand({
      Bucket: 'reference-data',
      Key: 'cards/bad.csv',
      Body: 'card_number,network,stolen\n4539578763621487,visa,true\n',
    }),
  );
  await t.rejects(readCardsFile('s3://reference-data/cards/bad.csv', { s3: s3.client }), {
    name: 'InputFileError',
    message: 's3://reference-data/cards/bad.csv:2: card number fails the Luhn check',
  });
  await t.rejects(readCardsFile('s3://reference-data/cards/none.csv', { s3: s3.client }), {
    name: 'InputFileError',
    message: /s3:\/\/reference-data\/cards\/none\.csv: cannot read cards file: no such S3 object \(NoSuchKey\)/,
  });
  await t.rejects(readCardsFile('s3://reference-data/cards/cards.csv'), { name: 'InputFileError', message: /needs an S3 client/ });
});
