/**
 * A copy of `s` that shares no memory with the string it was cut from. V8 makes a substring of 13
 * characters or more (slice, a regex capture) a view that keeps its whole parent alive; a card
 * number kept for hours would otherwise pin the megabyte chunk of the cards file, or the stored
 * key, it was read from (measured: ~30 MB for 100 000 stolen cards; docs/benchmarks.md).
 */
export function ownString(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}
