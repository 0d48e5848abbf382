/**
 * stolen-list: `npm run stolen-list -- [--cards PATH] [--out PATH]`. Writes the processor's stolen
 * list (common/src/stolen-list.ts: card refs, no card number) from the cards file's stolen cards,
 * with the card token key of CARD_TOKEN_KEY_SECRET (AWS) or CARD_TOKEN_KEY_FILE (local; created
 * when missing). The cards file stays where the card numbers may be (the simulator's side); the
 * processor reads only this list. Exit codes: 0 written, 1 failed, 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { loadCardTokenizer } from '../../common/src/card-token.js';
import { cardTokenKeyEnv, LOCAL_DEFAULTS, parseEnv } from '../../common/src/config.js';
import { AppError } from '../../common/src/errors.js';
import { stolenRefsOfCardsFile, writeStolenList } from '../../common/src/stolen-list.js';
import { z } from 'zod';

export const USAGE = `Usage: npm run stolen-list -- [--cards PATH] [--out PATH]

Writes the processor's stolen list: for each card marked stolen in the cards file, its token,
key id, masked form and encrypted route (no card number), under the card token key.

  --cards PATH   the cards file (default ${LOCAL_DEFAULTS.CARDS_FILE})
  --out PATH     the stolen list, written atomically (default ${LOCAL_DEFAULTS.STOLEN_LIST})
  -h, --help     show this help

Environment: CARD_TOKEN_KEY_SECRET (a Secrets Manager secret, in AWS) or CARD_TOKEN_KEY_FILE
(default ${LOCAL_DEFAULTS.CARD_TOKEN_KEY_FILE}, created when missing), AWS_REGION, SECRETS_ENDPOINT.

Exit codes: 0 written, 1 failed, 2 bad arguments.`;

async function main(argv: readonly string[]): Promise<number> {
  let values: { cards?: string; out?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      options: { cards: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(`stolen-list: ${(error as Error).message} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const cards = values.cards ?? LOCAL_DEFAULTS.CARDS_FILE;
  const out = values.out ?? LOCAL_DEFAULTS.STOLEN_LIST;
  try {
    const env = parseEnv('stolen-list', { ...cardTokenKeyEnv, AWS_REGION: z.string().min(1).default(LOCAL_DEFAULTS.AWS_REGION) });
    const tokenizer = await loadCardTokenizer(env, { createFile: true });
    const started = performance.now();
    const refs = await stolenRefsOfCardsFile(cards, tokenizer);
    await writeStolenList(out, refs);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    process.stdout.write(`stolen-list: wrote ${refs.length} stolen cards (key ${tokenizer.keyId}) from ${cards} to ${out} in ${seconds} s\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`stolen-list: ${error instanceof AppError ? error.message : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
