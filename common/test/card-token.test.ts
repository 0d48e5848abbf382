import t from 'tap';
import { createHmac } from 'node:crypto';
import { stat, writeFile, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CARD_TOKEN, CardTokenizer, loadCardTokenKeyFile, loadCardTokenizer, newCardTokenKeyText } from '../src/card-token.js';
import { withTempDir } from './helpers.js';

const PAN = '4111111111111111';
const KEY = 'k'.repeat(32);

t.test('a token is HMAC-SHA-256 of the digits, base64url; stable per key, different across keys', async (t) => {
  const a = new CardTokenizer('k1', KEY);
  const expected = createHmac('sha256', Buffer.from(KEY)).update(PAN).digest('base64url');
  t.equal(a.token(PAN), expected, 'the documented computation');
  t.match(a.token(PAN), CARD_TOKEN);
  t.equal(a.token(Buffer.from(PAN)), a.token(PAN), 'bytes or string alike');
  t.not(new CardTokenizer('k2', 'x'.repeat(32)).token(PAN), a.token(PAN), 'another key, another token');
  t.same(a.reference(PAN), { card_token: expected, card_key_id: 'k1', card_masked: '411111******1111' });
  t.notOk(JSON.stringify(a.reference(PAN)).includes(PAN), 'no PAN in a reference');
});

t.test('bad keys are refused with a clear error that never echoes the key', async (t) => {
  const secret = 'S'.repeat(20);
  for (const [text, why] of [
    ['not json', /not JSON/],
    [JSON.stringify({ keyId: 'k1', key: secret }), /key: must be at least 32 characters/],
    [JSON.stringify({ keyId: 'bad id!', key: KEY }), /keyId: must be/],
    [JSON.stringify({ keyId: 'k1' }), /key:/],
    [JSON.stringify({ keyId: 'k1', key: KEY, extra: 1 }), /Unrecognized key/],
  ] as const) {
    t.throws(() => CardTokenizer.fromKeyText(text, 'test'), { code: 'CARD_KEY', message: why }, String(why));
  }
  try {
    CardTokenizer.fromKeyText(JSON.stringify({ keyId: 'k1', key: secret }), 'test');
  } catch (e) {
    t.notOk((e as Error).message.includes(secret), 'the key is not in the message');
  }
});

t.test('the local key file: created once (0600), then the same key on every load', async (t) => {
  const dir = await withTempDir(t);
  const path = join(dir, 'nested', 'card-token-key.json');
  await t.rejects(loadCardTokenKeyFile(path), { code: 'CARD_KEY', message: /cannot be read \(ENOENT\)/ }, 'missing and not to be created');
  const [a, b] = await Promise.all([loadCardTokenKeyFile(path, { create: true }), loadCardTokenKeyFile(path, { create: true })]);
  t.equal(a.token(PAN), b.token(PAN), 'two processes starting together share one key');
  t.equal((await stat(path)).mode & 0o777, 0o600, 'readable by its owner only');
  const again = await loadCardTokenKeyFile(path, { create: true });
  t.equal(again.token(PAN), a.token(PAN), 'not replaced once it exists');
  t.equal(again.keyId, JSON.parse(await readFile(path, 'utf8')).keyId);
  const other = join(dir, 'other.json');
  await writeFile(other, newCardTokenKeyText('rotated-2'));
  t.equal((await loadCardTokenizer({ CARD_TOKEN_KEY_FILE: other, AWS_REGION: 'us-east-1' })).keyId, 'rotated-2');
});

t.test('in AWS: the key is read from Secrets Manager by the SDK', async (t) => {
  const calls: Array<{ target: string; body: { SecretId: string } }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      calls.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(body) });
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(JSON.stringify({ Name: 'card-token-key', SecretString: JSON.stringify({ keyId: 'aws-1', key: KEY }) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  const tokenizer = await loadCardTokenizer({
    CARD_TOKEN_KEY_SECRET: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:card-token-key',
    CARD_TOKEN_KEY_FILE: '/nonexistent',
    AWS_REGION: 'us-east-1',
    SECRETS_ENDPOINT: endpoint,
  });
  t.equal(tokenizer.keyId, 'aws-1');
  t.equal(tokenizer.token(PAN), new CardTokenizer('aws-1', KEY).token(PAN));
  t.same(calls, [{ target: 'secretsmanager.GetSecretValue', body: { SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:card-token-key' } }]);
});
