/**
 * cardgen's command line: the flags, their defaults and checks. Every problem is a UsageError with
 * a one-line message; main.ts prints it and exits with code 2.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../../common/src/errors.js';
import { DEFAULT_SEED, DEFAULT_STOLEN_RATIO, MAX_COUNT, MAX_SEED } from './generate.js';

export const DEFAULT_OUT = 'data/cards.csv';

export const USAGE = `Usage: npm run cardgen -- --count N [--stolen-ratio R] [--seed S] [--out PATH]

Writes N unique, Luhn-valid card numbers (Visa, Mastercard, Amex, Discover, JCB) to a CSV file
with the header card_number,network,stolen. The same arguments always give the same file.

  --count N         number of cards, 1 to ${MAX_COUNT} (required)
  --stolen-ratio R  share of cards marked stolen, 0 to 1; exactly round(N*R) are (default ${DEFAULT_STOLEN_RATIO})
  --seed S          random seed, an integer 0 to ${MAX_SEED} (default ${DEFAULT_SEED})
  --out PATH        output file, written atomically; its directory is created (default ${DEFAULT_OUT})
  -h, --help        show this help

Exit codes: 0 written, 1 could not write, 2 bad arguments, 130 interrupted.`;

export interface CardgenOptions {
  count: number;
  stolenRatio: number;
  seed: number;
  out: string;
}

export type ParsedArgs = { help: true } | ({ help: false } & CardgenOptions);

const FLAGS = {
  count: { type: 'string' },
  'stolen-ratio': { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCardgenArgs(argv: readonly string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv), options: FLAGS, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  const { values, tokens } = parsed;
  if (values.help) return { help: true };

  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`);
    seen.add(token.name);
  }

  if (values.count === undefined) throw new UsageError('--count is required (see --help)');
  const count = parseInteger('--count', values.count, 1, MAX_COUNT);
  const stolenRatio = values['stolen-ratio'] === undefined ? DEFAULT_STOLEN_RATIO : parseRatio(values['stolen-ratio']);
  const seed = values.seed === undefined ? DEFAULT_SEED : parseInteger('--seed', values.seed, 0, MAX_SEED);
  const out = values.out ?? DEFAULT_OUT;
  if (out.trim() === '') throw new UsageError('--out must be a file path, got an empty string');
  if (out.endsWith('/')) throw new UsageError(`--out must be a file path, got a directory '${out}'`);
  return { help: false, count, stolenRatio, seed, out };
}

function parseInteger(flag: string, text: string, min: number, max: number): number {
  const range = `an integer from ${min} to ${max}`;
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${flag} must be ${range}, got '${text}'`);
  const n = Number(text);
  if (n < 0) throw new UsageError(`${flag} must not be negative (${range}), got '${text}'`);
  if (n < min) throw new UsageError(`${flag} must be ${range}, got '${text}'`);
  // Also the guard against more cards than fit in one process's uniqueness set (see MAX_COUNT);
  // the networks' number space itself (~10^17) is far larger.
  if (n > max) throw new UsageError(`${flag} must be ${range}, got '${text}'`);
  return n;
}

function parseRatio(text: string): number {
  const r = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(r) || r < 0 || r > 1) throw new UsageError(`--stolen-ratio must be a number from 0 to 1, got '${text}'`);
  return r;
}

/**
 * parseArgs refuses `--count -5` as ambiguous; turn it into `--count=-5` so the value check can
 * say what is wrong with it.
 */
function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && name in FLAGS && FLAGS[name as keyof typeof FLAGS].type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** parseArgs' messages, on one line and pointing at --help. */
function describeParseError(error: unknown): string {
  const e = error as { code?: string; message?: string };
  const first = (e.message ?? String(error)).split('\n')[0]!.replace(/\. This command does not take positional arguments$/, '');
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `${first.charAt(0).toLowerCase()}${first.slice(1)} (see --help)`;
    default:
      return first;
  }
}
