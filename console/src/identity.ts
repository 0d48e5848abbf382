/**
 * Who reports a card, in AWS: the load balancer signs every request in with Cognito and passes the
 * user's claims in `x-amzn-oidc-data`, a JWT it signs itself (ES256). The console verifies that
 * signature with the load balancer's public key for the token's `kid` (served by AWS at
 * https://public-keys.auth.elb.<region>.amazonaws.com/<kid>), checks that the signer is this
 * console's load balancer and that the token has not expired, and records the user as the report's
 * `reported_by`. The security group already admits only the load balancer; the signature makes the
 * name hold even if something else reached the port.
 *
 * Locally there is no load balancer and no sign-in: reports are `reported_by: console`.
 */
import { verify } from 'node:crypto';

export class IdentityError extends Error {
  override name = 'IdentityError';
}

export interface SignedInUser {
  /** The user's email, else username, else subject: what `reported_by` records. */
  name: string;
  subject: string;
}

export interface AlbIdentityOptions {
  /** The load balancer's ARN: a token signed by another is refused. */
  albArn: string;
  /** Where the public keys are, without the trailing `/<kid>`. */
  keysUrl: string;
  fetch?: typeof fetch;
  now?: () => number;
}

const MAX_KEYS = 16;
const b64 = (part: string) => Buffer.from(part.replace(/=+$/, ''), 'base64url');

/** Verifies the load balancer's `x-amzn-oidc-data`. */
export class AlbIdentity {
  readonly #albArn: string;
  readonly #keysUrl: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  /** Public keys by kid (a load balancer signs with few; bounded all the same). */
  readonly #keys = new Map<string, string>();

  constructor(options: AlbIdentityOptions) {
    this.#albArn = options.albArn;
    this.#keysUrl = options.keysUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
  }

  async userOf(token: string | undefined): Promise<SignedInUser> {
    if (!token) throw new IdentityError('no x-amzn-oidc-data header: not signed in through the load balancer');
    const parts = token.split('.');
    if (parts.length !== 3) throw new IdentityError('x-amzn-oidc-data is not a JWT');
    let header: { alg?: unknown; kid?: unknown; signer?: unknown; exp?: unknown };
    let claims: { sub?: unknown; email?: unknown; username?: unknown; exp?: unknown };
    try {
      header = JSON.parse(b64(parts[0]!).toString('utf8')) as typeof header;
      claims = JSON.parse(b64(parts[1]!).toString('utf8')) as typeof claims;
    } catch {
      throw new IdentityError('x-amzn-oidc-data is not a JWT');
    }
    if (header.alg !== 'ES256') throw new IdentityError(`unexpected JWT algorithm ${String(header.alg)}`);
    if (header.signer !== this.#albArn) throw new IdentityError('the token was signed by another load balancer');
    if (typeof header.kid !== 'string' || !/^[A-Za-z0-9-]{1,128}$/.test(header.kid)) throw new IdentityError('the token names no key');
    const exp = typeof header.exp === 'number' ? header.exp : claims.exp;
    if (typeof exp !== 'number' || exp * 1000 <= this.#now()) throw new IdentityError('the token has expired');
    const key = await this.#key(header.kid);
    const signed = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, b64(parts[2]!));
    if (!signed) throw new IdentityError('the token signature does not verify');
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new IdentityError('the token names no user');
    const name = [claims.email, claims.username, claims.sub].find((v): v is string => typeof v === 'string' && v !== '')!;
    return { name, subject: claims.sub };
  }

  async #key(kid: string): Promise<string> {
    const known = this.#keys.get(kid);
    if (known) return known;
    let res: Response;
    try {
      res = await this.#fetch(`${this.#keysUrl}/${kid}`, { signal: AbortSignal.timeout(5_000) });
    } catch (error) {
      throw new IdentityError(`the load balancer's public key could not be fetched: ${(error as Error).message}`);
    }
    if (!res.ok) throw new IdentityError(`the load balancer's public key could not be fetched: ${res.status}`);
    const pem = await res.text();
    if (!pem.includes('BEGIN PUBLIC KEY')) throw new IdentityError("the load balancer's public key is not a PEM key");
    if (this.#keys.size >= MAX_KEYS) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(kid, pem);
    return pem;
  }
}
