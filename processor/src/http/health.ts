/**
 * Liveness as a pure function of the processor's status. The process is live unless it is shutting
 * down or one of its owned shards is stuck (see source/shard-watch.ts): a shard that cannot move
 * raises no alert, and a silent stop is the worst failure this product has, so the container
 * health check (Dockerfile HEALTHCHECK, ECS) fails and the task is replaced. A dependency that is
 * down is not a liveness failure by itself: it is waited for, and /ready says so.
 */
import type { ProcessorStatus } from './status.js';

export interface Health {
  healthy: boolean;
  status: 'ok' | 'stuck' | 'shutting_down';
  /** Owned shards that are stuck, with why. */
  stuck: Array<{ shardId: string; reason: string }>;
}

export function evaluateHealth(status: ProcessorStatus): Health {
  if (status.shuttingDown) return { healthy: false, status: 'shutting_down', stuck: [] };
  const stuck = status.shards.flatMap((s) => (s.progress.stuck ? [{ shardId: s.shardId, reason: s.progress.stuck }] : []));
  return stuck.length > 0 ? { healthy: false, status: 'stuck', stuck } : { healthy: true, status: 'ok', stuck };
}
