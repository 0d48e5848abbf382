/**
 * Sign-in through the load balancer: the x-amzn-oidc-data JWT made here as the load balancer
 * makes it (ES256, its ARN as signer, base64url with `=` padding), its public key served over HTTP
 * at <keys URL>/<kid> as AWS serves it. A report records the verified user; a missing, expired,
 * forged or foreign token is refused; the page cannot choose who reported.
 */
import t from 'tap';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CardStatusEvent } from '../../common/src/events.js';
import { AlbIdentity } from '../src/identity.js';
import { buildConsoleServer } from '../src/server.js';
import { ConsoleView } from '../src/view.js';

const ALB = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/console/50dc6c495c0c9188';
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const CSRF = 'csrf';
const CARD = '4111111111111111';

const pair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
// The load balancer pads its base64url parts with `=`.
const part = (o: object) => {
  const s = Buffer.from(JSON.stringify(o)).toString('base64');
  return s.replace(/\+/g, '-').replace(/\//g, '_');
};

function token(key: KeyObject, over: { header?: object; claims?: object } = {}): string {
  const header = part({
    alg: 'ES256',
    kid: 'kid-1',
    signer: ALB,
    iss: 'https://cognito-idp.eu-west-1.amazonaws.com/x',
    client: 'c',
    exp: NOW / 1000 + 60,
    ...over.header,
  });
  const claims = part({ sub: '7c2f-user', email: 'alice@bank.example', username: 'alice', exp: NOW / 1000 + 60, ...over.claims });
  const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64');
  return `${header}.${claims}.${signature.replace(/\+/g, '-').replace(/\//g, '_')}`;
}

t.test('reports carry the signed-in user; anything else is refused', async (t) => {
  const alb = pair();
  const other = pair();
  let fetches = 0;
  const keys = createServer((req, res) => {
    fetches++;
    if (req.url === '/kid-1') res.end(alb.publicKey.export({ type: 'spki', format: 'pem' }));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => keys.listen(0, '127.0.0.1', r));
  t.teardown(() => keys.close());
  const identity = new AlbIdentity({ albArn: ALB, keysUrl: `http://127.0.0.1:${(keys.address() as AddressInfo).port}/`, now: () => NOW });
  const published: CardStatusEvent[] = [];
  const app = buildConsoleServer({ view: new ConsoleView(), publish: async (e) => void published.push(e), csrfToken: CSRF, now: () => NOW, identity });
  const report = (oidc: string | undefined, body: object = {}) =>
    app.inject({
      method: 'POST',
      url: '/api/cards/status',
      payload: { card_number: CARD, status: 'STOLEN', ...body },
      headers: { 'x-csrf-token': CSRF, ...(oidc === undefined ? {} : { 'x-amzn-oidc-data': oidc }) },
    });

  const ok = await report(token(alb.privateKey), { reported_by: 'somebody else' });
  t.equal(ok.statusCode, 202);
  t.equal(published[0]?.data.reported_by, 'console:alice@bank.example', 'the verified user, not what the page sent');
  t.equal((await report(token(alb.privateKey, { claims: { email: undefined } }))).statusCode, 202);
  t.equal(published[1]?.data.reported_by, 'console:alice', 'the username when there is no email');
  t.equal(fetches, 1, 'the key is fetched once');

  const refused: Array<[string, string | undefined, RegExp]> = [
    ['no header', undefined, /no x-amzn-oidc-data header/],
    ['not a JWT', 'abc', /not a JWT/],
    ['signed with another key', token(other.privateKey), /signature does not verify/],
    ['signed for another load balancer', token(alb.privateKey, { header: { signer: `${ALB}x` } }), /another load balancer/],
    ['expired', token(alb.privateKey, { header: { exp: NOW / 1000 - 1 } }), /expired/],
    ['another algorithm', token(alb.privateKey, { header: { alg: 'none' } }), /unexpected JWT algorithm none/],
    ['an unknown key', token(alb.privateKey, { header: { kid: 'kid-2' } }), /public key could not be fetched: 404/],
    ['a key id that is a path', token(alb.privateKey, { header: { kid: '../x' } }), /names no key/],
  ];
  for (const [what, oidc, why] of refused) {
    const res = await report(oidc);
    t.equal(res.statusCode, 401, what);
    t.match(res.json().error, why, `${what}: says why`);
  }
  t.equal(published.length, 2, 'nothing published for a refused report');
});

t.test("without sign-in (locally) reports are the console's, whatever the page says", async (t) => {
  const published: CardStatusEvent[] = [];
  const app = buildConsoleServer({ view: new ConsoleView(), publish: async (e) => void published.push(e), csrfToken: CSRF, now: () => NOW });
  const res = await app.inject({
    method: 'POST',
    url: '/api/cards/status',
    payload: { card_number: CARD, status: 'STOLEN', reported_by: 'the boss' },
    headers: { 'x-csrf-token': CSRF },
  });
  t.equal(res.statusCode, 202);
  t.equal(published[0]?.data.reported_by, 'console');
});
