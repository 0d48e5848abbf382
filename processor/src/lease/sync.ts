/**
 * The table's rows in step with the stream's shards (docs/leases.md, "The table" and
 * "Housekeeping"): a free lease for every listed shard that has none, parents before children; the
 * children of a closed shard recorded on its lease; a finished lease deleted once its children no
 * longer need it, and never recreated. Which shard may be read is the parent rule
 * (common/src/shard-lineage.ts), applied to these rows by balance.ts.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { parentShardIds } from '../../../common/src/shard-lineage.js';
import type { LeaseTable } from './table.js';
import { SHARD_END, TRIM_HORIZON, type InitialPosition, type Lease } from './types.js';

/**
 * Creates a free lease for every listed shard that has none (parents before children, so a child
 * lease never exists while its parent's lease is still missing), and records the children of
 * closed shards. Returns the shard ids whose lease this call created.
 */
export async function syncShards(table: LeaseTable, shards: readonly Shard[], initialPosition: InitialPosition, log: Logger): Promise<string[]> {
  const existing = new Map((await table.scan()).map((l) => [l.leaseKey, l]));
  const childrenOf = new Map<string, string[]>();
  for (const shard of shards) for (const p of parentShardIds(shard)) childrenOf.set(p, [...(childrenOf.get(p) ?? []), shard.ShardId!]);
  const created: string[] = [];
  for (const shard of parentsFirst(shards)) {
    const id = shard.ShardId!;
    if (existing.has(id)) continue;
    // A closed shard with a leased descendant was finished, and its lease deleted by
    // cleanupFinished (as KCL does): recreating it would read it again from its beginning.
    if (shard.SequenceNumberRange?.EndingSequenceNumber && leasedDescendant(id, childrenOf, existing)) continue;
    const parents = parentShardIds(shard);
    const checkpoint = parents.length > 0 ? TRIM_HORIZON : initialPosition;
    if ((await table.create(id, checkpoint, parents)) === 'ok') created.push(id);
  }
  const children = new Map<string, string[]>();
  for (const shard of shards) {
    for (const p of parentShardIds(shard)) children.set(p, [...(children.get(p) ?? []), shard.ShardId!]);
  }
  for (const shard of shards) {
    const kids = children.get(shard.ShardId!);
    if (!shard.SequenceNumberRange?.EndingSequenceNumber || !kids) continue;
    await recordChildren(table, shard.ShardId!, kids, existing.get(shard.ShardId!), log);
  }
  if (created.length > 0) log.info({ created }, 'leases created');
  return created;
}

async function recordChildren(table: LeaseTable, shardId: string, kids: string[], seen: Lease | undefined, log: Logger): Promise<void> {
  let lease = seen;
  for (let attempt = 0; attempt < 10; attempt++) {
    lease ??= await table.get(shardId);
    if (!lease || kids.every((k) => lease!.childShardIds.includes(k))) return;
    // A conflict only means the counter moved (a renewal); read again and retry.
    if ((await table.addChildren(shardId, lease.leaseCounter, kids)) === 'ok') return;
    lease = undefined;
  }
  log.warn({ shardId, children: kids }, 'could not record child shards (lease too busy); next sync retries');
}

/**
 * Deletes finished leases that nothing needs any more, as KCL's lease cleanup does: a lease at
 * SHARD_END whose every child has a lease checkpointed (a sequence number, or SHARD_END) at
 * least `retentionMs` after the parent's own checkpoint. Before that a child's rebuild may still
 * replay into the parent's records and read its lease. Every rebalance scanned these rows for as
 * long as the table lived. Conditional on the counter: any worker may run it. Returns the shard
 * ids deleted.
 */
export async function cleanupFinished(table: LeaseTable, retentionMs: number, log: Logger): Promise<string[]> {
  const leases = await table.scan();
  const byKey = new Map(leases.map((l) => [l.leaseKey, l]));
  const deleted: string[] = [];
  for (const parent of leases) {
    if (parent.checkpoint !== SHARD_END || parent.childShardIds.length === 0 || parent.checkpointAtMs === undefined) continue;
    const childrenDone = parent.childShardIds.every((id) => {
      const child = byKey.get(id);
      return (
        child !== undefined &&
        (child.checkpoint === SHARD_END || /^\d+$/.test(child.checkpoint)) &&
        (child.checkpointAtMs ?? -Infinity) >= parent.checkpointAtMs! + retentionMs
      );
    });
    if (!childrenDone) continue;
    if ((await table.delete(parent.leaseKey, parent.leaseCounter)) === 'ok') deleted.push(parent.leaseKey);
  }
  if (deleted.length > 0) log.info({ deleted }, 'finished leases deleted: their children have taken over');
  return deleted;
}

/** Whether a child, a grandchild, … of `id` has a lease. */
function leasedDescendant(id: string, childrenOf: ReadonlyMap<string, string[]>, leased: ReadonlyMap<string, unknown>, seen = new Set<string>()): boolean {
  for (const child of childrenOf.get(id) ?? []) {
    if (seen.has(child)) continue;
    seen.add(child);
    if (leased.has(child) || leasedDescendant(child, childrenOf, leased, seen)) return true;
  }
  return false;
}

/** Shards ordered so that every listed parent comes before its children. */
export function parentsFirst(shards: readonly Shard[]): Shard[] {
  const byId = new Map(shards.map((s) => [s.ShardId!, s]));
  const depth = new Map<string, number>();
  const depthOf = (id: string, guard: number): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    const shard = byId.get(id);
    if (!shard || guard > shards.length) return 0;
    const d =
      1 +
      Math.max(
        0,
        ...parentShardIds(shard)
          .filter((p) => byId.has(p))
          .map((p) => depthOf(p, guard + 1)),
      );
    depth.set(id, d);
    return d;
  };
  return [...shards].sort((a, b) => depthOf(a.ShardId!, 0) - depthOf(b.ShardId!, 0));
}
