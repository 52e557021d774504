import { randomUUID } from 'node:crypto';
import { signBody } from '../../src/webhook/signature.js';

export interface WebhookEnvelope {
  timestamp: string;
  idempotencyKey: string;
  version: number;
  type: string;
  data: unknown;
}

/** An envelope as Inbox 2.0 builds it: nanosecond timestamp, a fresh idempotency key, version 1. */
export function envelope(type: string, data: unknown, overrides: Partial<WebhookEnvelope> = {}): WebhookEnvelope {
  return {
    timestamp: new Date().toISOString().replace('Z', '123456Z'),
    idempotencyKey: randomUUID(),
    version: 1,
    type,
    data,
    ...overrides,
  };
}

/** The exact bytes to send and their `X-Hootsuite-Signature`, for a hex secret as the platform shows it. */
export function signedBody(secretHex: string, event: unknown, spacing?: number): { body: string; signature: string } {
  const body = typeof event === 'string' ? event : JSON.stringify(event, null, spacing);
  return { body, signature: signBody(Buffer.from(secretHex, 'hex'), body) };
}
