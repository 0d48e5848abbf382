/**
 * The simulator's command line: parsed once, validated together (every problem in one UsageError),
 * frozen. Defaults live here; Kinesis settings come from the environment (common/src/config.ts).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { UsageError } from '../../common/src/errors.js';
import { LOCAL_DEFAULTS } from '../../common/src/config.js';

/** How far back a simulated STOLEN report reaches (see createStatusGenerator). */
export const REPORT_BACKDATE_MAX_MS = 2 * 60_000;

/** Late events (--late-ratio) are stamped this far before their creation, uniformly. */
export const LATE_MIN_MS = 10 * 60_000;
export const LATE_MAX_MS = 60 * 60_000;
export const DEFAULT_RATE = 100;
export const MAX_RATE = 1_000_000;

export const USAGE = `Usage: npm run simulator -- [options]

Publishes PAYMENT_EVENT records for random cards of a cards file to Kinesis at a steady rate.

Options:
  --cards FILE        cards CSV (default: $CARDS_FILE or ${LOCAL_DEFAULTS.CARDS_FILE})
  --rate N            events per second, > 0; 0 or "max" = as fast as Kinesis takes them (default ${DEFAULT_RATE})
  --count N           stop after N events are acknowledged (default: run until SIGINT/SIGTERM)
  --seed N            seed for the choice of cards, merchants and amounts (not ids or timestamps)
  --disorder-ms D     stamp each event 0..D ms before its creation, so events within D ms are out of order (default 0)
  --late-ratio R      share 0..1 of events stamped ${LATE_MIN_MS / 60_000} to ${LATE_MAX_MS / 60_000} minutes in the past (default 0)
  --backfill-ms D     publish history instead: the --count events are stamped evenly over the D ms
                      before the start, in order (e.g. an hour of 1 000 events/s: --backfill-ms 3600000
                      --count 3600000 --rate max); needs --count, excludes --late-ratio
  --report-rate R     also publish R CARD_STATUS_CHANGED per second (e.g. 0.1): a random card reported
                      STOLEN from up to ${REPORT_BACKDATE_MAX_MS / 60_000} minutes ago, or one reported earlier recovered (ACTIVE)
                      from now (default 0: none; not counted in --count)
  --out-events FILE   append every acknowledged event to FILE as one JSON line
  --partition-key K   card (default): key each record by its card number, so a card stays on one shard;
                      event-id: key it by its event_id, spreading a card over shards (a misbehaving
                      producer, for fault tests of the processor)
  -h, --help          print this help

Environment: KINESIS_ENDPOINT (default ${LOCAL_DEFAULTS.KINESIS_ENDPOINT}; empty = AWS), KINESIS_STREAM
(default ${LOCAL_DEFAULTS.KINESIS_STREAM}), AWS_REGION (default ${LOCAL_DEFAULTS.AWS_REGION}), CARDS_FILE.
Exit codes: 0 done or stopped by a signal, 1 input file or delivery failure, 2 bad arguments or
configuration, 130 a second signal while flushing.`;

/** What a record's partition key is: the card number (the contract), or the event id (a faulty producer). */
export const PARTITION_KEYS = ['card', 'event-id'] as const;
export type PartitionKeyMode = (typeof PARTITION_KEYS)[number];

export interface SimulatorOptions {
  cardsFile: string;
  /** Events per second, or 'max' for as fast as the producer accepts. */
  rate: number | 'max';
  count: number | undefined;
  seed: number | undefined;
  disorderMs: number;
  lateRatio: number;
  /** Stamp the --count events evenly over this many ms before the start (history). */
  backfillMs: number | undefined;
  outEvents: string | undefined;
  /** CARD_STATUS_CHANGED per second (0: none). */
  reportRate: number;
  partitionKey: PartitionKeyMode;
  help: boolean;
}

const intString = (min: number, max: number) => z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const numberString = (min: number, max: number) =>
  z
    .string()
    .regex(/^(\d+(\.\d*)?|\.\d+)$/, 'must be a number')
    .transform(Number)
    .pipe(z.number().min(min).max(max));

const schema = z.object({
  cards: z.string().min(1, 'must not be empty').optional(),
  rate: z
    .string()
    .transform((s, ctx): number | 'max' => {
      const r = s === 'max' ? 0 : /^(\d+(\.\d*)?|\.\d+)$/.test(s) ? Number(s) : NaN;
      if (!(r >= 0 && r <= MAX_RATE)) {
        ctx.addIssue({ code: 'custom', message: `must be a number of events per second up to ${MAX_RATE}, or 0 or "max" for unpaced` });
        return z.NEVER;
      }
      return r === 0 ? 'max' : r;
    })
    .optional(),
  count: intString(1, Number.MAX_SAFE_INTEGER).optional(),
  seed: intString(0, 2 ** 32 - 1).optional(),
  'disorder-ms': intString(0, 24 * 3_600_000).optional(),
  'late-ratio': numberString(0, 1).optional(),
  'backfill-ms': intString(1, 7 * 24 * 3_600_000).optional(),
  'out-events': z.string().min(1, 'must not be empty').optional(),
  'report-rate': numberString(0, 1_000).optional(),
  'partition-key': z.enum(PARTITION_KEYS, { error: 'must be "card" or "event-id"' }).optional(),
  help: z.boolean().optional(),
});

/** Parses argv (without node and script). Throws UsageError with every problem on one line. */
export function parseOptions(argv: readonly string[], env: Record<string, string | undefined> = {}): Readonly<SimulatorOptions> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        cards: { type: 'string' },
        rate: { type: 'string' },
        count: { type: 'string' },
        seed: { type: 'string' },
        'disorder-ms': { type: 'string' },
        'late-ratio': { type: 'string' },
        'backfill-ms': { type: 'string' },
        'out-events': { type: 'string' },
        'report-rate': { type: 'string' },
        'partition-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    // node's messages are already one sentence; drop its hint about '--' which does not apply here.
    throw new UsageError((error as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, ''));
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const v = parsed.data;
  if (v['backfill-ms'] !== undefined && v.count === undefined) throw new UsageError('--backfill-ms: needs --count (how many events the history holds)');
  if (v['backfill-ms'] !== undefined && v['late-ratio'] !== undefined) throw new UsageError('--backfill-ms: cannot be combined with --late-ratio');
  return Object.freeze({
    cardsFile: v.cards ?? (env.CARDS_FILE || LOCAL_DEFAULTS.CARDS_FILE),
    rate: v.rate ?? DEFAULT_RATE,
    count: v.count,
    seed: v.seed,
    disorderMs: v['disorder-ms'] ?? 0,
    lateRatio: v['late-ratio'] ?? 0,
    backfillMs: v['backfill-ms'],
    outEvents: v['out-events'],
    reportRate: v['report-rate'] ?? 0,
    partitionKey: v['partition-key'] ?? 'card',
    help: v.help ?? false,
  });
}
