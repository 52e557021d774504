import { randomUUID } from 'node:crypto';
import { DecisionEngine } from '../src/agent/decision.engine.js';
import { BudgetsRepository } from '../src/policy/budgets.repository.js';
import { BudgetsService } from '../src/policy/budgets.service.js';
import { utcDay } from '../src/policy/budgets.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm, type ChatRequest } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { HELPER_SECRET, TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';

const BUDGET_AGENTS = `
agents:
  - id: capped
    name: Capped
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    timeouts: { turnDebounce: 0s }
    messages: { handover: A colleague will take it from here. }
    budgets: { conversation: { llmCalls: 3 } }
  - id: daily
    name: Daily
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    timeouts: { turnDebounce: 0s }
    messages: { handover: We are passing you to the team. }
    budgets: { daily: { tokens: 1000, costUsd: 50 } }
  - id: opener
    name: Opener
    mode: delegation
    secretEnv: HELPER_SECRET
    llm: { model: test-model }
    prompt: Collect the order number, then hand back.
    timeouts: { turnDebounce: 0s }
    messages: { handover: Passing you back now. }
    budgets: { daily: { tokens: 1000 } }
  - id: fresh
    name: Fresh
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    timeouts: { turnDebounce: 0s }
    budgets: { daily: { tokens: 1000 } }
  - id: summarised
    name: Summarised
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    timeouts: { turnDebounce: 0s }
    limits: { historyWindow: 4 }
    budgets: { conversation: { tokens: 1000000 } }
  - id: retried
    name: Retried
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    timeouts: { turnDebounce: 0s }
    budgets: { conversation: { tokens: 1000000 } }
pricing:
  test-model: { input: 1, output: 2 }
`;

interface ManipulateBody {
  sendMessage?: { text: string };
  applyConversationNotes?: Array<{ text: string }>;
  complete?: string;
}

