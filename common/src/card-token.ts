/**
 * The card token: what every component downstream of the input stream carries instead of the card
 * number (PAN). A token is HMAC-SHA-256 of the PAN's ASCII digits under a secret key, written as
 * base64url (43 characters): stable per card and key, so a risk team can follow a card, and
 * unreadable without the key, which a hash of a 16-digit number is not (PCI DSS 3.5.1.1 asks
 * hashes of PANs to be keyed). Each token travels with the id of its key (`card_key_id`), so keys
 * can rotate, and with the masked PAN (first 6 and last 4 digits, PCI DSS's display rule).
 *
 * The key, as text (a file locally, a Secrets Manager secret in AWS):
 *   {"keyId":"<1-64 of A-Z a-z 0-9 . _ ->","key":"<at least 32 characters>"}
 * The key's UTF-8 bytes are the HMAC key. In AWS the stack generates it (64 random alphanumerics);
 * locally `npm start` writes data/card-token-key.json on first start (32 random bytes, base64url),
 * readable by its owner only. Tools and tests compute tokens with the same file.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { AppError } from './errors.js';
import { LOCAL_DEFAULTS } from './config.js';
import { maskCardNumber } from './luhn.js';
import { sipKeyOf, type SipKey } from './siphash.js';
import type { AwsEndpointConfig } from './kinesis.js';

/** Where `npm start` keeps the local key. */
export const LOCAL_CARD_TOKEN_KEY_FILE = LOCAL_DEFAULTS.CARD_TOKEN_KEY_FILE;

/** A token's form: base64url of 32 bytes, no padding. */
export const CARD_TOKEN = /^[A-Za-z0-9_-]{43}$/;
export const CARD_KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const keySchema = z.strictObject({
  keyId: z.string().regex(CARD_KEY_ID, 'must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit'),
  key: z.string().min(32, 'must be at least 32 characters'),
});

/** What replaces a card number downstream. */
export interface CardReference {
  card_token: string;
  card_key_id: string;
  card_masked: string;
}

/** A card's route: its Kinesis hash key, encrypted (base64url of one AES block). */
export const CARD_ROUTE = /^[A-Za-z0-9_-]{22}$/;
/** The masked form: first 6 and last 4 digits, the rest as `*`. */
export const CARD_MASKED = /^\d{6}\*{2,9}\d{4}$/;

/**
 * How the processor names a card in its state and its stolen set (a "card ref"): the token, the
 * masked form, the route and the key id in one string, `<token>:<masked>:<route>:<keyId>`. One
 * string, because the engine keys everything by card (maps, sorted lists, stored panes) and needs
 * all four only when it writes an output or cuts a child shard's state.
 */
export interface CardRefParts extends CardReference {
  /**
   * The card's Kinesis hash key (MD5 of its number, which routes its payments to a shard),
   * encrypted: a child shard's state after a split or merge is cut by hash key, but an unkeyed
   * hash of a card number stored beside its first 6 and last 4 digits gives the number back in a
   * few thousand guesses, so it is never stored in clear.
   */
  card_route: string;
}

const CARD_REF = /^([A-Za-z0-9_-]{43}):(\d{6}\*{2,9}\d{4}):([A-Za-z0-9_-]{22}):([A-Za-z0-9][A-Za-z0-9._-]{0,63})$/;

/** The card ref of these parts. */
export function cardRefOf(p: CardRefParts): string {
  return `${p.card_token}:${p.card_masked}:${p.card_route}:${p.card_key_id}`;
}

/** Whether `ref` is a card ref (what parseCardRef accepts, without cutting it into parts). */
export function isCardRef(ref: string): boolean {
  return CARD_REF.test(ref);
}

/** The parts of a card ref, or undefined when `ref` is not one. */
export function parseCardRef(ref: string): CardRefParts | undefined {
  const m = CARD_REF.exec(ref);
  return m ? { card_token: m[1]!, card_masked: m[2]!, card_route: m[3]!, card_key_id: m[4]! } : undefined;
}

/** The parts of a card ref known to be well formed (the engine's own), cut by position: no regex on the output path. */
export function splitCardRef(ref: string): CardRefParts {
  const maskedEnd = ref.indexOf(':', 44);
  return {
    card_token: ref.slice(0, 43),
    card_masked: ref.slice(44, maskedEnd),
    card_route: ref.slice(maskedEnd + 1, maskedEnd + 23),
    card_key_id: ref.slice(maskedEnd + 24),
  };
}

/** The token of a card ref (its first 43 characters), without checking the rest. */
export function tokenOfCardRef(ref: string): string {
  return ref.slice(0, 43);
}

export class CardTokenizer {
  readonly keyId: string;
  readonly #key: Buffer;
  /** The AES-256 key of routes, derived from the token key (so one secret serves both). */
  readonly #routeKey: Buffer;
  /**
   * The SipHash key of the processor's record of recent payments (common/src/siphash.ts), derived
   * alike: the record knows cards by this keyed hash of their number, never by the number.
   */
  readonly recordKey: SipKey;

