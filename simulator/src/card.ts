/**
 * `npm run card -- stolen <card> [--since ISO]`: publishes one CARD_STATUS_CHANGED by hand, keyed
 * by the card number like the card's payments, so it lands on their shard. The processor alerts the
 * card's payments from --since on, including those it has already read (within RETRO_ALERT_MS).
 *
 * stdout gets one JSON line (the event id, the card masked, the status and its effective time);
 * the card number is never printed.
 */
import { startFailure } from './cli-errors.js';
import { kinesisEnv, parseEnv } from '../../common/src/config.js';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { encodeEvent, type CardStatusEvent } from '../../common/src/events.js';
import { maskCardNumber } from '../../common/src/luhn.js';
import { CARD_USAGE, cardStatusEventOf } from './card-command.js';

async function main(argv: string[]): Promise<number> {
  const log = (line: string) => process.stderr.write(`card: ${line}\n`);
  let event: CardStatusEvent | 'help';
  let env;
  try {
    event = cardStatusEventOf(argv, Date.now());
    if (event === 'help') {
      process.stdout.write(CARD_USAGE + '\n');
      return 0;
    }
    env = parseEnv('card', kinesisEnv);
  } catch (error) {
    return startFailure(error, log);
  }
  const client = createKinesisClient({ region: env.AWS_REGION, endpoint: env.KINESIS_ENDPOINT });
  const summary = {
    event_id: event.event_id,
    card_masked: maskCardNumber(event.data.card_number),
    status: event.data.status,
    effective_at: event.data.effective_at,
  };
  try {
    await new KinesisProducer(client, env.KINESIS_STREAM).send([{ data: encodeEvent(event), partitionKey: event.data.card_number }]);
  } catch (error) {
    log(`not published: ${(error as Error).message}`);
    return 1;
  } finally {
    client.destroy();
  }
  log(`published to ${env.KINESIS_STREAM}: card ${summary.card_masked} ${summary.status} from ${summary.effective_at}`);
  process.stdout.write(JSON.stringify(summary) + '\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`card: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
