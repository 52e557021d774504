import { Logger } from '@nestjs/common';
import type { z } from 'zod';
import type { Env } from '../config/env.schema.js';
import { InboxClient, type CallOptions } from './inbox.client.js';
import {
  ConversationLostError,
  InboxAuthError,
  InboxRequestError,
  InvalidInboxRequestError,
} from './inbox.errors.js';
import {
  ATTACHMENT_NAME,
  ContactAttributesOverwriteSchema,
  MAX_ATTACHMENT_BYTES,
  ManipulateConversationSchema,
  TokenResponseSchema,
  type ManipulateConversation,
} from './inbox.schemas.js';
import { SlidingWindowLimiter } from './rate-limiter.js';
import type { RequestLimiter } from './shared-rate-limiter.js';
import { parseRetryAfter, withRetries, type Attempt, type RetryPolicy } from './retry.js';
import { parseJsonOrUndefined as safeJson } from '../common/safe-json.js';
import { OnlineAgentsSchema, type OnlineAgents } from './presence.schema.js';

export interface InboxClientOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  organizationId: string;
  timeoutMs: number;
  maxAttempts: number;
  retryBudgetMs: number;
  ratePerSecond: number;
  baseDelayMs?: number;
  /** Shared with other replicas (shared-rate-limiter.ts); a limit of this process alone when absent. */
  limiter?: RequestLimiter;
}

export function inboxOptionsFromEnv(env: Env): InboxClientOptions {
  return {
    baseUrl: env.INBOX_API_URL,
    clientId: env.INBOX_CLIENT_ID,
    clientSecret: env.INBOX_CLIENT_SECRET,
    organizationId: env.INBOX_ORGANIZATION_ID,
    timeoutMs: env.INBOX_TIMEOUT,
    maxAttempts: env.INBOX_MAX_ATTEMPTS,
    retryBudgetMs: env.INBOX_RETRY_BUDGET,
    ratePerSecond: env.INBOX_RATE_LIMIT,
  };
}

interface Request {
  what: string;
  method: 'POST' | 'PUT';
  path: string;
  body: string | Buffer;
  contentType: string;
  /** Set for the conversation endpoints, where `404` means the VA lost the conversation. */
  conversationId?: string;
  beforeAttempt?: () => Promise<void>;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** Refresh this long before the platform says a token expires (or a tenth of its life, if shorter). */
const TOKEN_EARLY_REFRESH_MS = 60_000;

export class HttpInboxClient extends InboxClient {
  private readonly logger = new Logger(HttpInboxClient.name);
  private readonly limiter: RequestLimiter;
  private readonly policy: RetryPolicy;
  private readonly baseUrl: string;
  private token?: CachedToken;
  private tokenInFlight?: Promise<string>;

  constructor(private readonly options: InboxClientOptions) {
    super();
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.limiter = options.limiter ?? new SlidingWindowLimiter(options.ratePerSecond);
    this.policy = {
      maxAttempts: options.maxAttempts,
      budgetMs: options.retryBudgetMs,
      baseDelayMs: options.baseDelayMs ?? 250,
      maxDelayMs: 8000,
    };
  }

  async manipulateConversation(conversationId: string, body: ManipulateConversation, options: CallOptions = {}): Promise<void> {
    const valid = validate(ManipulateConversationSchema, body, 'manipulate conversation');
    await this.send({
      what: `manipulate conversation ${conversationId}`,
      method: 'POST',
      path: `/inbox/v1/virtual-agent/conversations/${encodeURIComponent(conversationId)}`,
      body: JSON.stringify(valid),
      contentType: 'application/json',
      conversationId,
      beforeAttempt: options.beforeAttempt,
    });
  }

  async uploadAttachment(conversationId: string, filename: string, bytes: Buffer, contentType: string): Promise<void> {
    if (!ATTACHMENT_NAME.test(filename)) throw new InvalidInboxRequestError(`attachment name "${filename}" must match [A-Za-z0-9._-]+`);
    if (bytes.length === 0) throw new InvalidInboxRequestError('attachment is empty');
    if (bytes.length >= MAX_ATTACHMENT_BYTES) throw new InvalidInboxRequestError(`attachment is ${bytes.length} bytes; the limit is under 10 MB`);
    if (!/^[\w.+-]+\/[\w.+-]+/.test(contentType)) throw new InvalidInboxRequestError(`"${contentType}" is not a content type`);
    await this.send({
      what: `upload attachment ${filename} to conversation ${conversationId}`,
      method: 'PUT',
      path: `/inbox/v1/virtual-agent/conversations/${encodeURIComponent(conversationId)}/attachments/${filename}`,
      body: bytes,
      contentType,
      conversationId,
    });
  }

  async overwriteContactAttributes(contactProfileId: string, attributes: Record<string, string>): Promise<void> {
    const valid = validate(ContactAttributesOverwriteSchema, attributes, 'overwrite contact attributes');
    await this.send({
      what: `overwrite attributes of contact ${contactProfileId}`,
      method: 'PUT',
      path: `/inbox/v2/contact/${encodeURIComponent(contactProfileId)}/contact-attributes`,
      body: JSON.stringify({
        autoConfirm: true,
        contactAttributes: Object.entries(valid).map(([attribute, value]) => ({ attribute, value })),
      }),
      contentType: 'application/json',
    });
  }

