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
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { AppError } from './errors.js';
import { LOCAL_DEFAULTS } from './config.js';
import { maskCardNumber } from './luhn.js';
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

export class CardTokenizer {
  readonly keyId: string;
  readonly #key: Buffer;

  constructor(keyId: string, key: string | Buffer) {
    if (!CARD_KEY_ID.test(keyId)) throw new TypeError(`card token key id ${JSON.stringify(keyId)} is not of the form ${CARD_KEY_ID}`);
    this.keyId = keyId;
    this.#key = Buffer.from(key);
    if (this.#key.length < 32) throw new TypeError('a card token key must be at least 32 bytes');
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

  /** Token, key id and masked form of a card number. */
  reference(pan: string): CardReference {
    return { card_token: this.token(pan), card_key_id: this.keyId, card_masked: maskCardNumber(pan) };
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
