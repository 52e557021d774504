import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { TRIAGE_SECRET, startBridge, testEnv, waitFor, type TestBridge } from './support/bridge.js';
import { ORCHESTRATION_AGENTS, lastContactText } from './support/agents.js';

const AGENTS = ORCHESTRATION_AGENTS.replace('turnDebounce: 300ms', 'turnDebounce: 100ms')
  .replace('virtualAgent: 4s', 'virtualAgent: 1m')
  .replace('virtualAgentMargin: 1s', 'virtualAgentMargin: 10s')
  .replace('contactNudge: 1500ms', 'contactNudge: 10m')
  .replace('contact: 3s', 'contact: 1h');

describe('resilience', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let db: TestDatabase;
  const bridges: TestBridge[] = [];
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
  });
  beforeEach(async () => {
    llm.reset();
    db = await createTestDatabase();
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    for (const b of bridges.splice(0)) await b.close();
    await db.drop();
  });
  afterAll(() => Promise.all([inbox.stop(), llm.stop()]));

  const shared = (prefix: string, extra: Record<string, string> = {}) => ({
    REDIS_PREFIX: prefix,
    OPENAI_MAX_RETRIES: '0',
    OPENAI_TIMEOUT: '20s',
    WORKER_LOCK_DURATION: '1s',
    TURN_LEASE: '2s',
    ...extra,
  });

  async function bridge(prefix: string, env: Record<string, string>): Promise<TestBridge> {
    const b = await startBridge({ agents: AGENTS, inbox, llm, database: db, env: shared(prefix, env) });
    bridges.push(b);
    return b;
  }

  it('completes a turn after the worker is killed in the middle of it, without a duplicate message', async () => {
    const main = 'dist/src/main.js';
    if (!existsSync(main)) throw new Error(`${main} is missing: npm test builds it first`);
    const prefix = `iva-kill-${Date.now()}`;
    const web = await bridge(prefix, { ROLE: 'web' });

    // A worker in its own process: it takes the turn and is killed while the LLM is thinking.
    const dir = mkdtempSync(join(tmpdir(), 'iva-kill-'));
    writeFileSync(join(dir, 'agents.yaml'), AGENTS);
    child = spawn(process.execPath, [main], {
      env: {
        PATH: process.env.PATH,
        ...testEnv(shared(prefix, { ROLE: 'worker', PORT: '0' })),
        DATABASE_URL: db.url,
        AGENTS_FILE: join(dir, 'agents.yaml'),
        ...inbox.env(),
        OPENAI_BASE_URL: llm.url,
      },
      stdio: 'ignore',
    });
    llm.script({ delayMs: 30_000, decision: { message: 'from the dead worker' } });
    llm.respondWith(() => ({ decision: { message: 'Here is your answer.' } }));

    const sender = new WebhookSender({ bridgeUrl: web.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    const id = `kill-${Date.now()}`;
    await sender.startConversation(id);
    await sender.contactSays(id, 'Where is my order?');
    await waitFor('the child to ask the LLM', () => llm.requests.length === 1, 20_000);
    child.kill('SIGKILL');

    await bridge(prefix, { ROLE: 'worker' });
    await waitFor('the answer', () => inbox.messagesSent(id).length > 0, 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(inbox.messagesSent(id)).toEqual(['Here is your answer.']);
    const [{ n }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM decisions`);
    expect(n).toBe(1);
  });

  it('two bridge processes on one database answer each message once, in order', async () => {
    const prefix = `iva-two-${Date.now()}`;
    const one = await bridge(prefix, {});
    const two = await bridge(prefix, {});
    const starts: number[] = [];
    llm.respondWith((req) => {
      starts.push(Date.now());
      return { delayMs: 300, decision: { message: `answer to ${lastContactText(req)}` } };
    });
    const senders = [one, two].map((b) => new WebhookSender({ bridgeUrl: b.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox }));
    const id = `two-${Date.now()}`;
    await senders[0].startConversation(id);
    for (let i = 1; i <= 6; i++) {
      await senders[i % 2].contactSays(id, `${i}`);
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitFor('every message answered', async () => {
      const [{ pending }] = await db.query<{ pending: number }>(
        `SELECT count(*)::int AS pending FROM messages WHERE direction = 'inbound' AND handled_at IS NULL`,
      );
      const [{ planned }] = await db.query<{ planned: number }>(`SELECT count(*)::int AS planned FROM actions WHERE status = 'planned'`);
      return pending === 0 && planned === 0 && inbox.messagesSent(id).at(-1) === 'answer to 6';
    }, 20_000);

    const replies = inbox.messagesSent(id);
    const answered = replies.map((r) => Number(r.replace('answer to ', '')));
    expect(answered).toEqual([...answered].sort((a, b) => a - b));
    expect(new Set(answered).size).toBe(answered.length);
    expect(replies).toHaveLength(llm.requests.length);
    // One turn at a time: each LLM call (300 ms) started after the previous one had finished.
    for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(300);
    const handled = await db.query<{ n: number }>(`SELECT count(DISTINCT decision_id)::int AS n FROM messages WHERE direction = 'inbound'`);
    expect(handled[0].n).toBe(replies.length);
  });

  it('leaves a deadline beyond the sweep horizon to the sweep, which arms it in time to fire on schedule', async () => {
    // Horizon = 2 × 1 s; the contact deadline (5 s after the reply) is beyond it when armed.
    const agents = AGENTS.replace('      contactNudge: 10m\n', '').replace('contact: 1h', 'contact: 5s');
    const b = await startBridge({ agents, inbox, llm, database: db, env: shared(`iva-horizon-${Date.now()}`, { SCHEDULER_SWEEP_INTERVAL: '1s' }) });
    bridges.push(b);
    llm.respondWith(() => ({ decision: { message: 'Anything else?' } }));
    const sender = new WebhookSender({ bridgeUrl: b.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    const id = `horizon-${Date.now()}`;
    await sender.startConversation(id);
    await sender.contactSays(id, 'hi');
    await waitFor('the reply', () => inbox.messagesSent(id).length === 1);
    const repliedAt = inbox.calls(id).find((c) => c.body.sendMessage)!.at;
    const [row] = await db.query<{ contact_deadline_at: Date }>(`SELECT contact_deadline_at FROM conversations WHERE inbox_conversation_id = $1`, [id]);
    expect(row.contact_deadline_at.getTime() - repliedAt).toBeGreaterThan(4000);
    expect((await b.queue('timers').getJobCounts('delayed')).delayed).toBe(0);

    await waitFor('the close', () => inbox.messagesSent(id).length === 2, 15_000);
    const closed = inbox.calls(id).filter((c) => c.body.complete === 'RESOLVED');
    expect(closed).toHaveLength(1);
    expect(closed[0].at).toBeGreaterThanOrEqual(row.contact_deadline_at.getTime());
  });
});
