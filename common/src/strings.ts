/**
 * A copy of `s` that shares no memory with the string it was cut from. V8 makes a substring of 13
 * characters or more (slice, a regex capture) a view that keeps its whole parent alive; a card
 * number kept for hours would otherwise pin the megabyte chunk of the cards file, or the stored
 * key, it was read from (measured: ~30 MB for 100 000 stolen cards; docs/benchmarks.md).
 * Latin-1 text (card numbers) is copied as one byte a character; anything else as UTF-16, so
 * that no character is ever changed.
 */
export function ownString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) return Buffer.from(s, 'utf16le').toString('utf16le');
  }
  return Buffer.from(s, 'latin1').toString('latin1');
}
