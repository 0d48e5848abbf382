import { randomUUID } from 'node:crypto';
import { OUTPUT_SCHEMA_VERSION, type AlertEvent, type SummaryEvent } from '../../common/src/events.js';

export const TOKEN_A = 'A'.repeat(43);
export const TOKEN_B = 'B'.repeat(43);

/** An alert as the processor emits it, at `at` (ms), for the card named by `token`. */
export function alertEvent(at: number, token = TOKEN_A, over: Partial<AlertEvent['data']> = {}): AlertEvent {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    event_type: 'PAYMENT_ALERT',
    event_id: randomUUID(),
    event_date_origin: iso(at),
    data: {
      schema_version: OUTPUT_SCHEMA_VERSION,
      payment_event_id: randomUUID(),
      payment_date_origin: iso(at - 3_000),
      card_token: token,
      card_key_id: 'local-test',
      card_masked: '411111******1111',
      amount: 12.5,
      currency: 'EUR',
      merchant_id: 'shop-1',
      window_start: iso(at - 5_000),
      window_end: iso(at),
      late: false,
      ...over,
    },
  };
}

export function summaryEvent(windowEnd: number, token = TOKEN_A, count = 2): SummaryEvent {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    event_type: 'PAYMENT_ALERT_SUMMARY',
    event_id: randomUUID(),
    event_date_origin: iso(windowEnd + 500),
    data: {
      schema_version: OUTPUT_SCHEMA_VERSION,
      card_token: token,
      card_key_id: 'local-test',
      card_masked: '411111******1111',
      window_start: iso(windowEnd - 3_600_000),
      window_end: iso(windowEnd),
      payment_count: count,
      amounts: { EUR: { count, total: 25, min: 12.5, max: 12.5 } },
      first_payment_at: iso(windowEnd - 60_000),
      last_payment_at: iso(windowEnd - 1_000),
      merchant_count: 1,
      payment_event_ids: Array.from({ length: count }, () => randomUUID()),
    },
  };
}
