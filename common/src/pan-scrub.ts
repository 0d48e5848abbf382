/**
 * Masks card numbers (PANs) inside free text: log lines, rejected records, error messages. A PAN
 * here is a run of 12 to 19 digits, written whole or in groups split by single spaces or hyphens,
 * that starts with a card network's major industry digit (2 to 6) and passes the Luhn check, with
 * no digit right before or after it. It is replaced digit for digit by its masked form (first 6
 * and last 4 kept, PCI DSS 3.4.1's display rule), separators kept.
 *
 * Not PANs, so left alone: epoch milliseconds (13 digits starting with 1 until 2033), Kinesis
 * sequence numbers (56 digits), amounts, UUIDs (a group of 12 digits in one is not a card).
 * Within a run of groups standing free ("ref 42 4532 1238 5681 9106") every span of whole groups
 * is tried, so a number next to a PAN does not hide it; hyphen-joined groups touching a letter,
 * digit or hyphen on the outside (an id, not a card) are tried one by one, never joined.
 */
import { isLuhnValid } from './luhn.js';

/** Digit groups joined by single spaces or hyphens, not touching another digit. */
const DIGIT_RUN = /(?<!\d)\d+(?:[ -]\d+)*(?!\d)/g;
const MIN_DIGITS = 12;
const MAX_DIGITS = 19;

function isPan(digits: string): boolean {
  const first = digits.charCodeAt(0);
  // '2'..'6': Mastercard's 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay/Maestro.
  return digits.length >= MIN_DIGITS && digits.length <= MAX_DIGITS && first >= 50 && first <= 54 && isLuhnValid(digits);
}

function maskDigits(run: string, from: number, to: number): string {
  // Keeps the first 6 and the last 4 digits of run[from, to), separators as they are.
  let digitsSeen = 0;
  let total = 0;
  for (let i = from; i < to; i++) if (run.charCodeAt(i) !== 32 && run.charCodeAt(i) !== 45) total++;
  let out = '';
  for (let i = from; i < to; i++) {
    const c = run[i] as string;
    if (c === ' ' || c === '-') {
      out += c;
      continue;
    }
    out += digitsSeen < 6 || digitsSeen >= total - 4 ? c : '*';
    digitsSeen++;
  }
  return out;
}

/**
 * One run of digit groups with every PAN in it masked (the longest span first, left to right).
 * `join`: whether groups may be joined across their separators (only for a run standing free).
 */
function scrubRun(run: string, join: boolean): string {
  if (run.length < MIN_DIGITS) return run;
  if (!join && /[ -]/.test(run)) return run.replace(/\d+/g, (group) => scrubRun(group, false));
  // Group boundaries: [start, end) of each group of digits.
  const groups: Array<[number, number]> = [];
  for (const m of run.matchAll(/\d+/g)) groups.push([m.index, m.index + m[0].length]);
  let out = '';
  let copied = 0;
  for (let i = 0; i < groups.length;) {
    let matched = -1;
    let digits = '';
    // The longest span of whole groups from group i that is a PAN.
    for (let j = i; j < groups.length; j++) {
      const [s, e] = groups[j]!;
      digits += run.slice(s, e);
      if (digits.length > MAX_DIGITS) break;
      if (isPan(digits)) matched = j;
    }
    if (matched < 0) {
      i++;
      continue;
    }
    const from = groups[i]![0];
    const to = groups[matched]![1];
    out += run.slice(copied, from) + maskDigits(run, from, to);
    copied = to;
    i = matched + 1;
  }
  return copied === 0 ? run : out + run.slice(copied);
}

/** A UUID (event ids): its groups are hex, and a group of digits in it is never a PAN. */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const WORD = /[0-9A-Za-z-]/;

/** Whether `text` holds at least `n` digits (counting stops there). */
function hasDigits(text: string, n: number): boolean {
  let digits = 0;
  for (let i = 0; i < text.length && digits < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
  }
  return digits >= n;
}

/** `text` with every PAN in it masked; the same string when it holds none. */
export function scrubPans(text: string): string {
  // Cheap exits: a PAN has 12 digits at least (most merchant ids do not), and most log lines
  // hold no run of 4.
  if (!hasDigits(text, MIN_DIGITS) || !/\d{4}/.test(text)) return text;
  const uuids: Array<[number, number]> = [];
  if (text.includes('-')) for (const m of text.matchAll(UUID)) uuids.push([m.index, m.index + m[0].length]);
  return text.replace(DIGIT_RUN, (run: string, at: number) => {
    const end = at + run.length;
    if (uuids.some(([s, e]) => at < e && end > s)) return run;
    // Hyphen-joined groups touching a letter, digit or hyphen outside read as part of an id
    // ("…-2e40-4754-9751-2216ae…"), not as a card: they are tried one by one, never joined.
    const free = !run.includes('-') || (!WORD.test(text[at - 1] ?? ' ') && !WORD.test(text[end] ?? ' '));
    return scrubRun(run, free);
  });
}
