import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { createApp } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { QUEUES } from '../../src/scheduler/queues.js';
import type { FakeInbox } from '../fakes/fake-inbox.js';
import type { FakeLlm } from '../fakes/fake-llm.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export const TRIAGE_SECRET = '00112233445566778899aabbccddeeff';
export const HELPER_SECRET = 'ffeeddccbbaa99887766554433221100';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Two agents, one of each mode, with short timeouts that tests can override wholesale. */
export const TEST_AGENTS = `
agents:
  - id: acme
    name: Acme Support
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    topics: [Billing, Shipping, Returns]
    contactAttributes:
      order_number: The order number, like A-12345
    timeouts: { turnDebounce: 200ms, virtualAgent: 5m }
  - id: helper
    name: Acme Helper
    mode: delegation
    secretEnv: HELPER_SECRET
    handoffRule: previous-agent
    llm: { model: test-model }
    prompt: Collect the order number, then hand back.
    timeouts: { turnDebounce: 0s }
`;

export interface BridgeOptions {
  agents?: string;
  env?: Record<string, string>;
  database?: TestDatabase;
  inbox?: FakeInbox;
  llm?: FakeLlm;
}

export interface TestBridge {
  app: INestApplication;
  url: string;
  config: AppConfig;
  db: TestDatabase;
  redisPrefix: string;
  /** A BullMQ handle on the bridge's own queue, to look at what intake enqueued. */
  queue(name: keyof typeof QUEUES): Queue;
  close(): Promise<void>;
}

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL,
    REDIS_PREFIX: `iva-test-${randomBytes(4).toString('hex')}`,
    INBOX_API_URL: 'http://127.0.0.1:9',
    INBOX_CLIENT_ID: 'client',
    INBOX_CLIENT_SECRET: 'secret',
    INBOX_ORGANIZATION_ID: 'org',
    OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    OPENAI_API_KEY: 'test-key',
    TRIAGE_SECRET,
    HELPER_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  };
}

/** The real bridge on an ephemeral port, on a fresh database and its own Redis key prefix. */
export async function startBridge(options: BridgeOptions = {}): Promise<TestBridge> {
  const db = options.database ?? (await createTestDatabase());
  const dir = mkdtempSync(join(tmpdir(), 'iva-agents-'));
  const agentsFile = join(dir, 'agents.yaml');
  writeFileSync(agentsFile, options.agents ?? TEST_AGENTS);
  const fakes: Record<string, string> = {};
  if (options.inbox) Object.assign(fakes, options.inbox.env());
  if (options.llm) fakes.OPENAI_BASE_URL = options.llm.url;
  const env = testEnv({ DATABASE_URL: db.url, AGENTS_FILE: agentsFile, PORT: '0', ...fakes, ...options.env });
  const config = AppConfig.load(env);
  const app = await createApp(config);
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  const queues: Queue[] = [];
  const queue = (name: keyof typeof QUEUES): Queue => {
    const q = new Queue(QUEUES[name], { connection: { url: config.env.REDIS_URL }, prefix: config.env.REDIS_PREFIX });
    queues.push(q);
    return q;
  };
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    config,
    db,
    redisPrefix: config.env.REDIS_PREFIX,
    queue,
    async close() {
      await app.close();
      for (const name of Object.keys(QUEUES) as Array<keyof typeof QUEUES>) {
        await queue(name).obliterate({ force: true }).catch(() => undefined);
      }
      await Promise.all(queues.map((q) => q.close()));
      if (!options.database) await db.drop();
    },
  };
}

/** Polls until `check` returns a truthy value, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
