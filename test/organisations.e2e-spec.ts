import { Redis } from 'ioredis';
import { HttpInboxClient } from '../src/inbox/http-inbox.client.js';
import { InboxClients } from '../src/inbox/inbox-clients.js';
import { RedisRateLimiter } from '../src/inbox/shared-rate-limiter.js';
import { parseEnv } from '../src/config/env.schema.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { ORCHESTRATION_AGENTS, lastContactText } from './support/agents.js';
import { REDIS_URL, TRIAGE_SECRET, startBridge, testEnv, waitFor, type TestBridge } from './support/bridge.js';

const OTHER_SECRET = '0123456789abcdef0123456789abcdef';

/** A second agent in its own Hootsuite organisation, with its own LLM endpoint and key. */
const agents = (otherInboxUrl: string) => `${ORCHESTRATION_AGENTS}
  - id: globex
    name: Globex Support
    mode: inception
    secretEnv: GLOBEX_SECRET
    llm: { model: globex-model, baseUrlEnv: GLOBEX_LLM_URL, apiKeyEnv: GLOBEX_LLM_KEY }
    inbox: { clientIdEnv: GLOBEX_CLIENT_ID, clientSecretEnv: GLOBEX_CLIENT_SECRET, organizationIdEnv: GLOBEX_ORG, apiUrl: ${otherInboxUrl} }
    prompt: You are Globex's assistant.
    timeouts: { turnDebounce: 0s, virtualAgent: 5m, contact: 1h }
`;

describe('several organisations', () => {
  const acmeInbox = new FakeInbox({ clientId: 'acme-app', clientSecret: 'acme-secret', organizationId: 'org-acme' });
  const globexInbox = new FakeInbox({ clientId: 'globex-app', clientSecret: 'globex-secret', organizationId: 'org-globex' });
  const acmeLlm = new FakeLlm();
  const globexLlm = new FakeLlm();
  let bridge: TestBridge;

  beforeAll(async () => {
    await Promise.all([acmeInbox.start(), globexInbox.start(), acmeLlm.start(), globexLlm.start()]);
    acmeLlm.apiKey = 'test-key';
    globexLlm.apiKey = 'globex-key';
    bridge = await startBridge({
      agents: agents(globexInbox.url),
      inbox: acmeInbox,
      llm: acmeLlm,
      env: {
        GLOBEX_SECRET: OTHER_SECRET,
        GLOBEX_LLM_URL: globexLlm.url,
        GLOBEX_LLM_KEY: 'globex-key',
        GLOBEX_CLIENT_ID: 'globex-app',
        GLOBEX_CLIENT_SECRET: 'globex-secret',
        GLOBEX_ORG: 'org-globex',
        OPENAI_MAX_RETRIES: '0',
      },
    });
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([acmeInbox.stop(), globexInbox.stop(), acmeLlm.stop(), globexLlm.stop()]);
  });

  it('each agent talks to its own organisation with its own token, and to its own LLM with its own key', async () => {
    acmeLlm.respondWith((req) => ({ decision: { message: `Acme here: ${lastContactText(req)}` } }));
    globexLlm.respondWith((req) => ({ decision: { message: `Globex here: ${lastContactText(req)}` } }));
    const acme = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox: acmeInbox });
    const globex = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'globex', secretHex: OTHER_SECRET, inbox: globexInbox });
    await acme.startConversation('acme-1');
    await globex.startConversation('globex-1');
    await acme.contactSays('acme-1', 'Hello Acme');
    await globex.contactSays('globex-1', 'Hello Globex');

    await waitFor('both replies', () => acmeInbox.messagesSent('acme-1').length === 1 && globexInbox.messagesSent('globex-1').length === 1);
    expect(acmeInbox.messagesSent('acme-1')).toEqual(['Acme here: Hello Acme']);
    expect(globexInbox.messagesSent('globex-1')).toEqual(['Globex here: Hello Globex']);
    // Each fake platform accepts only its own app's credentials and its own tokens: one token each.
    expect(acmeInbox.tokenRequests).toBe(1);
    expect(globexInbox.tokenRequests).toBe(1);
    expect(acmeInbox.messagesSent('globex-1')).toEqual([]);
    expect(globexInbox.messagesSent('acme-1')).toEqual([]);
    // Each LLM saw only its agent's conversation (and refuses any other key).
    expect(acmeLlm.requests.map((r) => r.model)).toEqual(['test-model']);
    expect(globexLlm.requests.map((r) => r.model)).toEqual(['globex-model']);
  });

});

