import t from 'tap';
import { createLogger } from '../src/log.js';

const PAN = '4111111111111111';
const OTHER = '378282246310005';

function capture() {
  const lines: string[] = [];
  const log = createLogger('test', 'debug', { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

t.test('no card number reaches a log line, at any depth or inside an error', async (t) => {
  const { log, lines } = capture();
  log.info({ card_number: PAN }, 'top level');
  log.info({ payment: { data: { card: PAN, list: [{ deep: `prefix ${OTHER}` }] } } }, 'nested');
  log.warn({ err: new Error(`state key stolen/${PAN} is corrupt`) }, 'error message and stack');
  log.error(`in the message itself: ${PAN}`);
  log.info({ raw: `{"card_number":"${PAN}",` }, 'a rejected record quoted');
  t.equal(lines.length, 5);
  for (const line of lines) {
    t.notOk(line.includes(PAN) || line.includes(OTHER), line);
    t.doesNotThrow(() => JSON.parse(line), 'still one JSON object');
  }
  t.match(lines[0]!, /"card_number":"411111\*{6}1111"/, 'masked: first 6 and last 4 digits');
});

t.test('other numbers are kept as they are', async (t) => {
  const { log, lines } = capture();
  log.info({ watermarkMs: 1796481532094, sequenceNumber: '49680863294918167771275350703944646009730561683738329090' }, 'progress');
  t.match(lines[0]!, /"watermarkMs":1796481532094/);
  t.match(lines[0]!, /49680863294918167771275350703944646009730561683738329090/);
});
