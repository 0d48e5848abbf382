import t from 'tap';
import { iso } from '../../src/engine/types.js';

const MAX = 253_402_300_800_000; // 10000-01-01T00:00:00.000Z, the first instant Date formats with 6 digits

t.test('iso(t) is Date#toISOString, for random instants of every year it formats itself', async (t) => {
  let seed = 3;
  const next = (): number => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
  const wrong: string[] = [];
  for (let i = 0; i < 50_000; i++) {
    const ms = Math.floor(next() * MAX);
    if (iso(ms) !== new Date(ms).toISOString()) wrong.push(`${ms}`);
  }
  t.same(wrong.slice(0, 5), []);
});

t.test('edges: day and year ends, leap days, the last formatted instant, and values left to Date', async (t) => {
  const values = [
    0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000,
    Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(2000, 1, 29, 12), Date.UTC(2100, 1, 28, 23, 59, 59, 999), Date.UTC(2100, 2, 1),
    Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), MAX - 1,
    // Not formatted here: before 1970, from year 10000 on, fractions.
    -1, -86_400_001, MAX, MAX + 86_400_000, 1.5, 1_764_230_400_000.25,
  ];
  for (const ms of values) t.equal(iso(ms), new Date(ms).toISOString(), `${ms}`);
});

t.test('the day kept from one call to the next is never reused for another day', async (t) => {
  const day = 86_400_000;
  const base = Date.UTC(2026, 10, 27);
  // Alternating days, the same time of day, and back: each must carry its own date.
  const times = [base + 5, base + day + 5, base + 5, base - day + 5, base + 400 * day + 5, base + 5, base + day - 1, base + day];
  t.same(times.map(iso), times.map((ms) => new Date(ms).toISOString()));
});
