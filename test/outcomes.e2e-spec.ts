import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { ORCHESTRATION_AGENTS, lastContactText } from './support/agents.js';
import { HELPER_SECRET, TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';

interface OutcomeRow {
  session: number;
  outcome: string;
  resolution: string | null;
  reason: string | null;
  agent_turns: number;
  first_reply_ms: string | null;
  llm_calls: number;
  prompt_tokens: string;
  models: Record<string, { prompt: number; completion: number; cached: number }>;
  reopened: boolean;
}

/** How each session ended, as the trigger of migration 1764000000007 records it. */
describe('session outcomes', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let acme: WebhookSender;
  let n = 0;
  const newId = () => `out-${++n}-${Date.now()}`;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    bridge = await startBridge({ agents: ORCHESTRATION_AGENTS, inbox, llm, env: { OPENAI_TIMEOUT: '10s', OPENAI_MAX_RETRIES: '0' } });
    acme = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });
  beforeEach(() => llm.reset());

  const outcomes = (id: string) =>
    bridge.db.query<OutcomeRow>(
      `SELECT o.* FROM session_outcome_view o JOIN conversations c ON c.id = o.conversation_id WHERE c.inbox_conversation_id = $1 ORDER BY o.session`,
      [id],
    );
  const ended = (id: string, sessions = 1) => waitFor(`${sessions} outcome(s) of ${id}`, async () => ((await outcomes(id)).length >= sessions ? outcomes(id) : undefined), 15_000);

  it('resolved by the agent: confirmed, with its turns, first-reply latency and tokens', async () => {
    llm.respondWith((req) =>
      lastContactText(req).includes('Thanks') ? { decision: { action: 'resolve', message: 'Bye!' } } : { decision: { message: 'It ships tomorrow.' } },
    );
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'When does it ship?');
    await waitFor('the reply', () => inbox.messagesSent(id).length === 1);
    await acme.contactSays(id, 'Thanks!');
    const [o] = (await ended(id))!;
    expect(o).toMatchObject({ session: 1, outcome: 'resolved', resolution: 'confirmed', reason: null, agent_turns: 2, llm_calls: 2, reopened: false });
    expect(Number(o.first_reply_ms)).toBeGreaterThanOrEqual(0);
    const [{ sum }] = await bridge.db.query<{ sum: string }>(
      `SELECT sum(d.prompt_tokens)::text AS sum FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`,
      [id],
    );
    expect(o.prompt_tokens).toBe(sum);
    expect(Object.keys(o.models)).toEqual(['test-model']);
  });

  it('a Delegation agent handing back a finished task is handed_back, not a handover to count', async () => {
    const helper = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'helper', secretHex: HELPER_SECRET, inbox });
    llm.respondWith((req) =>
      lastContactText(req).includes('A-')
        ? { decision: { action: 'handover', message: 'Thanks, passing you back.', handoverNote: 'Order A-12345' } }
        : { decision: { message: 'What is your order number?' } },
    );
    const id = newId();
    await helper.delegate(id);
    await waitFor('the opening question', () => inbox.messagesSent(id).length === 1);
    await helper.contactSays(id, 'It is A-12345');
    expect((await ended(id))![0]).toMatchObject({ outcome: 'handed_back', reason: null, resolution: null });
  });

  it('handed over: the reason the guardrail or the LLM gave', async () => {
    llm.respondWith((req) =>
      lastContactText(req).includes('refund')
        ? { decision: { action: 'handover', message: '', handoverReason: 'policy_restriction', reason: 'refunds are for people' } }
        : { decision: { message: 'Sure, let me help.' } },
    );
    const asked = newId();
    await acme.startConversation(asked);
    await acme.contactSays(asked, 'I want a real person please');
    const refund = newId();
    await acme.startConversation(refund);
    await acme.contactSays(refund, 'I want a refund');
    expect((await ended(asked))![0]).toMatchObject({ outcome: 'handed_over', reason: 'customer_request', resolution: null });
    expect((await ended(refund))![0]).toMatchObject({ outcome: 'handed_over', reason: 'policy_restriction' });
    const [{ handover_reason }] = await bridge.db.query<{ handover_reason: string }>(
      `SELECT d.handover_reason FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`,
      [refund],
    );
    expect(handover_reason).toBe('policy_restriction');
  });

  it('an LLM that fails, or is too slow for the turn, is llm_failure', async () => {
    const failing = newId();
    llm.respondWith(() => ({ status: 500 }));
    await acme.startConversation(failing);
    await acme.contactSays(failing, 'Hello?');
    expect((await ended(failing))![0]).toMatchObject({ outcome: 'handed_over', reason: 'llm_failure' });

    // virtualAgent 4s with a 1s margin: the turn stops the LLM 2 s before that and hands over itself.
    // (va_deadline is for when no turn ran at all and the timer acted: decision-body.spec.ts.)
    llm.respondWith(() => ({ delayMs: 8000, decision: { message: 'too late' } }));
    const slow = newId();
    await acme.startConversation(slow);
    await acme.contactSays(slow, 'Hello?');
    expect((await ended(slow))![0]).toMatchObject({ outcome: 'handed_over', reason: 'llm_failure' });
  });

  it('a quiet contact is resolved as assumed; a conversation a human took is lost; one that comes back is reopened', async () => {
    llm.respondWith(() => ({ decision: { message: 'Anything else?' } }));
    const quiet = newId();
    await acme.startConversation(quiet);
    await acme.contactSays(quiet, 'Hi');
    const [o] = (await ended(quiet))!;
    expect(o).toMatchObject({ outcome: 'resolved', resolution: 'assumed', agent_turns: 1 });

    // The contact writes again the next day: a new session of the same conversation.
    await acme.startConversation(quiet);
    await waitFor('the new session', async () => (await bridge.db.query<{ session: number }>(`SELECT session FROM conversations WHERE inbox_conversation_id = $1`, [quiet]))[0].session === 2);
    expect((await outcomes(quiet))[0].reopened).toBe(true);

    const taken = newId();
    await acme.startConversation(taken);
    inbox.takeByHuman(taken);
    await acme.contactSays(taken, 'Hello');
    expect((await ended(taken))![0]).toMatchObject({ outcome: 'lost', reason: null, resolution: null });
  });
});
