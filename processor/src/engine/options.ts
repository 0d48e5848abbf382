/**
 * The engine's configuration: one zod schema, the defaults beside it, the type inferred from it.
 * Validated once (every problem listed together) and frozen.
 */
import { z } from 'zod';
import { ConfigError } from '../../../common/src/errors.js';

const ms = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();

export const engineConfigSchema = z
  .strictObject({
    /** How far behind the highest event time seen the watermark trails (Kafka Streams' grace). */
    outOfOrdernessMs: ms,
    /** Quiet time after which a caught-up shard's watermark follows the wall clock. */
    idleTimeoutMs: ms,
    /** How far behind the wall clock an idle shard's watermark stays. */
    idleLagMs: ms,
    /** Tumbling alert window size; windows are aligned to the epoch. */
    alertWindowMs: positiveMs,
    /** Summary boundary period; also the pane size of the summary aggregates. */
    summaryEveryMs: positiveMs,
    /** Look-back of one summary: [T - summaryRangeMs, T). */
    summaryRangeMs: positiveMs,
    /** Most payment ids listed in one summary (the event schema allows 100). */
    maxSummaryIds: z.number().int().min(1).max(100),
    /**
     * How far back (stream time) a STOLEN report still alerts payments read before it: the span
     * of the record of recent payments (recent.ts). 0 keeps no record and sends no retro alert.
     */
    retroAlertMs: ms,
  })
  .refine((c) => c.summaryRangeMs % c.summaryEveryMs === 0, {
    message: 'summaryRangeMs must be a multiple of summaryEveryMs (panes tile the summary range)',
    path: ['summaryRangeMs'],
  });

export type EngineConfig = Readonly<z.infer<typeof engineConfigSchema>>;

export const DEFAULT_ENGINE_CONFIG: EngineConfig = Object.freeze({
  outOfOrdernessMs: 1_000,
  idleTimeoutMs: 5_000,
  idleLagMs: 3_000,
  alertWindowMs: 5_000,
  summaryEveryMs: 10_000,
  summaryRangeMs: 3_600_000,
  maxSummaryIds: 100,
  // 5 min: ~20 MB of record per shard at 1 000 payments/s (docs/benchmarks.md, "retro record").
  retroAlertMs: 300_000,
});

/** Defaults overlaid with `overrides`, validated (every problem listed in one ConfigError) and frozen. */
export function engineConfig(overrides: Partial<EngineConfig> = {}): EngineConfig {
  const result = engineConfigSchema.safeParse({ ...DEFAULT_ENGINE_CONFIG, ...overrides });
  if (!result.success) {
    throw new ConfigError(
      'engine',
      result.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`),
    );
  }
  return Object.freeze(result.data);
}
