/**
 * ShardWatch: when an owned shard counts as stuck (liveness), on a fake monotonic clock.
 */
import t from 'tap';
import { ShardWatch } from '../../src/source/shard-watch.js';

const STUCK = 60_000;

function watch() {
  let now = 1_000;
  const w = new ShardWatch(() => now);
  return { w, advance: (ms: number) => void (now += ms) };
}

t.test('a shard is stuck when a send, commit or restore lasts STUCK_AFTER_MS, not a moment before', async (t) => {
  for (const step of ['send', 'commit', 'restore', 'process'] as const) {
    const { w, advance } = watch();
    w.enter(step);
    advance(STUCK - 1);
    t.equal(w.progress(STUCK).stuck, undefined, `${step}: not at ${STUCK - 1} ms`);
    advance(1);
    t.match(w.progress(STUCK).stuck, new RegExp(`step "${step}" has lasted 60.0 s`), `${step}: stuck at ${STUCK} ms`);
    w.enter('read');
    t.equal(w.progress(STUCK).stuck, undefined, `${step}: moving again clears it`);
  }
});

t.test('reading for long is stuck only with input or alerts waiting', async (t) => {
  const { w, advance } = watch();
  w.enter('read');
  w.note(false, false);
  advance(10 * STUCK);
  t.equal(w.progress(STUCK).stuck, undefined, 'an idle shard whose reads fail has nothing owed: waited for, not stuck');
  w.note(true, false);
  t.match(w.progress(STUCK).stuck, /no records read for 600.0 s while behind the tip/);
  w.note(false, true);
  t.match(w.progress(STUCK).stuck, /while holding alerts/);
});

t.test('tasks failing again and again without a commit: stuck after STUCK_AFTER_MS from the first failure', async (t) => {
  const { w, advance } = watch();
  w.committed();
  w.failed(new Error('disk full'));
  for (let i = 0; i < 5; i++) {
    advance(10_000);
    w.enter('restore');
    advance(100);
    w.enter('read');
    w.failed(new Error('disk full'));
  }
  t.equal(w.progress(STUCK).stuck, undefined, '50.5 s of failures: not yet');
  advance(10_000);
  const p = w.progress(STUCK);
  t.match(p.stuck, /6 task failures and no commit for 60.5 s: disk full/);
  t.equal(p.failures, 6);
  t.equal(p.lastError, 'disk full');
  w.committed();
  t.equal(w.progress(STUCK).stuck, undefined, 'a commit that lands clears it');
  t.equal(w.progress(STUCK).failures, 0);
});

t.test('no task for STUCK_AFTER_MS is stuck', async (t) => {
  const { w, advance } = watch();
  advance(STUCK);
  t.match(w.progress(STUCK).stuck, /no task for 60.0 s/);
});

t.test('after a failure, a restore that keeps moving is not stuck; one that stops is', async (t) => {
  const { w, advance } = watch();
  w.committed();
  w.failed(new Error('disk hiccup'));
  w.enter('restore');
  for (let i = 0; i < 30; i++) {
    advance(5_000);
    w.enter('restore'); // each replayed batch
  }
  t.equal(w.progress(STUCK).stuck, undefined, '150 s of a moving rebuild after one failure');
  advance(STUCK);
  t.match(w.progress(STUCK).stuck, /task failures and no commit/, 'a rebuild that stops moving is');
});
