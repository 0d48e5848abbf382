/** The snapshot object format: names that list in sequence order, bytes that round-trip, and every kind of damage refused. */
import t from 'tap';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SnapshotError } from '../../src/snapshot/errors.js';
import { decodeSnapshot, encodeSnapshot, parseSnapshotKey, readSnapshot, snapshotHeader, snapshotKey, type SnapshotRef } from '../../src/snapshot/format.js';

const checkpoint = {
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
  watermarkMs: 1_700_000_000_000,
  shardEnd: false,
  stateId: 'line-a',
};
const header = snapshotHeader('payments', 'shardId-000000000001', checkpoint, 1_700_000_001_000);
const refOf = (c = checkpoint): SnapshotRef => ({
  key: snapshotKey('snapshots/', 'payments', 'shardId-000000000001', c.stateId, c.sequenceNumber),
  shardId: 'shardId-000000000001',
  stateId: c.stateId,
  sequenceNumber: c.sequenceNumber,
});
async function* stored(entries: Array<[string, unknown]>): AsyncGenerator<[string, string]> {
  for (const [k, v] of entries) yield [k, JSON.stringify(v)];
}
const entries: Array<[string, unknown]> = [
  ['meta', { version: 2, watermarkMs: 5 }],
  ['panes/0000000000010/0000000000000', { '4111111111111111': { count: 1, merchants: ['m "quoted"\n'] } }],
  ['win/0000000000005/0000000000006/p1', [{ id: 'p1', amount: 12.5 }]],
  ['x/ünïcode/\u{1f600}', null],
];

t.test('keys: one line of state lists oldest first, and every key parses back', async (t) => {
  const seqs = ['9', '10', '49590338271490256608559692538361571095921575989136588898', '100'];
  const keys = seqs.map((s) => snapshotKey('snapshots/', 'payments', 'shardId-000000000001', 'line-a', s));
  const sorted = [...keys].sort();
  t.same(
    sorted.map((k) => parseSnapshotKey('snapshots/', 'payments', k)!.sequenceNumber),
    [...seqs].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)),
    'lexicographic order of the keys is numeric order of the sequence numbers',
  );
  t.same(parseSnapshotKey('snapshots/', 'payments', keys[0]!), { key: keys[0], shardId: 'shardId-000000000001', stateId: 'line-a', sequenceNumber: '9' });
  t.equal(parseSnapshotKey('snapshots/', 'other', keys[0]!), undefined, 'another stream');
  t.equal(parseSnapshotKey('snapshots/', 'payments', 'snapshots/payments/shardId-1/line-a/12.ndjson.gz'), undefined, 'unpadded');
  t.equal(parseSnapshotKey('snapshots/', 'payments', `${keys[0]}.tmp`), undefined);
  t.throws(() => snapshotHeader('payments', 's', { ...checkpoint, sequenceNumber: null }, 0), TypeError, 'a checkpoint before any record has no snapshot');
});

t.test('bytes round-trip: header, every entry as stored, in order', async (t) => {
  const { body, entries: n } = await encodeSnapshot(header, stored(entries));
  t.equal(n, entries.length);
  const back = await decodeSnapshot(refOf(), Readable.from([body]));
  t.same(back.header, header);
  t.same(back.entries, entries);
  const empty = await encodeSnapshot(header, stored([]));
  t.same((await decodeSnapshot(refOf(), Readable.from([empty.body]))).entries, [], 'an empty state is a snapshot too');
});

t.test('entries under the `unparsed` prefix come as their stored JSON text, not parsed; the others as before', async (t) => {
  const withOddKey: Array<[string, unknown]> = [...entries, ['panes/with "quote"', 1]];
  const { body } = await encodeSnapshot(header, stored(withOddKey));
  const seen: Array<[string, unknown, Buffer]> = [];
  await readSnapshot(refOf(), Readable.from([body]), (key, value, json) => seen.push([key, value, json]), { unparsed: 'panes/' });
  t.same(
    seen.map(([key, value]) => [key, value === undefined ? 'unparsed' : 'parsed']),
    [
      ['meta', 'parsed'],
      ['panes/0000000000010/0000000000000', 'unparsed'],
      ['win/0000000000005/0000000000006/p1', 'parsed'],
      ['x/ünïcode/\u{1f600}', 'parsed'],
      ['panes/with "quote"', 'parsed'],
    ],
    'a key that needs escaping is parsed the usual way',
  );
  t.same(JSON.parse(seen[1]![2].toString()), entries[1]![1], 'the bytes left unparsed are the value as stored');
  t.same(
    seen.filter(([, value]) => value !== undefined).map(([, , json]) => JSON.parse(json.toString())),
    seen.filter(([, value]) => value !== undefined).map(([, value]) => value),
    'and each parsed entry comes with its value as stored, multi-byte characters and escapes included',
  );
});

t.test('damage of every kind is refused with SNAPSHOT_INVALID', async (t) => {
  const { body } = await encodeSnapshot(header, stored(entries));
  const text = gunzipSync(body).toString('utf8');
  const lines = text.trimEnd().split('\n');
  const regzip = (s: string) => gzipSync(Buffer.from(s));
  const cases: Array<[string, Buffer, SnapshotRef, RegExp]> = [
    ['cut short (bytes)', body.subarray(0, body.length - 9), refOf(), /unreadable|trailer/],
    ['no trailer', regzip(`${lines.slice(0, -1).join('\n')}\n`), refOf(), /no trailer/],
    ['an entry missing', regzip(`${[...lines.slice(0, 2), ...lines.slice(3)].join('\n')}\n`), refOf(), /trailer says 4 entries, 3/],
    ['a line not JSON', regzip(`${lines[0]}\n[oops\n${lines.at(-1)}\n`), refOf(), /not JSON/],
    ['data after the trailer', regzip(`${text}["k",1]\n`), refOf(), /after the trailer/],
    ['another format', regzip(text.replace('payments-shard-snapshot', 'other')), refOf(), /bad header/],
    ['a name it does not match', body, refOf({ ...checkpoint, stateId: 'line-b' }), /does not match its name/],
    ['not gzip', Buffer.from(text), refOf(), /unreadable/],
  ];
  for (const [what, bytes, ref, message] of cases) {
    const error = await decodeSnapshot(ref, Readable.from([bytes])).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof SnapshotError && error.code === 'SNAPSHOT_INVALID', `${what}: refused as SNAPSHOT_INVALID`);
    t.match((error as Error | undefined)?.message, message, `${what}: says why`);
  }
});
