import t from 'tap';
import { ownString } from '../src/strings.js';

t.test('ownString returns the same text, whatever its characters', async (t) => {
  const file = `header\n${'4111111111111111,1\n'.repeat(1000)}`;
  const cases = [file.slice(7, 23), '', 'x', 'café', '411111111111111\u0131', '\u0130'.repeat(20), '😀 card', 'lone \ud800 surrogate', 'ÿ\u0100'];
  for (const s of cases) t.equal(ownString(s), s, encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?')));
});
