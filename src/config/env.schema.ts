import { z } from 'zod';
import { ConfigError } from './config.error.js';
import { duration, parseByteSize, parseDuration } from './duration.js';

const byteSize = () =>
  z.string().transform((text, ctx) => {
    const bytes = parseByteSize(text);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a size (use b, kb or mb, like 1mb)` });
      return z.NEVER;
    }
    return bytes;
  });

/** A duration with a floor: below it the setting validates but breaks at run time. */
const durationAtLeast = (min: string) => {
  const minMs = parseDuration(min)!;
  return duration().refine((ms) => ms >= minMs, `must be at least ${min}`);
};

const bool = () =>
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const url = () => z.url({ protocol: /^(https?|postgres(ql)?|rediss?)$/ });

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/inbox_va_bridge';

/** Every environment variable the bridge reads. Secrets come only from here, never the agents file. */
export const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  ROLE: z.enum(['all', 'web', 'worker']).default('all'),
  DATABASE_URL: url().default(DEFAULT_DATABASE_URL),
  DATABASE_MIGRATE: bool().default(true),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_QUERY_TIMEOUT: duration().default(60_000),
  REDIS_URL: url().default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('iva'),
  AGENTS_FILE: z.string().min(1).default('agents.yaml'),
  INBOX_API_URL: url().default('https://platform.hootsuite.com'),
  INBOX_CLIENT_ID: z.string().min(1),
  INBOX_CLIENT_SECRET: z.string().min(1),
  INBOX_ORGANIZATION_ID: z.string().min(1),
  INBOX_TIMEOUT: duration().default(10_000),
  INBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(4),
  INBOX_RETRY_BUDGET: duration().default(30_000),
  INBOX_RATE_LIMIT: z.coerce.number().positive().default(20),
  OPENAI_BASE_URL: url().default('https://api.openai.com/v1'),
  OPENAI_API_KEY: z.string().min(1),
  OPENAI_TIMEOUT: duration().default(30_000),
  OPENAI_MAX_RETRIES: z.coerce.number().int().min(0).max(5).default(1),
  // Below these floors a setting validates but breaks at run time: a lease or a job lock that expires
  // before its first renewal (the work runs twice), a sweep that polls Postgres in a busy loop.
  TURN_LEASE: durationAtLeast('1s').default(60_000),
  TURN_CONCURRENCY: z.coerce.number().int().min(1).max(500).default(20),
  TIMER_CONCURRENCY: z.coerce.number().int().min(1).max(500).default(20),
  WORKER_LOCK_DURATION: durationAtLeast('1s').default(30_000),
  SCHEDULER_SWEEP_INTERVAL: durationAtLeast('1s').default(60_000),
  WEBHOOK_MAX_AGE: duration().default(300_000),
  WEBHOOK_BODY_LIMIT: byteSize().default(1024 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // The operator console (docs/console.md): off, and /console a 404, while no password is set.
  CONSOLE_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  CONSOLE_SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  CONSOLE_SESSION_TTL: durationAtLeast('1m').default(8 * 3_600_000),
  CONSOLE_SECURE_COOKIE: bool().default(false),
  EVAL_RESULTS_DIR: z.string().min(1).default('eval-results'),
  // Retention (docs/operations.md): unset keeps everything. At least a day, so a redelivered
  // webhook still finds its event (idempotency) and a conversation just ended keeps its record.
  RETENTION_EVENTS: durationAtLeast('1d').optional(),
  RETENTION_TRANSCRIPTS: durationAtLeast('1d').optional(),
  RETENTION_INTERVAL: durationAtLeast('1m').default(10 * 60_000),
  RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(1000),
});

export type Env = z.infer<typeof EnvSchema>;

/** Validates the environment once; the error names every variable that is wrong and why. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  // An empty variable means "not set", as it does in docker-compose files.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = EnvSchema.safeParse(cleaned);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const problem = cleaned[name] === undefined ? 'is required but not set' : issue.message;
      return `environment variable ${name} ${problem}`;
    }),
  );
}
