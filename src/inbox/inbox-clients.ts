import { createHash } from 'node:crypto';
import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { AgentConfig } from '../config/agents.schema.js';
import type { Env } from '../config/env.schema.js';
import { producerConnection } from '../scheduler/redis-connection.js';
import { HttpInboxClient, inboxOptionsFromEnv, type InboxClientOptions } from './http-inbox.client.js';
import { InboxClient, type CallOptions } from './inbox.client.js';
import type { ManipulateConversation } from './inbox.schemas.js';
import { RedisRateLimiter } from './shared-rate-limiter.js';

const LIMITER_COMMAND_TIMEOUT_MS = 1000;

/**
 * The Inbox 2.0 clients of one process: the organisation of the INBOX_* variables, and one per
 * organisation an agent names (`inbox:` in the agents file). Each client caches its own token, and
 * every client of one organisation, in every replica, draws on one shared rate limit in Redis.
 */
export class InboxClients extends InboxClient implements OnModuleDestroy {
  private readonly logger = new Logger(InboxClients.name);
  /** Per organisation and app: two apps of one organisation have their own tokens, and share its limit. */
  private readonly clients = new Map<string, HttpInboxClient>();
  private readonly limiters = new Map<string, RedisRateLimiter>();
  private readonly redis: Redis;
  private readonly main: HttpInboxClient;

  constructor(private readonly env: Env) {
    super();
    // Waits at most a second for Redis (at boot, or in a blip); past that the limiter keeps this
    // process to the limit alone for a while. Never holds an Inbox call for a whole outage.
    // ioredis reads a URL only as its first argument (BullMQ reads `url` from the options; ioredis does not).
    const { url, ...options } = producerConnection(env);
    this.redis = new Redis(url!, { ...options, enableOfflineQueue: true, commandTimeout: LIMITER_COMMAND_TIMEOUT_MS });
    this.redis.on('error', () => undefined); // reported by the limiter, once per outage
    this.main = this.client(inboxOptionsFromEnv(env));
  }

  override forAgent(agent: Pick<AgentConfig, 'organisation'>): InboxClient {
    const own = agent.organisation;
    if (!own) return this.main;
    return this.client({ ...inboxOptionsFromEnv(this.env), ...own, baseUrl: own.apiUrl ?? this.env.INBOX_API_URL });
  }

  manipulateConversation(conversationId: string, body: ManipulateConversation, options?: CallOptions): Promise<void> {
    return this.main.manipulateConversation(conversationId, body, options);
  }

  uploadAttachment(conversationId: string, filename: string, bytes: Buffer, contentType: string): Promise<void> {
    return this.main.uploadAttachment(conversationId, filename, bytes, contentType);
  }

  overwriteContactAttributes(contactProfileId: string, attributes: Record<string, string>): Promise<void> {
    return this.main.overwriteContactAttributes(contactProfileId, attributes);
  }

  async onModuleDestroy(): Promise<void> {
    this.redis.disconnect();
  }

  /**
   * One client per organisation (API URL and organisation id) and app credentials: its token is
   * theirs. Every client of one organisation draws on that organisation's one rate limit. New
   * credentials (a reload) get a new client, and so a new token; the old one serves the turns that
   * started with them. Credentials are few (the agents file's), so the map stays small.
   */
  private client(options: InboxClientOptions): HttpInboxClient {
    const organisation = `${options.baseUrl.replace(/\/+$/, '')} ${options.organizationId}`;
    const key = `${organisation} ${createHash('sha256').update(`${options.clientId}\u0000${options.clientSecret}`).digest('hex')}`;
    let client = this.clients.get(key);
    if (!client) {
      let limiter = this.limiters.get(organisation);
      if (!limiter) {
        limiter = new RedisRateLimiter(this.redis, `${this.env.REDIS_PREFIX}:inbox-rate:${createHash('sha256').update(organisation).digest('hex').slice(0, 16)}`, options.ratePerSecond);
        this.limiters.set(organisation, limiter);
      }
      client = new HttpInboxClient({ ...options, limiter });
      this.clients.set(key, client);
      if (this.clients.size > 1) this.logger.log({ organizationId: options.organizationId, msg: 'an Inbox 2.0 client for another organisation or app' });
    }
    return client;
  }
}
