import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { safeError } from '../common/safe-error.js';
import { SlidingWindowLimiter } from './rate-limiter.js';

/** What the Inbox client asks before each request: wait until a start is allowed. */
export interface RequestLimiter {
  acquire(): Promise<void>;
}

/**
 * The sliding window of `rate-limiter.ts`, kept in Redis so that every replica draws on one limit
 * per organisation: `INBOX_RATE_LIMIT` then means what the platform means (per account, not per
 * process). A sorted set holds the reserved start times; one script reserves the next free one
 * atomically, on Redis's own clock so replicas' clocks need not agree. Written here rather than
 * taken from a library: the libraries we looked at (rate-limiter-flexible, bottleneck) count fixed
 * windows, which let up to twice the limit through across a window boundary, or are unmaintained.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
local n = redis.call('ZCARD', KEYS[1])
local at = now
if n >= cap then
  local oldest = redis.call('ZRANGE', KEYS[1], n - cap, n - cap, 'WITHSCORES')
  at = math.max(now, tonumber(oldest[2]) + win)
end
redis.call('ZADD', KEYS[1], at, ARGV[3])
redis.call('PEXPIRE', KEYS[1], at - now + win + 1000)
return at - now
`;

/** How long a process keeps to its own limit after Redis failed, before asking Redis again. */
const RETRY_REDIS_AFTER_MS = 5000;

export class RedisRateLimiter implements RequestLimiter {
  private readonly logger = new Logger(RedisRateLimiter.name);
  private readonly capacity: number;
  private readonly windowMs: number;
  /** While Redis cannot answer, this process keeps to the limit on its own (its share is then unknown). */
  private readonly local: SlidingWindowLimiter;
  /** Set while Redis is failing: until then this process limits itself, without asking Redis each time. */
  private degradedUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    perSecond: number,
  ) {
    this.capacity = Math.max(1, Math.round(perSecond));
    this.windowMs = Math.round((this.capacity / perSecond) * 1000);
    this.local = new SlidingWindowLimiter(perSecond);
  }

  async acquire(): Promise<void> {
    if (Date.now() < this.degradedUntil) return this.local.acquire();
    let wait: number;
    try {
      wait = Number(await this.redis.eval(RESERVE, 1, this.key, this.capacity, this.windowMs, randomUUID()));
      if (this.degradedUntil) {
        this.degradedUntil = 0;
        this.logger.log({ key: this.key, msg: 'the shared Inbox rate limit is kept in Redis again' });
      }
    } catch (err) {
      if (!this.degradedUntil) this.logger.warn({ key: this.key, err: safeError(err), msg: 'Redis cannot keep the shared Inbox rate limit; this process limits itself alone meanwhile' });
      this.degradedUntil = Date.now() + RETRY_REDIS_AFTER_MS;
      return this.local.acquire();
    }
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
