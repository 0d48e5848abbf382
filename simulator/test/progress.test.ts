import t from 'tap';
import { Progress, type ProgressSnapshot } from '../src/progress.js';

function setup(isTTY: boolean) {
  let now = 0;
  const snap: ProgressSnapshot = { generated: 0, sent: 0, retried: 0, throttles: 0, errors: 0, buffered: 0 };
  const out: string[] = [];
  const progress = new Progress({ write: (s) => out.push(s), isTTY, snapshot: () => ({ ...snap }), now: () => now });
  const advance = (ms: number, sent: number) => {
    now += ms;
    snap.sent += sent;
    snap.generated += sent;
    progress.tick();
  };
  return { progress, out, advance, snap };
}

t.test('on a terminal the line is redrawn in place each tick', async (t) => {
  const { progress, out, advance } = setup(true);
  progress.start();
  advance(1000, 100);
  advance(1000, 100);
  t.equal(out.length, 2);
  t.match(out[1], /^\rsimulator: 100\.0 ev\/s .*generated 200 \| sent 200 \| retried 0 .*\x1b\[K$/);
  progress.stop();
  t.equal(out[out.length - 1], '\n', 'stop ends the line');
});

t.test('elsewhere a line every 5 s; the rate covers the last 5 s', async (t) => {
  const { progress, out, advance } = setup(false);
  progress.start();
  for (let i = 0; i < 4; i++) advance(1000, 50);
  t.equal(out.length, 0);
  advance(1000, 50);
  t.equal(out.length, 1);
  t.match(out[0], /^simulator: 50\.0 ev\/s .*\n$/);
  for (let i = 0; i < 5; i++) advance(1000, 200);
  t.match(out[1], /^simulator: 200\.0 ev\/s/, 'older samples have left the window');
  t.equal(progress.rate(), 200);
  progress.stop();
  t.equal(out.length, 2, 'no newline to end when nothing was drawn in place');
});
