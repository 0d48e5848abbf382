/**
 * One benchmark figure, as written to bench/results.json: the median of at least three
 * repetitions (min and max beside it), the in-run baseline it is judged against, and the verdict.
 */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The in-run baseline's median, or null when the target is absolute. */
  baseline: number | null;
  /** value ÷ baseline, or null. */
  ratio: number | null;
  /** The target in words, e.g. `ratio >= 0.5`. */
  target: string;
  met: boolean;
  min: number;
  max: number;
  /** Free-form detail for the table and the doc (not part of the required fields). */
  note?: string;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export interface Reps {
  median: number;
  min: number;
  max: number;
}

export function reps(xs: readonly number[]): Reps {
  if (xs.length === 0) throw new Error('no repetitions');
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** A figure judged on its own value against an absolute target. */
export function absolute(name: string, unit: string, xs: readonly number[], target: string, ok: (v: number) => boolean, note?: string): Figure {
  const r = reps(xs);
  return {
    name,
    value: round(r.median),
    unit,
    baseline: null,
    ratio: null,
    target,
    met: ok(r.median),
    min: round(r.min),
    max: round(r.max),
    ...(note ? { note } : {}),
  };
}

/** A figure judged by its ratio to a baseline measured in the same run. */
export function relative(
  name: string,
  unit: string,
  xs: readonly number[],
  baselineXs: readonly number[],
  target: string,
  ok: (ratio: number) => boolean,
  note?: string,
): Figure {
  const r = reps(xs);
  const b = median(baselineXs);
  const ratio = r.median / b;
  return {
    name,
    value: round(r.median),
    unit,
    baseline: round(b),
    ratio: round(ratio, 3),
    target,
    met: ok(ratio),
    min: round(r.min),
    max: round(r.max),
    ...(note ? { note } : {}),
  };
}

/** An informational figure (no target of its own). */
export function info(name: string, unit: string, xs: readonly number[], note?: string): Figure {
  const r = reps(xs);
  return {
    name,
    value: round(r.median),
    unit,
    baseline: null,
    ratio: null,
    target: 'reported',
    met: true,
    min: round(r.min),
    max: round(r.max),
    ...(note ? { note } : {}),
  };
}

export function round(x: number, digits?: number): number {
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 1 ? 2 : 4);
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

export const QUICK = process.env.BENCH_QUICK === '1';

/** A scenario prints its figures as the last line of stdout, prefixed so logs never confuse run.ts. */
export const RESULT_PREFIX = 'BENCH_RESULT ';
export function emit(figures: Figure[]): void {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(figures) + '\n');
}
