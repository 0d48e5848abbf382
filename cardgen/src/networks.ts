/**
 * The card networks cardgen issues numbers for: their IIN (BIN) prefixes and lengths, and the mix.
 *
 * Prefixes and lengths are the networks' published ones (as in ISO/IEC 7812 IIN registrations and
 * the networks' own BIN documentation), restricted to the common lengths:
 *   Visa        4                         16 (a few 13 and 19)
 *   Mastercard  51-55, 2221-2720          16
 *   Amex        34, 37                    15
 *   Discover    6011, 644-649, 65         16
 *   JCB         3528-3589                 16
 * The ranges do not overlap, so prefix + length identify the network (`networkOf`).
 *
 * Weights are shares of cards issued, in percent. They approximate the networks' shares of
 * general-purpose cards outside China (UnionPay is not modelled), leaning to US figures, where
 * Amex and Discover are sizeable: Visa 52, Mastercard 30, Amex 8, Discover 6, JCB 4. Inside a
 * network, range weights say which prefixes are common: Mastercard's 2-series (since 2017) is
 * still a minority, 6011 is Discover's main prefix, most Amex cards start with 37. Exact market
 * shares do not matter to the pipeline; a realistic spread of prefixes and lengths does.
 */

export interface PrefixRange {
  /** First prefix, inclusive; `from` and `to` have the same number of digits. */
  from: string;
  /** Last prefix, inclusive. */
  to: string;
  /** Relative share of this network's cards. */
  weight: number;
}

export interface CardLength {
  digits: number;
  /** Relative share of this network's cards. */
  weight: number;
}

export interface Network {
  /** Stable id, written in the cards file's `network` column. */
  name: string;
  label: string;
  /** Relative share of all cards (percent for the default table). */
  weight: number;
  ranges: readonly PrefixRange[];
  lengths: readonly CardLength[];
}

export const NETWORKS: readonly Network[] = deepFreeze([
  {
    name: 'visa',
    label: 'Visa',
    weight: 52,
    ranges: [{ from: '4', to: '4', weight: 1 }],
    // 13-digit Visa numbers are legacy and 19-digit ones are new issuance; both rare.
    lengths: [
      { digits: 16, weight: 97 },
      { digits: 13, weight: 1 },
      { digits: 19, weight: 2 },
    ],
  },
  {
    name: 'mastercard',
    label: 'Mastercard',
    weight: 30,
    ranges: [
      { from: '51', to: '55', weight: 85 },
      { from: '2221', to: '2720', weight: 15 },
    ],
    lengths: [{ digits: 16, weight: 1 }],
  },
  {
    name: 'amex',
    label: 'American Express',
    weight: 8,
    ranges: [
      { from: '34', to: '34', weight: 30 },
      { from: '37', to: '37', weight: 70 },
    ],
    lengths: [{ digits: 15, weight: 1 }],
  },
  {
    name: 'discover',
    label: 'Discover',
    weight: 6,
    ranges: [
      { from: '6011', to: '6011', weight: 60 },
      { from: '644', to: '649', weight: 10 },
      { from: '65', to: '65', weight: 30 },
    ],
    lengths: [{ digits: 16, weight: 1 }],
  },
  {
    name: 'jcb',
    label: 'JCB',
    weight: 4,
    ranges: [{ from: '3528', to: '3589', weight: 1 }],
    lengths: [{ digits: 16, weight: 1 }],
  },
]);

/**
 * The network a card number belongs to by prefix and length, or undefined. Does not check the
 * Luhn digit; only that the number is all digits.
 */
export function networkOf(cardNumber: string, networks: readonly Network[] = NETWORKS): string | undefined {
  if (!/^\d+$/.test(cardNumber)) return undefined;
  for (const network of networks) {
    if (!network.lengths.some((l) => l.digits === cardNumber.length)) continue;
    for (const range of network.ranges) {
      const prefix = cardNumber.slice(0, range.from.length);
      // Same-width digit strings compare like the numbers they spell.
      if (prefix >= range.from && prefix <= range.to) return network.name;
    }
  }
  return undefined;
}

/**
 * How many distinct valid numbers the table can produce (entries of weight 0 excluded). A float
 * once it passes 2^53, which is only ever compared against a count.
 */
export function numberSpace(networks: readonly Network[] = NETWORKS): number {
  let total = 0;
  for (const n of networks) {
    if (n.weight <= 0) continue;
    for (const r of n.ranges) {
      if (r.weight <= 0) continue;
      const prefixes = Number(r.to) - Number(r.from) + 1;
      for (const l of n.lengths) {
        if (l.weight <= 0) continue;
        // Digits left between the prefix and the check digit are free.
        total += prefixes * 10 ** (l.digits - r.from.length - 1);
      }
    }
  }
  return total;
}

/** Throws on a table that cannot generate valid numbers; run once before generating. */
export function validateNetworks(networks: readonly Network[]): void {
  const problems: string[] = [];
  if (!networks.some((n) => n.weight > 0)) problems.push('no network has a positive weight');
  for (const n of networks) {
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(n.name)) problems.push(`network name '${n.name}' must be lower-case letters, digits, _ or -`);
    const weights = [n.weight, ...n.ranges.map((r) => r.weight), ...n.lengths.map((l) => l.weight)];
    if (weights.some((w) => !Number.isSafeInteger(w) || w < 0)) problems.push(`${n.name}: weights must be non-negative integers`);
    if (n.weight > 0 && !n.ranges.some((r) => r.weight > 0)) problems.push(`${n.name}: no prefix range has a positive weight`);
    if (n.weight > 0 && !n.lengths.some((l) => l.weight > 0)) problems.push(`${n.name}: no length has a positive weight`);
    for (const r of n.ranges) {
      if (!/^\d+$/.test(r.from) || r.from.length !== r.to.length || r.from > r.to) {
        problems.push(`${n.name}: prefix range ${r.from}-${r.to} must be two digit strings of one width, from <= to`);
      }
      for (const l of n.lengths) {
        if (!Number.isInteger(l.digits) || l.digits < 12 || l.digits > 19 || l.digits < r.from.length + 1) {
          problems.push(`${n.name}: length ${l.digits} must be 12 to 19 and hold prefix ${r.from} and a check digit`);
        }
      }
    }
  }
  if (problems.length > 0) throw new RangeError(`invalid network table: ${problems.join('; ')}`);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
