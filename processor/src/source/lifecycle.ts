/**
 * A shard task's lifecycle, after Kafka Streams' Task.State: each state names the states it may
 * move to, and any other move is a programming error. Readiness and metrics read it.
 *
 *   CREATED ──► RESTORING ──► RUNNING ──► CLOSED
 *      └────────────┴────────────┴──────────►┘
 *
 * CREATED (owned, no task running yet) → RESTORING (loading state and checkpoint) → RUNNING
 * (reading and emitting) → CLOSED (lease lost, shard ended, shutdown).
 */
export const SHARD_STATES = ['CREATED', 'RESTORING', 'RUNNING', 'CLOSED'] as const;
export type ShardState = (typeof SHARD_STATES)[number];

const NEXT: Record<ShardState, readonly ShardState[]> = {
  CREATED: ['RESTORING', 'CLOSED'],
  RESTORING: ['RUNNING', 'CLOSED'],
  RUNNING: ['CLOSED'],
  CLOSED: [],
};

export class IllegalTransitionError extends Error {
  constructor(shardId: string, from: ShardState, to: ShardState) {
    super(`shard ${shardId}: illegal state transition ${from} -> ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

export function assertTransition(shardId: string, from: ShardState, to: ShardState): void {
  if (!NEXT[from].includes(to)) throw new IllegalTransitionError(shardId, from, to);
}
