/**
 * The rebalancing decision, as a pure function of one table scan: which free or expired leases to
 * take and which single lease to steal. No I/O and no clock, so the arithmetic is tested directly.
 *
 * Rules (KCL's LeaseTaker, simplified):
 * - Finished leases (checkpoint SHARD_END) are never taken and count for nobody.
 * - A lease is available when it has no owner, when its owner is this worker although this worker
 *   does not hold it (a restart under the same id), or when it is expired (the caller decides,
 *   from its own observations of the counter).
 * - workers = distinct owners of live (non-expired) leases, plus this worker; a worker holding
 *   nothing is invisible to the others and steals its way in.
 * - countable = unfinished leases that are held by a live worker or readable (a child whose
 *   parents are not finished is neither, and is left out so nobody steals for it).
 * - target = ceil(countable / workers). Available leases are taken first, at most up to target,
 *   in random order so that workers scanning at the same time mostly want different leases.
 * - Only when nothing is available: steal ONE lease from the worker holding the most, if this
 *   worker holds fewer than floor(countable / workers), or fewer than target while that worker
 *   holds more than target, and that worker holds at least two more than this one.
 * A state where no worker wants to take or steal has every count in [floor, target], so counts
 * differ by at most one.
 */
import { parentsDone } from '../../../common/src/shard-lineage.js';
import { isFinished, type Lease } from './types.js';

export interface BalanceInput {
  leases: readonly Lease[];
  me: string;
  /** Shard ids this worker holds (and renews) now. */
  held: ReadonlySet<string>;
  /** True when the lease's counter has not moved for failoverTimeMs, as this worker observed it. */
  expired: (lease: Lease) => boolean;
  /** True when the lease's shard may be processed now (its parents are finished). */
  readable: (lease: Lease) => boolean;
  random: () => number;
}

export interface BalancePlan {
  take: Lease[];
  steal: { lease: Lease; from: string } | undefined;
  workers: number;
  target: number;
  /** Leases each live worker holds, this one included, as the scan saw them. */
  counts: ReadonlyMap<string, number>;
}

export function isAvailable(lease: Lease, input: Pick<BalanceInput, 'me' | 'held' | 'expired'>): boolean {
  if (isFinished(lease) || input.held.has(lease.leaseKey)) return false;
  return lease.leaseOwner === undefined || lease.leaseOwner === input.me || input.expired(lease);
}

export function planRebalance(input: BalanceInput): BalancePlan {
  const { me, held, random } = input;
  const live = input.leases.filter((l) => !isFinished(l));
  const available = live.filter((l) => isAvailable(l, input));
  const availableKeys = new Set(available.map((l) => l.leaseKey));
  const owned = live.filter((l) => !availableKeys.has(l.leaseKey));

  const counts = new Map<string, number>([[me, 0]]);
  for (const lease of owned) {
    const owner = held.has(lease.leaseKey) ? me : lease.leaseOwner!;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  const workers = counts.size;
  const countable = owned.length + available.filter(input.readable).length;
  const target = Math.ceil(countable / workers);
  const floor = Math.floor(countable / workers);
  const mine = counts.get(me) ?? 0;

  const takeable = shuffle(available.filter(input.readable), random);
  if (takeable.length > 0) {
    return { take: takeable.slice(0, Math.max(0, target - mine)), steal: undefined, workers, target, counts };
  }

  let steal: BalancePlan['steal'];
  const [victim, most] = busiest(counts, me, random);
  if (victim !== undefined && most >= mine + 2 && (mine < floor || (mine < target && most > target))) {
    const candidates = owned.filter((l) => l.leaseOwner === victim && !held.has(l.leaseKey));
    const lease = candidates[Math.floor(random() * candidates.length)];
    if (lease) steal = { lease, from: victim };
  }
  return { take: [], steal, workers, target, counts };
}

/** The other worker holding the most leases; ties broken at random. */
function busiest(counts: ReadonlyMap<string, number>, me: string, random: () => number): [string | undefined, number] {
  let most = -1;
  let tied: string[] = [];
  for (const [worker, count] of counts) {
    if (worker === me) continue;
    if (count > most) {
      most = count;
      tied = [worker];
    } else if (count === most) tied.push(worker);
  }
  return [tied[Math.floor(random() * tied.length)], most];
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * The parent rule (common/src/shard-lineage.ts) read from the lease table: a parent whose lease is
 * at SHARD_END is finished, one without a lease is gone (trimmed long ago, or its finished lease
 * deleted). Parents' leases are created before their children's (LeaseManager.syncShards), so a
 * missing parent lease never means "not created yet".
 */
export function parentsFinished(lease: Lease, byKey: ReadonlyMap<string, Lease>): boolean {
  return parentsDone(lease.parentShardIds, (p) => {
    const parent = byKey.get(p);
    return parent === undefined ? 'gone' : isFinished(parent) ? 'finished' : 'unfinished';
  });
}
