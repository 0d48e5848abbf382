import t from 'tap';
import { isLuhnValid, luhnCheckDigit, maskCardNumber } from '../src/luhn.js';

t.test('known valid and invalid numbers', async (t) => {
  for (const n of ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '3530111333300000']) {
    t.ok(isLuhnValid(n), n);
  }
  for (const n of ['4111111111111112', '1234567812345678', '', '41111111111111a1']) {
    t.notOk(isLuhnValid(n), JSON.stringify(n));
  }
});

t.test('check digit completes any payload', async (t) => {
  for (const payload of ['411111111111111', '37828224631000', '0', '99999999999999999']) {
    t.ok(isLuhnValid(payload + luhnCheckDigit(payload)), payload);
    t.notOk(isLuhnValid(payload + ((luhnCheckDigit(payload) + 1) % 10)), `${payload} with a wrong digit`);
  }
});

t.test('mask keeps first 6 and last 4', async (t) => {
  t.equal(maskCardNumber('4111111111111111'), '411111******1111');
  t.equal(maskCardNumber('378282246310005'), '378282*****0005');
});
