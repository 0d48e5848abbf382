import t from 'tap';
import { takeBatch } from '../src/producer-batch.js';

const q = (...specs: Array<[name: string, key?: string, bytes?: number]>) => specs.map(([name, orderKey, bytes]) => ({ name, orderKey, bytes: bytes ?? 1 }));
const names = (es: Array<{ name: string }>) => es.map((e) => e.name);

t.test('takeBatch: one record per order key, none of a held key, the rest in queue order', async (t) => {
  const queue = q(['a1', 'a'], ['b1', 'b'], ['a2', 'a'], ['x'], ['c1', 'c'], ['b2', 'b']);
  const r = takeBatch(queue, new Set(['c']), 500, 1_000);
  t.same(names(r.batch), ['a1', 'b1', 'x'], 'a second record of a key waits, as does a held key');
  t.same(names(r.queue), ['a2', 'c1', 'b2'], 'skipped records stay, in their order');
  t.equal(r.bytes, 3);
});

t.test('takeBatch: the batch limits end it; with nothing skipped the queue is shortened in place', async (t) => {
  const queue = q(['r1', undefined, 4], ['r2', undefined, 4], ['r3', undefined, 4]);
  const bytes = takeBatch(queue, new Set(), 500, 9);
  t.same(names(bytes.batch), ['r1', 'r2'], 'the record that does not fit ends the batch');
  t.equal(bytes.queue, queue, 'the same array');
  t.same(names(queue), ['r3']);
  const count = takeBatch(q(['s1'], ['s2'], ['s3']), new Set(), 2, 1_000);
  t.same([names(count.batch), names(count.queue)], [['s1', 's2'], ['s3']]);
  t.same(names(takeBatch(q(['big', undefined, 50]), new Set(), 500, 10).batch), ['big'], 'a first record always goes');
  t.same(takeBatch(q(['h', 'k']), new Set(['k']), 500, 10).batch, [], 'empty only when every record is skipped');
});
