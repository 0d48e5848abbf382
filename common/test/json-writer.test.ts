import t from 'tap';
import { JsonWriter } from '../src/json-writer.js';

const written = (write: (w: JsonWriter) => void): string => {
  const w = new JsonWriter();
  write(w);
  return w.since(0).toString('utf8');
};

t.test('number() is String(n) for integers of every length, fractions, negatives and huge values', async (t) => {
  const values = [
    0,
    -0,
    1,
    9,
    10,
    99,
    100,
    1234567,
    1_764_230_400_000,
    2 ** 31,
    2 ** 32 + 1,
    Number.MAX_SAFE_INTEGER,
    2 ** 53,
    1e21,
    1.5,
    0.1 + 0.2,
    12.34,
    -1,
    -12.5,
    5e-7,
  ];
  for (let p = 1; p < 1e16; p *= 10) values.push(p - 1, p, p + 1);
  for (const n of values)
    t.equal(
      written((w) => w.number(n)),
      String(n),
      `${n}`,
    );
});

t.test('number() is String(n) for amounts with up to two decimals and for numbers near them', async (t) => {
  const values = [
    0.01,
    0.1,
    0.29,
    0.3,
    1.005,
    1.1,
    12.34,
    12.5,
    99.99,
    100.01,
    123_456_789.99,
    999_999_999_999.99,
    9_999_999_999_999.99,
    1e13 + 0.5,
    0.1 + 0.2,
    1 / 3,
    12.345,
    0.001,
    5e-7,
  ];
  // A seeded walk over hundredths of every magnitude.
  let seed = 7;
  const next = (): number => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 20_000; i++) values.push(Math.floor(next() * 10 ** Math.floor(next() * 15)) / 100);
  const wrong = values.filter((n) => written((w) => w.number(n)) !== String(n));
  t.same(wrong, [], `${values.length} numbers`);
});

t.test('number() writes NaN and the infinities as JSON.stringify does: null', async (t) => {
  for (const n of [NaN, Infinity, -Infinity])
    t.equal(
      written((w) => w.number(n)),
      JSON.stringify(n),
      `${n}`,
    );
});

t.test('string() is JSON.stringify for plain, quoted, escaped, control and non-ASCII text', async (t) => {
  for (const s of ['', 'm-1', 'shop "quoted"', 'back\\slash', 'line\nbreak', '\u0000\u001f', '\u007f', 'ünïcödé', '\u2028sep', '😀', 'a'.repeat(3000)]) {
    // Named by its escaped form: a raw U+2028 in a test name breaks the TAP stream.
    t.equal(
      written((w) => w.string(s)),
      JSON.stringify(s),
      encodeURIComponent(s).slice(0, 40),
    );
  }
});

t.test('ascii() falls back to UTF-8 for a string that is not ASCII', async (t) => {
  t.equal(
    written((w) => w.ascii('plain')),
    'plain',
  );
  t.equal(
    written((w) => w.ascii('café')),
    'café',
  );
});

t.test('a view taken before the buffer grows keeps its bytes', async (t) => {
  const w = new JsonWriter(1024);
  const views: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const start = w.pos;
    w.byte(0x5b);
    w.number(i);
    w.byte(0x2c);
    w.string(`item ${i} ${'x'.repeat(i)}`);
    w.byte(0x5d);
    views.push(w.since(start));
  }
  t.ok(w.buf.length > 1024, 'the buffer grew');
  const wrong = views.filter((v, i) => v.toString() !== JSON.stringify([i, `item ${i} ${'x'.repeat(i)}`])).length;
  t.equal(wrong, 0, 'every earlier view still reads as written');
});
