/**
 * Readiness as a pure function of the processor's status, so that every case is tested without
 * a server. Ready means: started, not shutting down, every dependency answering, owning at least
 * one shard, and every shard RUNNING, not stuck and close to real time, where close means its
 * watermark is within `maxWatermarkLagMs` of now, or the shard is idle (no event-time progress:
 * the watermark follows the clock), or it is caught up with the tip (MillisBehindLatest 0: the
 * records are simply old).
 */
import type { DependencyState, ProcessorStatus, ShardStatus } from './status.js';

export const DEFAULT_MAX_WATERMARK_LAG_MS = 30_000;

export interface ShardReadiness {
  shardId: string;
  state: ShardStatus['state'];
  ready: boolean;
  /** Why the shard is not ready; absent when it is. */
  reason?: string;
  /** now − watermark, ms; null before the first record. */
  watermarkLagMs: number | null;
  millisBehindLatest: number;
  idle: boolean;
}

/** A dependency that does not answer, for the /ready body. */
export interface DependencyDown {
  name: DependencyState['name'];
  /** Seconds it has been down. */
  forSeconds: number;
  error: string;
}

export interface Readiness {
  ready: boolean;
  /** Why the process as a whole is not ready (beyond its shards); absent when it is. */
  reason?: string;
  shuttingDown: boolean;
  dependenciesDown: DependencyDown[];
  shards: ShardReadiness[];
}

function shardReadiness(shard: ShardStatus, nowMs: number, maxLagMs: number): ShardReadiness {
  const watermarkLagMs = shard.watermarkMs === null ? null : nowMs - shard.watermarkMs;
  const base = {
    shardId: shard.shardId,
    state: shard.state,
    watermarkLagMs,
    millisBehindLatest: shard.millisBehindLatest,
    idle: shard.idle,
  };
  if (shard.state !== 'RUNNING') return { ...base, ready: false, reason: `state is ${shard.state}, not RUNNING` };
  if (shard.progress.stuck) return { ...base, ready: false, reason: `stuck: ${shard.progress.stuck}` };
  if (watermarkLagMs !== null && watermarkLagMs <= maxLagMs) return { ...base, ready: true };
  // Idle or caught up, as of a read that is recent enough: a shard whose reads have failed for
  // longer than the bound (throttled without end, say) is not known to be caught up any more.
  const fresh = shard.behindLatestMs !== null && shard.behindLatestMs <= maxLagMs;
  if (fresh && (shard.idle || shard.millisBehindLatest === 0)) return { ...base, ready: true };
  const lag = watermarkLagMs === null ? 'no watermark yet' : `watermark ${(watermarkLagMs / 1000).toFixed(1)} s behind now (max ${maxLagMs / 1000} s)`;
  if (!fresh && shard.behindLatestMs !== null)
    return {
      ...base,
      ready: false,
      reason: `${lag}, and up to ${(shard.behindLatestMs / 1000).toFixed(1)} s behind the shard's tip (no read for that long)`,
    };
  return { ...base, ready: false, reason: `${lag}, ${shard.millisBehindLatest} ms behind the shard's tip and not idle` };
}

export function evaluateReadiness(status: ProcessorStatus, maxWatermarkLagMs = DEFAULT_MAX_WATERMARK_LAG_MS): Readiness {
  const shards = status.shards.map((s) => shardReadiness(s, status.nowMs, maxWatermarkLagMs));
  const dependenciesDown = status.dependencies
    .filter((d) => !d.up)
    .map((d) => ({ name: d.name, forSeconds: +((status.nowMs - d.sinceMs) / 1000).toFixed(1), error: d.error ?? '' }));
  let reason: string | undefined;
  if (status.shuttingDown) reason = 'shutting down';
  else if (status.starting) reason = `starting: ${status.starting}`;
  else if (dependenciesDown.length > 0) reason = `waiting for ${dependenciesDown.map((d) => `${d.name} (${d.error})`).join(', ')}`;
  else if (shards.length === 0) reason = 'no shard owned yet';
  else if (shards.some((s) => !s.ready)) reason = `${shards.filter((s) => !s.ready).length} of ${shards.length} shards not ready`;
  const base = { shuttingDown: status.shuttingDown, dependenciesDown, shards };
  return reason === undefined ? { ready: true, ...base } : { ready: false, reason, ...base };
}
