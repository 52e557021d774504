import { randomUUID } from 'node:crypto';
import type { FakeInbox } from './fake-inbox.js';
import { envelope, signedBody, type WebhookEnvelope } from './signing.js';

export interface SenderOptions {
  bridgeUrl: string;
  agentId: string;
  secretHex: string;
  /** When set, conversations are opened in it, and handed to a human when delivery finally fails. */
  inbox?: FakeInbox;
  /** The platform: 3 retries, exponential backoff up to 2 s, 10 s to answer. Tests may shorten these. */
  retries?: number;
  backoffMs?: number[];
  timeoutMs?: number;
}

export interface Delivery {
  delivered: boolean;
  attempts: Array<{ status?: number; error?: string }>;
  event: WebhookEnvelope;
}

export interface ContactProfile {
  id?: string;
  primaryIdentifier?: string;
  [key: string]: unknown;
}

/** Plays Inbox 2.0's side of the webhook: signs, posts, and retries an unanswered event with the same key. */
export class WebhookSender {
  private readonly retries: number;
  private readonly backoffMs: number[];
  private readonly timeoutMs: number;

  constructor(private readonly options: SenderOptions) {
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? [500, 1000, 2000];
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async send(event: WebhookEnvelope): Promise<Delivery> {
    const attempts: Delivery['attempts'] = [];
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoffMs[Math.min(attempt - 1, this.backoffMs.length - 1)]);
      // Re-signed with a fresh timestamp on every try, the key unchanged, as the platform does.
      const { body, signature } = signedBody(this.options.secretHex, event);
      try {
        const res = await fetch(`${this.options.bridgeUrl}/webhooks/${this.options.agentId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hootsuite-signature': signature },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        await res.text();
        attempts.push({ status: res.status });
        if (res.status === 200) return { delivered: true, attempts, event };
      } catch (err) {
        attempts.push({ error: (err as Error).message });
      }
    }
    // Out of retries: the platform gives the conversation to a human in the New queue.
    const conversationId = (event.data as { conversationId?: string } | undefined)?.conversationId;
    if (conversationId) this.options.inbox?.takeByHuman(conversationId);
    return { delivered: false, attempts, event };
  }

  startConversation(conversationId: string, data: Record<string, unknown> = {}): Promise<Delivery> {
    this.options.inbox?.openConversation(conversationId);
    return this.send(envelope('CONVERSATION_STARTED', { conversationId, medium: { id: 'fb' }, language: 'en', ...data }));
  }

  delegate(conversationId: string, data: Record<string, unknown> = {}): Promise<Delivery> {
    this.options.inbox?.openConversation(conversationId);
    return this.send(envelope('CONVERSATION_DELEGATED', { conversationId, medium: { id: 'fb' }, language: 'en', ...data }));
  }

  contactSays(conversationId: string, text: string | undefined, extra: { messageId?: string; payload?: string } = {}): Promise<Delivery> {
    return this.send(
      envelope('INBOUND_MESSAGE_RECEIVED', {
        conversationId,
        message: { messageId: extra.messageId ?? randomUUID(), ...(text === undefined ? {} : { text }), ...(extra.payload ? { payload: extra.payload } : {}) },
        trigger: null,
        medium: { id: 'fb' },
      }),
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
