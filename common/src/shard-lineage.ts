/**
 * Resharding: a split closes one shard and opens two children, a merge closes two and opens one.
 * A child names its parents (ParentShardId, AdjacentParentShardId); a parent is *finished* once it
 * was read to its end and its last records were processed.
 *
 * THE PARENT RULE, the one definition every reader applies (the processor's shard ownership with
 * and without leases, and the Firehose stand-in): a child is read only once every parent that
 * still exists is finished, so that one card's events (one partition key) are consumed in order
 * across a split or a merge. A parent that no longer exists (trimmed past the stream's retention,
 * or its finished lease deleted) does not hold its children back.
 */
import type { Shard } from '@aws-sdk/client-kinesis';

/** What a reader knows of one parent: `gone` when the stream (or the lease table) no longer has it. */
export type ParentState = 'finished' | 'unfinished' | 'gone';

/** The parents a shard names: one after a split, two after a merge, none for a root shard. */
export function parentShardIds(shard: Shard): string[] {
  return [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => p !== undefined);
}

/** The parent rule (see the top of this file): true when no parent holds the child back. */
export function parentsDone(parents: readonly string[], stateOf: (parent: string) => ParentState): boolean {
  return parents.every((parent) => stateOf(parent) !== 'unfinished');
}

/** The parents of `shard` that the stream still lists: those whose state a child takes over. */
export function existingParents(shard: Shard, listed: ReadonlySet<string>): string[] {
  return parentShardIds(shard).filter((p) => listed.has(p));
}

/**
 * The parent rule over a shard listing: a parent not listed is gone, one in `finished` is finished.
 * With leases the same rule is read from the lease table (processor/src/lease/balance.ts).
 */
export function isReadable(shard: Shard, listed: ReadonlySet<string>, finished: ReadonlySet<string>): boolean {
  return parentsDone(parentShardIds(shard), (p) => (!listed.has(p) ? 'gone' : finished.has(p) ? 'finished' : 'unfinished'));
}
