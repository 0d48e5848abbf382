/**
 * The processor's configuration: one schema over the environment, defaults beside it, parsed once
 * in main.ts. Cross-field rules are checked here too, so a bad combination fails at start.
 */
import { z } from 'zod';
import { LOCAL_DEFAULTS, cardTokenKeyEnv, intEnv, kinesisEnv, kinesisReadEnv, parseEnv, s3Env } from '../../common/src/config.js';
import { ConfigError } from '../../common/src/errors.js';

export const processorEnv = {
  ...kinesisEnv,
  ...s3Env,
  /** Where alerts, summaries and rejects go; the input stream when unset. */
  OUTPUT_STREAM: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,128}$/)
    .optional(),
  ...cardTokenKeyEnv,
  /**
   * The stolen list (card refs, no card number; `npm run stolen-list` writes it): a path, or
   * `s3://bucket/key` in AWS. Its key id must be the card token key's.
   */
  STOLEN_LIST: z.string().min(1).default(LOCAL_DEFAULTS.STOLEN_LIST),
  STATE_DIR: z.string().min(1).default(LOCAL_DEFAULTS.STATE_DIR),
  HTTP_PORT: intEnv(LOCAL_DEFAULTS.HTTP_PORT, 0, 65_535),
  HTTP_HOST: z.string().default('0.0.0.0'),
  OUT_OF_ORDERNESS_MS: intEnv(1_000, 0, 3_600_000),
  IDLE_TIMEOUT_MS: intEnv(5_000, 100, 3_600_000),
  IDLE_LAG_MS: intEnv(3_000, 0, 3_600_000),
  /**
   * How far back (stream time) a card reported stolen still gets its payments already read alerted
   * (retro: true), and a recovered one its summaries corrected: the span of the record of recent
   * payments each shard keeps (~74 B per payment: 22 MB per shard at 1 000 payments/s for the
   * default 5 min; docs/semantics.md, "Card status"). 0 keeps no record.
   */
  RETRO_ALERT_MS: intEnv(300_000, 0, 3_600_000),
  /** First start of a shard without checkpoint: read from AT_TIMESTAMP now − this. */
  START_LOOKBACK_MS: intEnv(3_600_000, 0, 7 * 24 * 3_600_000),
  /** Records per GetRecords call (Kinesis caps it at 10 000). */
  GET_RECORDS_LIMIT: intEnv(10_000, 1, 10_000),
  /**
   * Pause between GetRecords calls on one shard. Kinesis allows 5 calls/s per shard, shared by
   * every polling reader: Firehose takes 1 per second, so the processor takes 2 (500 ms) and leaves
   * 2 for anyone else (an operator's tool, a second consumer). A call returns up to 10 000 records,
   * far above a shard's 1 000 records/s in, so this costs catch-up nothing and alert latency at
   * most half a second.
   */
  POLL_INTERVAL_MS: intEnv(500, 200, 60_000),
  /** How shards are read (common/src/config.ts). */
  ...kinesisReadEnv,
  /** The stream consumer fan-out reads through (the CDK stack registers it; found or registered at start). */
  KINESIS_CONSUMER_NAME: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,128}$/)
    .default('payments-processor'),
  /** Largest accepted input record; bigger ones are rejected as oversized. */
  MAX_RECORD_BYTES: intEnv(64 * 1024, 1_024, 1024 * 1024),
  SHARD_REFRESH_MS: intEnv(10_000, 500, 600_000),
  SHUTDOWN_TIMEOUT_MS: intEnv(25_000, 1_000, 120_000),
  WORKER_ID: z.string().min(1).max(64).optional(),
  /**
   * DynamoDB lease table shared by the processors of one stream. Set it empty to run without
   * leases: this process then owns every shard (one processor only).
   */
  LEASE_TABLE: z
    .string()
    .regex(/^([a-zA-Z0-9_.-]{3,255})?$/, 'must be a DynamoDB table name, or empty for no leases')
    .default('payments-leases'),
  /** Absent: the local emulator; set but empty: AWS's own endpoint. */
  DYNAMODB_ENDPOINT: z
    .string()
    .default('http://127.0.0.1:4568')
    .transform((s) => (s.trim() === '' ? undefined : s.trim()))
    .pipe(z.url().optional()),
  /** A lease whose counter has not moved for this long is expired and may be taken. */
  FAILOVER_TIME_MS: intEnv(10_000, 1_000, 600_000),
  /** How often the lease table checkpoint follows the local one (a new owner replays from it). */
  LEASE_CHECKPOINT_INTERVAL_MS: intEnv(1_000, 0, 600_000),
  /**
   * How far a payment's event time may be ahead of its arrival in Kinesis (ApproximateArrivalTimestamp,
   * AWS's clock) before its clock is taken to be wrong: then it never moves stream time, and if its
   * card is stolen it is alerted at once, flagged (docs/semantics.md). 5 s: an NTP-synced producer
   * is off by milliseconds, so this leaves room for a poorly synced one; and a record within the
   * bound moves the watermark at most 5 s ahead, one alert window, which at worst marks 5 s of
   * other payments late (still alerted, at once).
   */
  MAX_CLOCK_SKEW_MS: intEnv(5_000, 0, 3_600_000),
  /**
   * An owned shard that makes no progress this long although it has work is stuck, and /health
   * fails (the container health check then replaces the task; see source/shard-watch.ts). 60 s:
   * ten times the longest legitimate pause (a 5 s backoff cap, a LevelDB compaction stall), and
   * ECS's 3 checks 10 s apart replace a stuck task about 90 s after it stopped.
   */
  STUCK_AFTER_MS: intEnv(60_000, 1_000, 3_600_000),
  /**
   * A finished lease (SHARD_END) is deleted once its children have checkpointed this long after its
   * end. 65 min: a child's rebuild replays from its checkpoint − 60 min − 5 min, and may read its
   * parents' state until then.
   */
  FINISHED_LEASE_RETENTION_MS: intEnv(65 * 60_000, 0, 7 * 24 * 3_600_000),
  /**
   * S3 bucket of shard state snapshots (docs/semantics.md, "Take-overs"): a new owner restores the
   * newest valid one and replays only from its checkpoint. Empty: no snapshots, a new owner
   * replays the last ~65 minutes of the shard. Needs the lease table (the fence and the checkpoint).
   */
  SNAPSHOT_BUCKET: z
    .string()
    .regex(/^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$/, 'must be an S3 bucket name, or empty for no snapshots')
    .default(''),
  /** Key prefix of the snapshots in the bucket. */
  SNAPSHOT_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, "must be empty or end in '/' (e.g. snapshots/)")
    .default('snapshots/'),
  /**
   * The least time between two snapshots of one shard. A take-over replays at most this much of
   * the shard (plus the lease checkpoint interval): 10 s at a full shard is ~2.5 MB, about a second
   * of the 2 MiB/s read budget. Each snapshot rewrites the shard's whole state.
   */
  SNAPSHOT_INTERVAL_MS: intEnv(10_000, 1_000, 3_600_000),
  /** Local state of a shard not owned here for this long is deleted (2 h: above the 65 min above). */
  STATE_RETENTION_MS: intEnv(2 * 3_600_000, 1_000, 7 * 24 * 3_600_000),
};

export type ProcessorConfig = Readonly<z.infer<z.ZodObject<typeof processorEnv>>>;

export function loadProcessorConfig(env: Record<string, string | undefined> = process.env): ProcessorConfig {
  const config = parseEnv('processor', processorEnv, env);
  const problems: string[] = [];
  if (config.IDLE_LAG_MS < config.OUT_OF_ORDERNESS_MS) {
    problems.push(
      `IDLE_LAG_MS (${config.IDLE_LAG_MS}) must be at least OUT_OF_ORDERNESS_MS (${config.OUT_OF_ORDERNESS_MS}), or an idle advance would make in-bound events late`,
    );
  }
  if (config.SNAPSHOT_BUCKET && !config.LEASE_TABLE) {
    problems.push('SNAPSHOT_BUCKET needs LEASE_TABLE: which snapshot a new owner may use is decided by the lease (set both, or neither)');
  }
  if (problems.length > 0) throw new ConfigError('processor', problems);
  return config;
}
