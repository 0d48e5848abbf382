/**
 * Configuration at the edge: each component declares one zod schema over the environment, with its
 * defaults beside it; `parseEnv` runs it once at start, lists every problem in one ConfigError, and
 * returns a frozen object. Nothing below main.ts reads process.env.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';

/** Local defaults: the embedded stack that `npm start` runs. */
export const LOCAL_DEFAULTS = Object.freeze({
  KINESIS_ENDPOINT: 'http://127.0.0.1:4567',
  KINESIS_STREAM: 'payments',
  AWS_REGION: 'us-east-1',
  WAREHOUSE_URL: 'postgres://postgres:postgres@127.0.0.1:5433/postgres',
  CARDS_FILE: 'data/cards.csv',
  STOLEN_LIST: 'data/stolen-cards.csv',
  HTTP_PORT: 8080,
  STATE_DIR: 'data/state',
  CARD_TOKEN_KEY_FILE: 'data/card-token-key.json',
});

/**
 * KINESIS_ENDPOINT: absent means the local emulator; set but empty means AWS's own endpoint
 * for AWS_REGION (what the ECS task definition does).
 */
export const kinesisEnv = {
  KINESIS_ENDPOINT: z
    .string()
    .default(LOCAL_DEFAULTS.KINESIS_ENDPOINT)
    .transform((s) => (s.trim() === '' ? undefined : s.trim()))
    .pipe(z.url().optional()),
  KINESIS_STREAM: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,128}$/, 'must be a Kinesis stream name')
    .default(LOCAL_DEFAULTS.KINESIS_STREAM),
  AWS_REGION: z.string().min(1).default(LOCAL_DEFAULTS.AWS_REGION),
};

/**
 * How a stream's shards are read, by the processor and by the console: `fanout` (enhanced fan-out:
 * a registered stream consumer, SubscribeToShard, a dedicated 2 MiB/s per shard, records pushed),
 * `polling` (GetRecords, sharing the shard's 5 calls/s and 2 MiB/s with every other polling reader,
 * Firehose included), or `auto`: fan-out against AWS (KINESIS_ENDPOINT empty), polling against an
 * emulator (kinesalite has no fan-out).
 */
export const kinesisReadEnv = {
  KINESIS_READ: z.enum(['auto', 'fanout', 'polling']).default('auto'),
};

/** KINESIS_READ resolved: `auto` is fan-out against AWS's endpoint, polling against an emulator. */
export function readMode(config: { KINESIS_READ: 'auto' | 'fanout' | 'polling'; KINESIS_ENDPOINT?: string | undefined }): 'fanout' | 'polling' {
  if (config.KINESIS_READ !== 'auto') return config.KINESIS_READ;
  return config.KINESIS_ENDPOINT ? 'polling' : 'fanout';
}

/**
 * S3_ENDPOINT: for an `s3://` CARDS_FILE. Absent or empty means AWS's endpoint for AWS_REGION;
 * set, an S3-compatible server (tests use s3rver).
 */
export const s3Env = {
  S3_ENDPOINT: z
    .string()
    .default('')
    .transform((s) => (s.trim() === '' ? undefined : s.trim()))
    .pipe(z.url().optional()),
};

export const warehouseEnv = {
  WAREHOUSE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default(LOCAL_DEFAULTS.WAREHOUSE_URL),
};

/**
 * The card token key (common/src/card-token.ts): CARD_TOKEN_KEY_SECRET, a Secrets Manager
 * secret's id or ARN (AWS), else the file CARD_TOKEN_KEY_FILE. SECRETS_ENDPOINT: another
 * Secrets Manager endpoint (tests).
 */
export const cardTokenKeyEnv = {
  CARD_TOKEN_KEY_SECRET: z
    .string()
    .optional()
    .transform((s) => (s?.trim() ? s.trim() : undefined)),
  CARD_TOKEN_KEY_FILE: z.string().min(1).default(LOCAL_DEFAULTS.CARD_TOKEN_KEY_FILE),
  SECRETS_ENDPOINT: z.url().optional(),
};

/** An integer from the environment, with bounds. */
export const intEnv = (def: number, min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);

export function parseEnv<S extends z.ZodRawShape>(
  component: string,
  shape: S,
  env: Record<string, string | undefined> = process.env,
): Readonly<z.infer<z.ZodObject<S>>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      component,
      result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`),
    );
  }
  return Object.freeze(result.data);
}
