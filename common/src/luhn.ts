/**
 * Luhn (mod 10) check digits, as used by every card network for the last digit of a card number.
 * Works on digit strings so numbers up to 19 digits never pass through a float.
 */

/** True when `digits` (ASCII 0-9 only) ends in a correct Luhn check digit. */
export function isLuhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** The check digit that makes `payload + digit` Luhn-valid. */
export function luhnCheckDigit(payload: string): number {
  let sum = 0;
  // The check digit will sit at the right, so the payload's last digit is the first one doubled.
  let double = true;
  for (let i = payload.length - 1; i >= 0; i--) {
    let d = payload.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return (10 - (sum % 10)) % 10;
}

/** A card number safe to log: first 6 and last 4 digits, the rest masked (PCI DSS display rule). */
export function maskCardNumber(cardNumber: string): string {
  if (cardNumber.length <= 10) return '*'.repeat(cardNumber.length);
  return cardNumber.slice(0, 6) + '*'.repeat(cardNumber.length - 10) + cardNumber.slice(-4);
}
