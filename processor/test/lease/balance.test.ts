import t from 'tap';
import { planRebalance, parentsFinished, type BalanceInput } from '../../src/lease/balance.js';
import type { Lease } from '../../src/lease/types.js';
import { seeded } from './helpers.js';

function lease(key: string, owner?: string, extra: Partial<Lease> = {}): Lease {
  return {
    leaseKey: key,
    leaseOwner: owner,
    leaseCounter: 1,
    checkpoint: 'TRIM_HORIZON',
    ownerSwitchesSinceCheckpoint: 0,
    parentShardIds: [],
    childShardIds: [],
    checkpointWatermarkMs: undefined,
    checkpointAtMs: undefined,
    checkpointStateId: undefined,
    ...extra,
  };
}

function plan(leases: Lease[], me: string, extra: Partial<BalanceInput> = {}) {
  return planRebalance({
    leases,
    me,
    held: new Set(leases.filter((l) => l.leaseOwner === me).map((l) => l.leaseKey)),
    expired: () => false,
    readable: () => true,
    random: seeded(1),
    ...extra,
  });
}

t.test('a lone worker takes every free lease; finished ones never', async (t) => {
  const p = plan([lease('a'), lease('b'), lease('c', undefined, { checkpoint: 'SHARD_END' }), lease('d', 'gone', { checkpoint: 'SHARD_END' })], 'me');
  t.same(p.take.map((l) => l.leaseKey).sort(), ['a', 'b']);
  t.equal(p.steal, undefined);
  t.equal(p.workers, 1, 'the owner of a finished lease is not a worker');
});

t.test('takes stop at the target, and nothing is stolen while leases are free', async (t) => {
  const leases = [lease('a', 'x'), lease('b', 'x'), lease('c', 'x'), lease('d'), lease('e'), lease('f')];
  const p = plan(leases, 'me');
  t.equal(p.workers, 2);
  t.equal(p.target, 3);
  t.equal(p.take.length, 3);
  t.equal(p.steal, undefined);
  const q = plan([...leases, lease('g', 'me'), lease('h', 'me')], 'me');
  t.equal(q.take.length, 2, 'holding 2 of target 4, it takes 2');
  t.equal(q.steal, undefined, 'free leases left: no steal even though x holds more');
});

t.test('an expired lease is available and its owner is not counted as a worker', async (t) => {
  const leases = [lease('a', 'dead'), lease('b', 'dead'), lease('c', 'me')];
  const p = plan(leases, 'me', { expired: (l) => l.leaseOwner === 'dead' });
  t.equal(p.workers, 1);
  t.same(p.take.map((l) => l.leaseKey).sort(), ['a', 'b']);
});

t.test('a lease naming me that I do not hold (restart under the same id) is available at once', async (t) => {
  const p = plan([lease('a', 'me')], 'me', { held: new Set() });
  t.same(
    p.take.map((l) => l.leaseKey),
    ['a'],
  );
});

t.test('steals one lease from the busiest worker, and only when the gap is 2 or more', async (t) => {
  const leases = [lease('a', 'x'), lease('b', 'x'), lease('c', 'x'), lease('d', 'y'), lease('e', 'y'), lease('f', 'me')];
  const p = plan(leases, 'me');
  t.equal(p.target, 2);
  t.equal(p.steal?.from, 'x');
  t.ok(['a', 'b', 'c'].includes(p.steal!.lease.leaseKey));
  t.same(p.take, []);
  const even = [lease('a', 'x'), lease('b', 'x'), lease('c', 'y'), lease('d', 'me')];
  t.equal(plan(even, 'me').steal, undefined, '2/1/1 is even enough (spread 1)');
});

t.test('unreadable leases (children of unfinished parents) are neither taken nor counted', async (t) => {
  const leases = [lease('p', 'x'), lease('c1', undefined, { parentShardIds: ['p'] }), lease('c2', undefined, { parentShardIds: ['p'] })];
  const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
  const p = plan(leases, 'me', { readable: (l) => parentsFinished(l, byKey) });
  t.same(p.take, []);
  t.equal(p.steal, undefined, 'one countable lease, two workers: nobody steals for children not yet readable');
  t.equal(p.target, 1);
});

t.test('parentsFinished: a missing parent lease counts as finished', async (t) => {
  const parent = lease('p', 'x', { checkpoint: 'SHARD_END' });
  const child = lease('c', undefined, { parentShardIds: ['p', 'trimmed'] });
  t.ok(parentsFinished(child, new Map([['p', parent]])));
  t.notOk(parentsFinished(child, new Map([['p', { ...parent, checkpoint: '123' }]])));
});

/**
 * Applies the plans of randomly sized fleets in rounds, in memory, and checks the claims: at most
 * one steal per worker per round, and a state where nobody moves has a spread of at most one.
 */
t.test('simulated fleets converge to within one lease of an even split', async (t) => {
  const random = seeded(42);
  for (let trial = 0; trial < 200; trial++) {
    const workers = 1 + Math.floor(random() * 7);
    const count = 1 + Math.floor(random() * 40);
    const ids = Array.from({ length: workers }, (_, i) => `w${i}`);
    const owners = new Map<string, string | undefined>();
    for (let i = 0; i < count; i++) owners.set(`s${i}`, random() < 0.5 ? undefined : ids[Math.floor(random() * workers)]);
    let quiet = false;
    for (let r = 0; r < count + 10 && !quiet; r++) {
      quiet = true;
      for (const me of ids) {
        const leases = [...owners].map(([k, o]) => lease(k, o));
        const p = plan(leases, me, { random });
        for (const l of p.take) owners.set(l.leaseKey, me);
        if (p.steal) owners.set(p.steal.lease.leaseKey, me);
        if (p.take.length > 0 || p.steal) quiet = false;
      }
    }
    t.ok(quiet, `trial ${trial}: ${workers} workers on ${count} leases settle`);
    const counts = ids.map((w) => [...owners.values()].filter((o) => o === w).length);
    const spread = Math.max(...counts) - Math.min(...counts);
    if (spread > 1 || [...owners.values()].includes(undefined)) {
      t.fail(`trial ${trial}: counts ${counts.join(',')} with ${[...owners.values()].filter((o) => o === undefined).length} free`);
    }
  }
});
