import { InboxUnavailableError } from './inbox.errors.js';

export interface RetryPolicy {
  maxAttempts: number;
  /** Total time for one logical call, retries and waits included. */
  budgetMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** What one attempt concluded: a value, or a transient failure worth another try. */
export type Attempt<T> = { ok: T } | { retry: string; retryAfterMs?: number };

export interface RetryContext {
  attempt: number;
  /** Milliseconds left in the budget; an attempt uses it to cap its own timeout. */
  remainingMs: number;
}

/**
 * Runs `attempt` until it succeeds, throws (not retryable), or the bound is reached. Waits grow
 * exponentially with full jitter, or follow the server's `Retry-After` when it gave one; a wait that
 * would overrun the budget ends the call at once instead of sleeping in vain.
 */
export async function withRetries<T>(
  what: string,
  policy: RetryPolicy,
  attempt: (ctx: RetryContext) => Promise<Attempt<T>>,
  clock: { now(): number; sleep(ms: number): Promise<void>; random(): number } = defaultClock,
): Promise<T> {
  const deadline = clock.now() + policy.budgetMs;
  for (let n = 1; ; n++) {
    const outcome = await attempt({ attempt: n, remainingMs: deadline - clock.now() });
    if ('ok' in outcome) return outcome.ok;
    const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
    const wait = outcome.retryAfterMs ?? Math.round(backoff / 2 + (clock.random() * backoff) / 2);
    if (n >= policy.maxAttempts) {
      throw new InboxUnavailableError(`${what} failed after ${n} attempts: ${outcome.retry}`, n);
    }
    if (clock.now() + wait >= deadline) {
      throw new InboxUnavailableError(`${what} gave up after ${n} attempts, out of time (${policy.budgetMs}ms): ${outcome.retry}`, n);
    }
    await clock.sleep(wait);
  }
}

const defaultClock = {
  now: () => Date.now(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

/** `Retry-After` as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
