import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 24;
/** Shortest secret accepted from WEBHOOK_SECRET (HMAC-SHA256 keys shorter than this are weak). */
const SECRET_MIN_BYTES = 16;

/** A new signing secret in the Standard Webhooks form: `whsec_` + base64 of 24 random bytes. */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/** True for `whsec_<base64>` with at least 16 bytes of key. */
export function isValidSecret(secret: string): boolean {
  if (!secret.startsWith(SECRET_PREFIX)) return false;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return false;
  return Buffer.from(encoded, 'base64').length >= SECRET_MIN_BYTES;
}

/**
 * The Standard Webhooks headers of one attempt. `secrets` are the current secret and, during the grace period after
 * a rotation, the previous one: the header then carries both signatures (space-separated), and a receiver holding
 * either secret verifies the message.
 */
export function signedHeaders(messageId: string, payload: string, secrets: string[], sentAt: Date) {
  const signature = secrets.map((secret) => new Webhook(secret).sign(messageId, sentAt, payload)).join(' ');
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': signature,
  };
}
