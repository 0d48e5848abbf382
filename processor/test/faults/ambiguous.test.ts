/**
 * Issue 13, point 7: a payment could be skipped unseen. Records that start with an output type's
 * bytes were skipped undecoded, so `{"event_type":"PAYMENT_ALERT","event_type":"PAYMENT_EVENT",…}`
 * (a valid PAYMENT_EVENT to JSON.parse) was neither alerted, rejected nor counted. The rule now:
 * a record with a key repeated in one object is ambiguous and is rejected (bad_envelope, published
 * and counted); only a record that opens as our output and names no second event_type is skipped.
 */
import t from 'tap';
import { scrubPans } from '../../../common/src/pan-scrub.js';
import { startStack } from '../integration/harness.js';
import { payment, put, sample } from './helpers.js';

t.test('an ambiguous envelope around a stolen payment is rejected and counted, never skipped', async (t) => {
  const stack = await startStack(t, { cards: 200, shards: 1 });
  const k = stack.kinesis;
  const processor = await stack.startProcessor();
  await stack.untilServing();
  const card = [...stack.stolen][0]!;
  const e = payment(card, Date.now());
  const body = JSON.stringify(e);
  const variants = [
    // Opens as our alert; JSON.parse keeps the second event_type: a payment.
    `{"event_type":"PAYMENT_ALERT",${body.slice(1)}`,
    `{"event_type":"PAYMENT_ALERT_SUMMARY",${body.slice(1)}`,
    `{"event_type":"PAYMENT_EVENT_REJECTED",${body.slice(1)}`,
    // The payment first, a second type last: JSON.parse says alert.
    `${body.slice(0, -1)},"event_type":"PAYMENT_ALERT"}`,
    // Two card numbers.
    body.replace('"card_number":', '"card_number":"4111111111111111","card_number":'),
  ];
  await put(
    k.client,
    k.stream,
    variants.map((data) => ({ data, key: card })),
  );
  let rejected: Awaited<ReturnType<typeof stack.readStream>>['rejected'] = [];
  await stack.waitFor(
    'every variant published as a reject',
    async () => {
      rejected = (await stack.readStream()).rejected;
      return rejected.length >= variants.length;
    },
    30_000,
    250,
  );
  t.equal(rejected.length, variants.length, 'each one rejected, once');
  t.ok(
    rejected.every((r) => r.data.reason === 'bad_envelope' && /appears twice/.test(r.data.detail)),
    'as bad_envelope, naming the repeated key',
  );
  t.same(rejected.map((r) => r.data.raw).sort(), variants.map(scrubPans).sort(), 'carrying the record as it was, card numbers masked');
  t.notOk(
    rejected.some((r) => r.data.raw.includes(card) || r.data.raw.includes('4111111111111111')),
    'no card number in a reject',
  );
  t.equal(await sample(stack.httpPort, 'payments_records_rejected_total', { reason: 'bad_envelope' }), variants.length, 'counted by reason');
  t.equal(await sample(stack.httpPort, 'payments_records_read_total', { event_type: 'PAYMENT_ALERT' }), 0, 'none counted as our own output and skipped');
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
