/** Binary search over ascending arrays, used for the time indexes. */

/** First index i with arr[i] >= x (arr.length when none). */
export function lowerBound<T>(arr: readonly T[], x: T): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as T) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i with arr[i] > x (arr.length when none). */
export function upperBound<T>(arr: readonly T[], x: T): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as T) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts x keeping arr ascending; returns false (and leaves arr alone) when x is already there. */
export function insertUnique<T>(arr: T[], x: T): boolean {
  const i = lowerBound(arr, x);
  if (i < arr.length && arr[i] === x) return false;
  arr.splice(i, 0, x);
  return true;
}

/** Removes x from ascending arr if present. */
export function removeSorted<T>(arr: T[], x: T): void {
  const i = lowerBound(arr, x);
  if (i < arr.length && arr[i] === x) arr.splice(i, 1);
}