describe('one rate limit per organisation, across replicas', () => {
  const inbox = new FakeInbox();
  const prefix = `iva-test-rate-${Date.now()}`;
  const replicas: InboxClients[] = [];

  beforeAll(async () => {
    await inbox.start();
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.onModuleDestroy()));
    await inbox.stop();
  });

  it('two replicas together keep to INBOX_RATE_LIMIT, as the platform counts it', async () => {
    // A database other than 0: the limiter must use REDIS_URL as given, not a default connection.
    const env = parseEnv(testEnv({ ...inbox.env(), REDIS_URL: `${REDIS_URL}/5`, REDIS_PREFIX: prefix, INBOX_RATE_LIMIT: '5' }));
    replicas.push(new InboxClients(env), new InboxClients(env));
    const ids = Array.from({ length: 24 }, (_, i) => `rate-${i}`);
    ids.forEach((id) => inbox.openConversation(id));
    const started = Date.now();
    await Promise.all(ids.map((id, i) => replicas[i % 2].manipulateConversation(id, { sendMessage: { text: 'hi' } })));
    const calls = inbox.requests.filter((r) => r.path.startsWith('/inbox/v1/virtual-agent/conversations/')).map((r) => r.at).sort((a, b) => a - b);
    expect(calls).toHaveLength(24);
    // At most 5 starts in any window of a second, as the requests arrived (less a little for the
    // network's jitter: a window's worth of arrivals can bunch by a few milliseconds).
    const inAnyWindow = Math.max(...calls.map((at) => calls.filter((t) => t >= at && t < at + 950).length));
    expect(inAnyWindow).toBeLessThanOrEqual(5);
    // 24 starts at 5 a second need more than 4 seconds, whichever replica made them.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    const db5 = new Redis(`${REDIS_URL}/5`);
    try {
      expect(await db5.keys(`${prefix}:inbox-rate:*`)).toHaveLength(1);
    } finally {
      db5.disconnect();
    }
  });

  it('keeps one client, and so one token, per organisation and app, however agents alternate', () => {
    const env = parseEnv(testEnv({ ...inbox.env(), REDIS_PREFIX: prefix }));
    const clients = new InboxClients(env);
    replicas.push(clients);
    const appA = { organisation: { clientId: 'app-a', clientSecret: 'a', organizationId: 'org-x' } };
    const appB = { organisation: { clientId: 'app-b', clientSecret: 'b', organizationId: 'org-x' } };
    const seen = [appA, appB, appA, appB, {}, appA].map((agent) => clients.forAgent(agent));
    expect(new Set(seen).size).toBe(3);
    expect(seen[0]).toBe(seen[2]);
    expect(seen[1]).toBe(seen[3]);
    // New credentials for an app (a reload) get a client of their own.
    expect(clients.forAgent({ organisation: { ...appA.organisation, clientSecret: 'rotated' } })).not.toBe(seen[0]);
  });

  it('each replica limits itself alone while Redis cannot answer, and never blocks on it', async () => {
    const dead = new Redis({ host: '127.0.0.1', port: 9, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => undefined);
    const limiter = new RedisRateLimiter(dead, `${prefix}:dead`, 50);
    inbox.openConversation('rate-down');
    const client = new HttpInboxClient({
      baseUrl: inbox.url,
      clientId: inbox.clientId,
      clientSecret: inbox.clientSecret,
      organizationId: inbox.organizationId,
      timeoutMs: 5000,
      maxAttempts: 1,
      retryBudgetMs: 5000,
      ratePerSecond: 50,
      limiter,
    });
    await client.manipulateConversation('rate-down', { sendMessage: { text: 'still sent' } });
    expect(inbox.messagesSent('rate-down')).toEqual(['still sent']);
    dead.disconnect();
  });

  it('shares the window through Redis: a second limiter on the same key sees the first one’s starts', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      const key = `${prefix}:shared`;
      const a = new RedisRateLimiter(redis, key, 2);
      const b = new RedisRateLimiter(redis, key, 2);
      await a.acquire();
      await a.acquire();
      const started = Date.now();
      await b.acquire(); // the window is full: b must wait for a's first start to leave it
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    } finally {
      redis.disconnect();
    }
  });
});