  constructor(keyId: string, key: string | Buffer) {
    if (!CARD_KEY_ID.test(keyId)) throw new TypeError(`card token key id ${JSON.stringify(keyId)} is not of the form ${CARD_KEY_ID}`);
    this.keyId = keyId;
    this.#key = Buffer.from(key);
    if (this.#key.length < 32) throw new TypeError('a card token key must be at least 32 bytes');
    this.#routeKey = createHmac('sha256', this.#key).update('card-route/v1').digest();
    this.recordKey = sipKeyOf(createHmac('sha256', this.#key).update('recent-payments/v1').digest().subarray(0, 16));
  }

  /** Reads the key's JSON text (see the file comment); `source` names where it came from in errors. */
  static fromKeyText(text: string, source: string): CardTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError('CARD_KEY', `${source}: the card token key is not JSON`);
    }
    const parsed = keySchema.safeParse(json);
    if (!parsed.success) {
      // Never echo the input: it is (or holds) the key.
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new AppError('CARD_KEY', `${source}: the card token key must be {"keyId":…,"key":…}: ${problems}`);
    }
    return new CardTokenizer(parsed.data.keyId, parsed.data.key);
  }

  /** The token of a card number (its ASCII digits, as a string or bytes). */
  token(pan: string | Uint8Array): string {
    return createHmac('sha256', this.#key).update(pan).digest('base64url');
  }

  /** The token's 32 bytes (a token is their base64url). */
  digest(pan: string | Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(pan).digest();
  }

  /** Token, key id and masked form of a card number. */
  reference(pan: string): CardReference {
    return { card_token: this.token(pan), card_key_id: this.keyId, card_masked: maskCardNumber(pan) };
  }

  /**
   * The card's route: AES-256 of the 16 bytes of its Kinesis hash key (MD5 of the number as
   * partition key), one block, so the same card always has the same route and only the key's
   * holder can read the hash key back (`hashKeyOfRoute`).
   */
  route(pan: string): string {
    const cipher = createCipheriv('aes-256-ecb', this.#routeKey, null).setAutoPadding(false);
    const hashKey = createHash('md5').update(pan, 'utf8').digest();
    return Buffer.concat([cipher.update(hashKey), cipher.final()]).toString('base64url');
  }

  /** The Kinesis hash key a route encrypts (as a number, like a shard's hash key range). */
  hashKeyOfRoute(route: string): bigint {
    if (!CARD_ROUTE.test(route)) throw new TypeError('not a card route');
    const decipher = createDecipheriv('aes-256-ecb', this.#routeKey, null).setAutoPadding(false);
    const hashKey = Buffer.concat([decipher.update(Buffer.from(route, 'base64url')), decipher.final()]);
    return BigInt(`0x${hashKey.toString('hex')}`);
  }

  /** The card ref of a card number (see CardRefParts). */
  cardRef(pan: string): string {
    return cardRefOf({ ...this.reference(pan), card_route: this.route(pan) });
  }

  /** The Kinesis hash key of the card a ref names; its key id must be this tokenizer's. */
  hashKeyOfCardRef(ref: string): bigint {
    const parts = parseCardRef(ref);
    if (!parts) throw new TypeError('not a card ref');
    if (parts.card_key_id !== this.keyId) throw new AppError('CARD_KEY', `a card ref of key ${parts.card_key_id} read with key ${this.keyId}`);
    return this.hashKeyOfRoute(parts.card_route);
  }
}

/** A new random key as its JSON text. */
export function newCardTokenKeyText(keyId = `local-${randomBytes(4).toString('hex')}`): string {
  return `${JSON.stringify({ keyId, key: randomBytes(32).toString('base64url') })}\n`;
}

/**
 * The key in `path`; when the file is missing and `create` is set, a new one written there first
 * (mode 0600, created exclusively, so two processes starting together end up with the same key).
 */
export async function loadCardTokenKeyFile(path: string, options: { create?: boolean } = {}): Promise<CardTokenizer> {
  if (options.create) {
    await mkdir(dirname(path), { recursive: true });
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(newCardTokenKeyText());
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new AppError('CARD_KEY', `${path}: the card token key cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      cause: e,
    });
  }
  return CardTokenizer.fromKeyText(text, path);
}

/** The key held by a Secrets Manager secret (its SecretString, the same JSON as the file). */
export async function loadCardTokenKeySecret(secretId: string, endpoint: AwsEndpointConfig): Promise<CardTokenizer> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new SecretsManagerClient({
    region: endpoint.region,
    // Its default handler is HTTP/1.1 already (only Kinesis's is HTTP/2).
    ...(endpoint.endpoint ? { endpoint: endpoint.endpoint } : {}),
  });
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (out.SecretString === undefined) throw new AppError('CARD_KEY', `secret ${secretId}: no SecretString (a binary secret is not a card token key)`);
    return CardTokenizer.fromKeyText(out.SecretString, `secret ${secretId}`);
  } finally {
    client.destroy();
  }
}

/**
 * The tokenizer a component is configured with: CARD_TOKEN_KEY_SECRET (a secret's id or ARN, in
 * AWS) or else the key file CARD_TOKEN_KEY_FILE (created when missing only if `createFile`).
 */
export function loadCardTokenizer(
  config: { CARD_TOKEN_KEY_SECRET?: string | undefined; CARD_TOKEN_KEY_FILE: string; AWS_REGION: string; SECRETS_ENDPOINT?: string | undefined },
  options: { createFile?: boolean } = {},
): Promise<CardTokenizer> {
  if (config.CARD_TOKEN_KEY_SECRET) {
    return loadCardTokenKeySecret(config.CARD_TOKEN_KEY_SECRET, { region: config.AWS_REGION, endpoint: config.SECRETS_ENDPOINT });
  }
  return loadCardTokenKeyFile(config.CARD_TOKEN_KEY_FILE, { create: options.createFile ?? false });
}