  override async onlineAgents(): Promise<OnlineAgents> {
    const what = 'list online agents';
    for (let refreshed = false; ; refreshed = true) {
      const token = await this.accessToken();
      await this.limiter.acquire();
      const res = await fetch(`${this.baseUrl}/inbox/v1/user-presence/online-agents`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const answer = await res.text().catch(() => '');
      if (res.status === 401 && !refreshed) {
        this.forgetToken(token);
        continue;
      }
      if (res.status === 401) throw new InboxAuthError(`${what}: a fresh token was refused (401)`);
      if (!res.ok) throw new InboxRequestError(res.status, answer, what);
      const parsed = OnlineAgentsSchema.safeParse(safeJson(answer));
      if (!parsed.success) throw new InboxRequestError(res.status, 'an answer without the documented agents list', what);
      return parsed.data;
    }
  }

  private async send(req: Request): Promise<void> {
    let refreshed = false;
    // Set once an attempt may have reached the platform and been applied without our seeing the answer.
    let ambiguous = false;
    const started = Date.now();
    await withRetries(req.what, this.policy, async ({ attempt, remainingMs }): Promise<Attempt<void>> => {
      await req.beforeAttempt?.();
      for (;;) {
        const token = await this.accessToken();
        await this.limiter.acquire();
        let res: Response;
        try {
          res = await fetch(this.baseUrl + req.path, {
            method: req.method,
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': req.contentType,
            },
            body: req.body,
            signal: AbortSignal.timeout(Math.max(1, Math.min(this.options.timeoutMs, remainingMs))),
          });
        } catch (err) {
          const failure = networkFailure(err);
          ambiguous ||= failure.ambiguous;
          return { retry: failure.message };
        }
        const answer = await res.text().catch(() => '');
        this.logger.debug({ conversationId: req.conversationId, path: req.path, status: res.status, attempt, ms: Date.now() - started });
        if (res.ok) return { ok: undefined };
        if (res.status === 401 && !refreshed) {
          // An expired token: fetch a new one and replay once, without counting it as a failure.
          refreshed = true;
          this.forgetToken(token);
          continue;
        }
        if (res.status === 401) throw new InboxAuthError(`${req.what}: a fresh token was refused (401)`);
        if (res.status === 404 && req.conversationId) throw new ConversationLostError(req.conversationId, ambiguous);
        if (res.status === 429 || res.status >= 500) {
          ambiguous ||= res.status >= 500;
          return { retry: `${res.status} ${answer.slice(0, 200)}`.trim(), retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
        }
        throw new InboxRequestError(res.status, answer, req.what);
      }
    });
  }

  /** One token for every caller: a fetch in flight is shared, and the result cached until shortly before expiry. */
  private accessToken(): Promise<string> {
    if (this.token && Date.now() < this.token.expiresAt) return Promise.resolve(this.token.value);
    this.tokenInFlight ??= this.fetchToken().finally(() => {
      this.tokenInFlight = undefined;
    });
    return this.tokenInFlight;
  }

  private forgetToken(value: string): void {
    if (this.token?.value === value) this.token = undefined;
  }

  private async fetchToken(): Promise<string> {
    const basic = Buffer.from(`${this.options.clientId}:${this.options.clientSecret}`).toString('base64');
    const body = new URLSearchParams({ grant_type: 'organization_app', organization_id: this.options.organizationId }).toString();
    const token = await withRetries('fetch an Inbox 2.0 access token', this.policy, async ({ remainingMs }): Promise<Attempt<CachedToken>> => {
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}/oauth2/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
          signal: AbortSignal.timeout(Math.max(1, Math.min(this.options.timeoutMs, remainingMs))),
        });
      } catch (err) {
        return { retry: networkFailure(err).message };
      }
      const answer = await res.text().catch(() => '');
      if (res.status === 429 || res.status >= 500) {
        return { retry: `token endpoint answered ${res.status}`, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
      }
      if (!res.ok) throw new InboxAuthError(`the token endpoint refused the credentials (${res.status}): ${answer.slice(0, 200)}`);
      const parsed = TokenResponseSchema.safeParse(safeJson(answer));
      if (!parsed.success) throw new InboxAuthError('the token endpoint answered without access_token/expires_in');
      const lifetimeMs = parsed.data.expires_in * 1000;
      const early = Math.min(TOKEN_EARLY_REFRESH_MS, lifetimeMs / 10);
      return { ok: { value: parsed.data.access_token, expiresAt: Date.now() + lifetimeMs - early } };
    });
    this.token = token;
    return token.value;
  }
}

function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`).join('; ');
  throw new InvalidInboxRequestError(`${what}: ${issues}`);
}

/** A refused connection never reached the platform; anything later (a timeout, a reset) may have. */
function networkFailure(err: unknown): { message: string; ambiguous: boolean } {
  const e = err as Error & { cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return { message: 'timed out', ambiguous: true };
  const code = e.cause?.code;
  const beforeSending = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
  return { message: `network error ${code ?? e.message}`, ambiguous: !beforeSending };
}
