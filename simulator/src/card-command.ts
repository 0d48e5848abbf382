/** The command line of `npm run card` (card.ts): parsed and validated into the event it publishes. */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { UsageError } from '../../common/src/errors.js';
import { LOCAL_DEFAULTS } from '../../common/src/config.js';
import { cardStatusData, type CardStatusEvent } from '../../common/src/events.js';

export const CARD_USAGE = `Usage: npm run card -- <stolen|recovered> <card number> [options]

Publishes one CARD_STATUS_CHANGED to the payments stream: the card is STOLEN (or, recovered,
ACTIVE again) from --since on. The processor then alerts (or stops alerting) the card's payments
made from that time, also those it has read already, back to its RETRO_ALERT_MS.

Options:
  --since ISO         when the status starts to hold, e.g. 2026-12-06T09:30:00.000Z (default: now)
  --reason TEXT       why, kept with the event (at most 256 characters)
  --reported-by TEXT  who reported it (default: cli)
  -h, --help          print this help

Environment: KINESIS_ENDPOINT (default ${LOCAL_DEFAULTS.KINESIS_ENDPOINT}; empty = AWS), KINESIS_STREAM
(default ${LOCAL_DEFAULTS.KINESIS_STREAM}), AWS_REGION (default ${LOCAL_DEFAULTS.AWS_REGION}).
Exit codes: 0 published, 1 Kinesis refused it, 2 bad arguments or configuration.`;

const STATUS_OF = { stolen: 'STOLEN', recovered: 'ACTIVE', active: 'ACTIVE' } as const;

/** The event a command line asks for (not yet published); throws UsageError with every problem. */
export function cardStatusEventOf(argv: readonly string[], nowMs: number, newId: () => string = randomUUID): CardStatusEvent | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: { since: { type: 'string' }, reason: { type: 'string' }, 'reported-by': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!);
  }
  if (parsed.values.help) return 'help';
  const [command, cardNumber, ...rest] = parsed.positionals;
  const status = STATUS_OF[command as keyof typeof STATUS_OF];
  if (status === undefined) throw new UsageError(`the first argument must be stolen or recovered, not ${JSON.stringify(command ?? '')}`);
  if (cardNumber === undefined) throw new UsageError('the card number is missing');
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.length}`);
  const data = {
    card_number: cardNumber,
    status,
    effective_at: parsed.values.since ?? new Date(nowMs).toISOString(),
    ...(parsed.values.reason === undefined ? {} : { reason: parsed.values.reason }),
    reported_by: parsed.values['reported-by'] ?? 'cli',
  };
  const checked = cardStatusData.safeParse(data);
  if (!checked.success) throw new UsageError(problems(checked.error));
  return { event_type: 'CARD_STATUS_CHANGED', event_id: newId(), event_date_origin: new Date(nowMs).toISOString(), data: checked.data };
}

/** The schema's complaints, by option name; the card number itself is never echoed. */
function problems(error: z.ZodError): string {
  const option: Record<string, string> = { card_number: 'card number', effective_at: '--since', reason: '--reason', reported_by: '--reported-by' };
  return error.issues.map((i) => `${option[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join('; ');
}
