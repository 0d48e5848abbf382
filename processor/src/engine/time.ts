/** Event-time arithmetic and formatting shared by the engine's modules. */

/** The start of the epoch-aligned interval of `size` that holds `t`. */
export function floorTo(t: number, size: number): number {
  return Math.floor(t / size) * size;
}

/** An instant (epoch ms) as the ISO-8601 UTC text events carry. */
export function iso(t: number): string {
  return new Date(t).toISOString();
}

/** Fixed-width decimal time for state keys (lexicographic order = numeric order for t ≥ 0). */
export function padTime(t: number): string {
  return String(t).padStart(13, '0');
}
