import t from 'tap';
import { Pacer } from '../src/pacer.js';

/** Drives a pacer like the loop does, taking everything due at each clock reading. */
function issueTimes(pacer: Pacer, clock: number[]): number[] {
  const times: number[] = [];
  for (const now of clock) {
    const n = pacer.due(now);
    for (let i = 0; i < n; i++) times.push(now);
    pacer.take(n);
  }
  return times;
}

t.test('event i is due at start + i / rate, exactly', async (t) => {
  const p = new Pacer(4, 1000);
  t.equal(p.due(999), 0, 'nothing before the start');
  t.equal(p.waitMs(999), 1);
  t.equal(p.due(1000), 1, 'the first event at the start');
  p.take(1);
  t.equal(p.waitMs(1000), 250);
  t.equal(p.due(1249), 0);
  t.equal(p.due(1250), 1);
  p.take(1);
  t.equal(p.due(1760), 2, 'a late wake-up finds both due events');
  p.take(2);
  t.equal(p.waitMs(1760), 240, 'and the next one keeps its slot: no drift');
  t.same(
    [0, 1, 2, 3, 4].map((i) => p.dueAt(i)),
    [1000, 1250, 1500, 1750, 2000],
  );
});

t.test('1 ms ticks at 1000/s and a jittery clock give the same count over 10 s', async (t) => {
  const ticks = Array.from({ length: 10_000 }, (_, i) => i);
  t.equal(issueTimes(new Pacer(1000, 0), ticks).length, 10_000);
  // Wake-ups 0..7 ms late: the count stays exact, nothing accumulates.
  const jitter = Array.from({ length: 2_000 }, (_, i) => i * 5 + ((i * 7919) % 8));
  const times = issueTimes(new Pacer(100, 0), jitter);
  const last = jitter[jitter.length - 1]!;
  t.equal(times.length, Math.floor(last / 10) + 1, 'exactly one event per 10 ms elapsed');
});

t.test('fractional rates do not lose events to rounding', async (t) => {
  const p = new Pacer(3, 0);
  const times = issueTimes(
    p,
    Array.from({ length: 3001 }, (_, i) => i),
  );
  t.same(times.slice(0, 4), [0, 334, 667, 1000]);
  t.equal(times.length, 10, '0..3000 ms at 3/s is 10 events');
});

t.test('max rate is never paced', async (t) => {
  const p = new Pacer('max', 0);
  t.equal(p.due(0), Infinity);
  t.equal(p.waitMs(0), 0);
});

t.test('a long stall is made up only up to maxLagMs', async (t) => {
  const p = new Pacer(100, 0, { maxLagMs: 1000 });
  t.equal(p.due(0), 1);
  p.take(1);
  t.equal(p.due(5000), 101, 'a 5 s stall catches up 1 s worth (100) plus the event due now');
  t.equal(p.skippedMs, 3990);
  p.take(101);
  t.equal(p.due(5005), 0);
  t.equal(p.due(5010), 1, 'then the normal schedule resumes');
  t.throws(() => new Pacer(0, 0), RangeError);
});
