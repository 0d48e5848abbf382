import t from 'tap';
import { v5 } from 'uuid';
import { SUMMARY_ID_NAMESPACE, summaryEventId } from '../../src/engine/ids.js';

// Its own file, so that it runs in a fresh process, before any other id has grown the buffer.
t.test('a summary id whose name outgrows the hash buffer partway (after the card is written) is still uuid\'s v5', async (t) => {
  // The card fits the first buffer; the window end, given as a long string, makes it grow.
  for (const [cardLength, endLength] of [[16, 300], [56, 1_000], [19, 20_000]] as const) {
    const c = '4'.repeat(cardLength);
    const end = 'T'.repeat(endLength);
    t.equal(summaryEventId(c, end), v5(`${c}/${end}`, SUMMARY_ID_NAMESPACE), `card ${cardLength}, end ${endLength}`);
  }
  const usual = Date.UTC(2026, 10, 27, 12);
  t.equal(summaryEventId('4111111111111111', usual), v5(`4111111111111111/${new Date(usual).toISOString()}`, SUMMARY_ID_NAMESPACE), 'and a usual one after them');
});
