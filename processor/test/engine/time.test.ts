import t from 'tap';
import { floorTo, iso } from '../../src/engine/time.js';

t.test('iso(t) is the ISO-8601 UTC text of an instant, milliseconds included', async (t) => {
  t.equal(iso(0), '1970-01-01T00:00:00.000Z');
  t.equal(iso(Date.UTC(2024, 1, 29, 23, 59, 59, 999)), '2024-02-29T23:59:59.999Z', 'a leap day');
  t.equal(iso(Date.UTC(2026, 10, 27, 12, 0, 10)), '2026-11-27T12:00:10.000Z');
  t.equal(iso(-1), '1969-12-31T23:59:59.999Z', 'before the epoch');
});

t.test('floorTo: the start of the epoch-aligned interval holding t', async (t) => {
  t.equal(floorTo(10_000, 5_000), 10_000, 'a start is its own interval');
  t.equal(floorTo(9_999, 5_000), 5_000);
  t.equal(floorTo(0, 5_000), 0);
  t.equal(floorTo(-1, 5_000), -5_000, 'before the epoch, downwards');
});
