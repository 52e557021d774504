import { createHmac, timingSafeEqual } from 'node:crypto';

/** `X-Hootsuite-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed by the hex-decoded secret. */
export function signBody(secret: Buffer, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Constant-time check of a signature header against the raw bytes as received. */
export function isValidSignature(secret: Buffer, body: Buffer, header: string | undefined): boolean {
  if (!header || !/^[0-9a-fA-F]{64}$/.test(header)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(header, 'hex'));
}