describe('budgets', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let n = 0;
  const newId = () => `bud-${++n}-${Date.now()}`;
  const sender = (agentId: string, url = bridge.url) => new WebhookSender({ bridgeUrl: url, agentId, secretHex: agentId === 'opener' ? HELPER_SECRET : TRIAGE_SECRET, inbox });
  const chatRequests = () => llm.requests.filter((r: ChatRequest) => r.response_format?.json_schema?.name !== 'summary');

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    bridge = await startBridge({ agents: BUDGET_AGENTS, inbox, llm, env: { OPENAI_TIMEOUT: '10s', OPENAI_MAX_RETRIES: '0' } });
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });
  beforeEach(() => llm.reset());

  const conversation = async (inboxId: string) =>
    (await bridge.db.query<{ id: string; session: number }>(`SELECT id, session FROM conversations WHERE inbox_conversation_id = $1`, [inboxId]))[0];
  const sessionUsage = async (inboxId: string) =>
    bridge.db.query<{ session: number; tokens: string; llm_calls: number }>(
      `SELECT u.session, u.tokens, u.llm_calls FROM session_usage u JOIN conversations c ON c.id = u.conversation_id WHERE c.inbox_conversation_id = $1 ORDER BY u.session`,
      [inboxId],
    );
  const outcome = (inboxId: string) =>
    waitFor(`the outcome of ${inboxId}`, async () => {
      const rows = await bridge.db.query<{ outcome: string; reason: string | null }>(
        `SELECT o.outcome, o.reason FROM session_outcomes o JOIN conversations c ON c.id = o.conversation_id WHERE c.inbox_conversation_id = $1 ORDER BY o.session DESC`,
        [inboxId],
      );
      return rows[0];
    });
  const handover = async (inboxId: string): Promise<ManipulateBody> =>
    (await waitFor(`the handover of ${inboxId}`, () => inbox.calls(inboxId).find((c) => c.status === 200 && (c.body as ManipulateBody).complete === 'HANDOVER')))!.body as ManipulateBody;
  const today = () => utcDay();
  const dailyRow = async (agentId: string, day = today()) =>
    (await bridge.db.query<{ tokens: string; llm_calls: number; cost_usd: string; reached_at: Date | null }>(`SELECT tokens, llm_calls, cost_usd, reached_at FROM agent_daily_usage WHERE agent_id = $1 AND day = $2`, [agentId, day]))[0];

  it('counts every request of a turn, rejected answers included, and hands over with a note once the conversation budget is spent', async () => {
    const capped = sender('capped');
    const id = newId();
    llm.script({ content: 'this is not JSON' }, { decision: { message: 'First answer' } });
    await capped.startConversation(id);
    await capped.contactSays(id, 'Hello');
    await waitFor('the first answer', () => inbox.messagesSent(id).includes('First answer'));
    expect((await sessionUsage(id))[0]).toMatchObject({ session: 1, llm_calls: 2 });

    llm.script({ decision: { message: 'Second answer' } });
    await capped.contactSays(id, 'And another thing');
    await waitFor('the second answer', () => inbox.messagesSent(id).includes('Second answer'));

    await capped.contactSays(id, 'One more question');
    const body = await handover(id);
    expect(body.sendMessage?.text).toBe('A colleague will take it from here.');
    expect(body.applyConversationNotes?.[0].text).toMatch(/conversation's budget is spent \(3 of 3 LLM calls this session\)/);
    expect(llm.requests).toHaveLength(3);
    expect(await outcome(id)).toEqual({ outcome: 'handed_over', reason: 'usage_limit' });

    // The session's count is what its decisions spent, each counted once (right after the LLM, not again with the decision).
    const [{ tokens, attempts }] = await bridge.db.query<{ tokens: string; attempts: string }>(
      `SELECT sum(d.prompt_tokens + d.completion_tokens)::text AS tokens, sum(d.attempts)::text AS attempts FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`,
      [id],
    );
    expect(await sessionUsage(id)).toEqual([{ session: 1, tokens, llm_calls: Number(attempts) }]);
    const [last] = await bridge.db.query<{ handover_reason: string; attempts: number }>(
      `SELECT d.handover_reason, d.attempts FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1 ORDER BY d.id DESC LIMIT 1`,
      [id],
    );
    expect(last).toEqual({ handover_reason: 'usage_limit', attempts: 0 });

    // The contact comes back: a new session starts with its budget untouched.
    llm.script({ decision: { message: 'Welcome back' } });
    await capped.startConversation(id);
    await capped.contactSays(id, 'Hi again');
    await waitFor('the answer of the new session', () => inbox.messagesSent(id).includes('Welcome back'));
    expect(llm.requests).toHaveLength(4);
    expect((await sessionUsage(id)).map((u) => [u.session, u.llm_calls])).toEqual([
      [1, 3],
      [2, 1],
    ]);
  });

  it('counts the summary step too', async () => {
    llm.respondWith((req) =>
      req.response_format?.json_schema?.name === 'summary'
        ? { summary: 'The contact asked three things.', usage: { promptTokens: 70, completionTokens: 7 } }
        : { decision: { message: `Answer ${chatRequests().length}` }, usage: { promptTokens: 100, completionTokens: 10 } },
    );
    const s = sender('summarised');
    const id = newId();
    await s.startConversation(id);
    for (const [i, text] of ['One', 'Two', 'Three'].entries()) {
      await s.contactSays(id, text);
      await waitFor(`answer ${i + 1}`, () => inbox.messagesSent(id).length === i + 1);
    }
    await waitFor('the summary step', () => llm.requests.length === 4);
    await waitFor('the summary counted', async () => (await sessionUsage(id))[0]?.llm_calls === 4);
    expect((await sessionUsage(id))[0]).toEqual({ session: 1, tokens: String(3 * 110 + 77), llm_calls: 4 });
  });

  it('counts a turn whose decision is never recorded (the lease lost after the LLM answered), and the retried turn once', async () => {
    const s = sender('retried');
    const id = newId();
    llm.script(
      { decision: { message: 'Never recorded' }, usage: { promptTokens: 100, completionTokens: 10 } },
      { decision: { message: 'Second try' }, usage: { promptTokens: 200, completionTokens: 20 } },
    );
    // Between the LLM's answer and the decision's transaction, another worker takes the lease (as
    // when this one stalled past TURN_LEASE): the transaction throws LeaseLostError and rolls back.
    const engine = bridge.app.get(DecisionEngine);
    const decide = engine.decide;
    let stolen = 0;
    engine.decide = async function (this: DecisionEngine, ...args: Parameters<DecisionEngine['decide']>) {
      const outcome = await decide.apply(this, args);
      if (args[0].id === 'retried' && stolen++ === 0) {
        await bridge.db.query(`UPDATE conversations SET turn_owner = 'another-worker', turn_lease_until = now() WHERE inbox_conversation_id = $1`, [id]);
      }
      return outcome;
    };
    try {
      await s.startConversation(id);
      await s.contactSays(id, 'Hello');
      // The job fails and is retried: the LLM is asked again, and that decision is recorded.
      await waitFor('the retried answer', () => inbox.messagesSent(id).includes('Second try'));
    } finally {
      engine.decide = decide;
    }
    expect(stolen).toBe(2);
    expect(inbox.messagesSent(id)).not.toContain('Never recorded');
    expect(chatRequests()).toHaveLength(2);
    const decisions = await bridge.db.query<{ tokens: string; attempts: string; n: string }>(
      `SELECT sum(d.prompt_tokens + d.completion_tokens)::text AS tokens, sum(d.attempts)::text AS attempts, count(*)::text AS n FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`,
      [id],
    );
    // Only the second decision is recorded, counted once; the first turn's spend is counted all the same.
    expect(decisions).toEqual([{ tokens: '220', attempts: '1', n: '1' }]);
    expect(await sessionUsage(id)).toEqual([{ session: 1, tokens: '330', llm_calls: 2 }]);
    const row = await dailyRow('retried');
    expect(row).toMatchObject({ tokens: '330', llm_calls: 2 });
    expect(Number(row.cost_usd)).toBeCloseTo((300 * 1 + 30 * 2) / 1e6, 10);
  });

  it('hands new conversations over at once when the daily budget is spent, lets one under way go on, and says so in /health and the metrics', async () => {
    const daily = sender('daily');
    const underway = newId();
    llm.script({ decision: { message: 'Hello, under way' }, usage: { promptTokens: 900, completionTokens: 200 } });
    await daily.startConversation(underway);
    await daily.contactSays(underway, 'Hello');
    await waitFor('the answer', () => inbox.messagesSent(underway).includes('Hello, under way'));

    // Counted in PostgreSQL, priced from the agents file: 900 × $1 + 200 × $2 per million.
    const row = await dailyRow('daily');
    expect(row).toMatchObject({ tokens: '1100', llm_calls: 1 });
    expect(Number(row.cost_usd)).toBeCloseTo(0.0013, 10);
    expect(row.reached_at).not.toBeNull();

    const fresh = newId();
    await daily.startConversation(fresh);
    await daily.contactSays(fresh, 'Hi, I have a question');
    const body = await handover(fresh);
    expect(body.sendMessage?.text).toBe('We are passing you to the team.');
    expect(body.applyConversationNotes?.[0].text).toMatch(/daily budget is spent \(1100 of 1000 tokens on \d{4}-\d{2}-\d{2}, UTC\)/);
    expect(await outcome(fresh)).toEqual({ outcome: 'handed_over', reason: 'usage_limit' });
    expect(llm.requests).toHaveLength(1);

    // The conversation under way goes on (bounded by its own conversation budget, when it has one).
    llm.script({ decision: { message: 'Still here' } });
    await daily.contactSays(underway, 'One more thing');
    await waitFor('the answer under way', () => inbox.messagesSent(underway).includes('Still here'));
    expect(llm.requests).toHaveLength(2);

    const ready = (await (await fetch(`${bridge.url}/health/ready`)).json()) as { status: string; budgets: { day: string; spent: Array<Record<string, unknown>> } };
    expect(ready.status).toBe('ok');
    expect(ready.budgets.day).toBe(today());
    expect(ready.budgets.spent).toEqual([
      expect.objectContaining({ agent: 'daily', budget: 'tokens', used: expect.any(Number), limit: 1000, since: expect.any(String), why: expect.stringMatching(/new conversations are handed over/) }),
    ]);

    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(metrics).toMatch(/iva_agent_budget_spent\{agent="daily",budget="tokens"\} 1/);
    expect(metrics).toMatch(/iva_agent_budget_spent\{agent="daily",budget="costUsd"\} 0/);
    expect(metrics).toMatch(/iva_agent_budget_spent\{agent="fresh",budget="tokens"\} 0/);
    expect(metrics).toMatch(/iva_usage_limit_handovers_total\{agent="daily",budget="daily"\} 1/);
  });

  it('shares the count between replicas: a second app on the same database hands the next new conversation over', async () => {
    const second = await startBridge({ agents: BUDGET_AGENTS, inbox, llm, database: bridge.db, env: { OPENAI_TIMEOUT: '10s', OPENAI_MAX_RETRIES: '0' } });
    try {
      // The first app spent the agent's day in the previous test (seeded here when this test runs alone);
      // nothing of it is in the second app's memory, only in PostgreSQL.
      await bridge.db.query(`INSERT INTO agent_daily_usage (agent_id, day, tokens, llm_calls) VALUES ('daily', $1, 1100, 1) ON CONFLICT DO NOTHING`, [today()]);
      expect(Number((await dailyRow('daily')).tokens)).toBeGreaterThanOrEqual(1000);
      const id = newId();
      const daily = sender('daily', second.url);
      await daily.startConversation(id);
      await daily.contactSays(id, 'Hello from another replica');
      expect((await handover(id)).sendMessage?.text).toBe('We are passing you to the team.');
      expect(llm.requests).toHaveLength(0);
    } finally {
      await second.close();
    }
  });

  it('hands a Delegation opening over at once when the daily budget is spent', async () => {
    await bridge.db.query(`INSERT INTO agent_daily_usage (agent_id, day, tokens, llm_calls) VALUES ('opener', $1, 5000, 10)`, [today()]);
    const id = newId();
    await sender('opener').delegate(id);
    const body = await handover(id);
    expect(body.sendMessage?.text).toBe('Passing you back now.');
    expect(body.applyConversationNotes?.[0].text).toMatch(/daily budget is spent/);
    expect(await outcome(id)).toEqual({ outcome: 'handed_over', reason: 'usage_limit' });
    expect(llm.requests).toHaveLength(0);
  });

  it('starts each UTC day at zero', async () => {
    // Yesterday's spending, far over the limit, does not count today.
    const yesterday = utcDay(Date.now() - 86_400_000);
    await bridge.db.query(`INSERT INTO agent_daily_usage (agent_id, day, tokens, llm_calls) VALUES ('fresh', $1, 999999, 500)`, [yesterday]);
    llm.script({ decision: { message: 'A new day' }, usage: { promptTokens: 600, completionTokens: 100 } });
    const id = newId();
    const fresh = sender('fresh');
    await fresh.startConversation(id);
    await fresh.contactSays(id, 'Good morning');
    await waitFor('the answer', () => inbox.messagesSent(id).includes('A new day'));
    expect(await dailyRow('fresh')).toMatchObject({ tokens: '700', llm_calls: 1 });

    // The same through the service with explicit days on both sides of a midnight.
    const budgets = bridge.app.get(BudgetsService);
    const agent = bridge.config.agent('fresh')!;
    const conv = await conversation(id);
    await budgets.record(agent, conv, { tokens: 400, llmCalls: 1, costUsd: 0 }, new Date('2030-01-01T23:59:59.900Z'));
    await budgets.record(agent, conv, { tokens: 400, llmCalls: 1, costUsd: 0 }, new Date('2030-01-01T23:59:59.950Z'));
    await budgets.record(agent, conv, { tokens: 400, llmCalls: 1, costUsd: 0 }, new Date('2030-01-02T00:00:00.000Z'));
    expect(await dailyRow('fresh', '2030-01-01')).toMatchObject({ tokens: '800', llm_calls: 2 });
    expect(await dailyRow('fresh', '2030-01-02')).toMatchObject({ tokens: '400', llm_calls: 1 });
    const brandNew = { id: randomUUID(), session: 1 };
    await budgets.record(agent, conv, { tokens: 300, llmCalls: 1, costUsd: 0 }, new Date('2030-01-01T12:00:00Z'));
    expect(await budgets.preempt(agent, brandNew, new Date('2030-01-01T23:00:00Z'))).toMatchObject({ reason: 'usage_limit' });
    expect(await budgets.preempt(agent, brandNew, new Date('2030-01-02T01:00:00Z'))).toBeUndefined();
    expect((await budgets.status(new Date('2030-01-01T08:00:00Z')))?.spent.map((s) => s.agent)).toEqual(['fresh']);
    expect((await budgets.status(new Date('2030-01-02T08:00:00Z')))?.spent).toEqual([]);
    // "Reached" is marked once across replicas: only the first caller is told it marked it.
    const repository = bridge.app.get(BudgetsRepository);
    expect(await repository.markReached('fresh', '2030-01-02')).toBe(true);
    expect(await repository.markReached('fresh', '2030-01-02')).toBe(false);
    expect(await repository.markReached('fresh', '2030-01-03')).toBe(false);
  });
});
