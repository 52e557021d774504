import pg from 'pg';
import { contextFromSnapshot } from '../src/agent/context-snapshot.js';
import { decisionPromptHashes } from '../src/agent/decision.engine.js';
import { storedMessages, storedTurns } from '../src/evals/replay.js';
import { PresenceService } from '../src/policy/presence.service.js';
import { HttpInboxClient } from '../src/inbox/http-inbox.client.js';
import { InboxRequestError } from '../src/inbox/inbox.errors.js';
import { FakeInbox, type RecordedCall } from './fakes/fake-inbox.js';
import { FakeLlm, type ChatRequest } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';

/**
 * Business hours with real parts. No clock is faked: the hours are set relative to the real now.
 * The closed agents are closed yesterday, today and tomorrow (Berlin dates) and open 09:00-17:00
 * every other day, so people are back at 09:00 the day after tomorrow, whatever the hour, and the
 * same even if midnight passes during the test (the closures are fixed dates).
 */
const ZONE = 'Europe/Berlin';
const today = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
const civil = (days: number) => new Date(Date.parse(`${today}T00:00:00Z`) + days * 86_400_000);
const dateOf = (days: number) => civil(days).toISOString().slice(0, 10);
/** The weekday people are back, in English, from the civil date alone. */
const openingDay = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][civil(2).getUTCDay()];
const EVERY_DAY = (interval: string) => `{ ${['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => `${d}: ['${interval}']`).join(', ')} }`;

const closedHours = (mode: string) => `
    businessHours:
      timeZone: ${ZONE}
      weekly: ${EVERY_DAY('09:00-17:00')}
      closures: ['${dateOf(-1)}', { from: '${dateOf(0)}', to: '${dateOf(1)}' }]
      outsideHours: ${mode}`;

const agent = (id: string, extra: string) => `
  - id: ${id}
    name: ${id}
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: ${id}-model }
    prompt: You are Acme's assistant.
    contactAttributes:
      order_number: The order number, like A-12345
    timeouts: { turnDebounce: 0s, virtualAgent: 5m }${extra}`;

const AGENTS = `
agents:${agent('answers', closedHours('answer-only'))}${agent('collects', closedHours('collect-and-handover'))}${agent('hands-over', closedHours('handover'))}${agent(
  'staffed',
  `
    businessHours:
      timeZone: ${ZONE}
      weekly: ${EVERY_DAY('00:00-24:00')}
      outsideHours: handover
      presence: { enabled: true, cacheFor: 5s }`,
)}
`;

interface OutcomeRow {
  outcome: string;
  reason: string | null;
}

describe('business hours', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let n = 0;
  const newId = () => `bh-${++n}-${Date.now()}`;
  const sender = (agentId: string) => new WebhookSender({ bridgeUrl: bridge.url, agentId, secretHex: TRIAGE_SECRET, inbox });
  const requestsOf = (agentId: string) => llm.requests.filter((r) => r.model === `${agentId}-model`);
  const lastSystem = (req: ChatRequest) => [...req.messages].reverse().find((m) => m.role === 'system')?.content ?? '';

  beforeAll(async () => {
    // Online, but nobody AVAILABLE: the one agent is away.
    inbox.setOnlineAgents([{ id: 'agent-1', userPresence: 'AWAY', awayStateId: 'lunch' }]);
    await Promise.all([inbox.start(), llm.start()]);
    bridge = await startBridge({ agents: AGENTS, inbox, llm, env: { OPENAI_TIMEOUT: '10s', OPENAI_MAX_RETRIES: '0', INBOX_TIMEOUT: '2s' } });
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });
  beforeEach(() => llm.reset());

  const outcome = (id: string) =>
    waitFor(`the outcome of ${id}`, async () => {
      const rows = await bridge.db.query<OutcomeRow>(
        `SELECT o.outcome, o.reason FROM session_outcome_view o JOIN conversations c ON c.id = o.conversation_id WHERE c.inbox_conversation_id = $1`,
        [id],
      );
      return rows[0];
    });
  const handoverCall = (id: string) =>
    waitFor(`the handover of ${id}`, () => inbox.calls(id).find((c) => c.status === 200 && c.body.complete === 'HANDOVER')) as Promise<RecordedCall>;
  const noteOf = (body: Record<string, unknown>) => ((body.applyConversationNotes as Array<{ text: string }> | undefined) ?? []).map((n) => n.text).join('\n');
  const storedAvailability = async (id: string) =>
    (
      await bridge.db.query<{ availability: Record<string, unknown> | null }>(
        `SELECT d.context->'availability' AS availability FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`,
        [id],
      )
    )[0]?.availability;

  it('answer-only, outside hours: the LLM is told, and its handover tells the contact when people are back, with a note', async () => {
    // The LLM forgets to say when: the bridge sends messages.outsideHours with the opening filled.
    llm.respondWith(() => ({ decision: { action: 'handover', message: 'A colleague will get back to you.', handoverReason: 'unsupported_request' } }));
    const id = newId();
    const answers = sender('answers');
    await answers.startConversation(id);
    await answers.contactSays(id, 'I want to change my delivery address');
    const call = await handoverCall(id);

    const [request] = requestsOf('answers');
    expect(lastSystem(request)).toContain(`Nobody from the team is available now: it is outside business hours. People are back ${openingDay}`);
    expect(lastSystem(request)).toContain(`(time zone ${ZONE})`);
    const [message] = inbox.messagesSent(id);
    expect(message).toMatch(new RegExp(`^Our team is away right now and will be back ${openingDay}, .*9:00`));
    expect(noteOf(call.body)).toMatch(/Nobody available: the contact wrote outside business hours, .*; people are back .*09:00 \(Europe\/Berlin\)/);
    expect(await outcome(id)).toEqual({ outcome: 'handed_over', reason: 'unsupported_request' });
    // Stored with the decision, so replay rebuilds the same prompt.
    expect(await storedAvailability(id)).toMatchObject({ available: false, why: 'closed', timeZone: ZONE, mode: 'answer-only' });
    const client = new pg.Client({ connectionString: bridge.db.url });
    await client.connect();
    try {
      const { turns } = await storedTurns(client, 'answers', new Date(0), 10);
      const turn = turns.find((t) => t.inboxConversationId === id)!;
      const { context } = contextFromSnapshot(turn.context!, await storedMessages(client, turn.context!.messages.map((m) => m.id)));
      expect(decisionPromptHashes(bridge.config.agent('answers')!, context, turn.kind).context).toBe(turn.contextHash);
    } finally {
      await client.end();
    }
  });

  it('answer-only: a handover message that says when people are back is sent as the LLM wrote it', async () => {
    llm.respondWith(() => ({ decision: { action: 'handover', message: `We are back ${openingDay} at 9:00 and will answer you then.` } }));
    const id = newId();
    const answers = sender('answers');
    await answers.startConversation(id);
    await answers.contactSays(id, 'Can someone call me?');
    await handoverCall(id);
    expect(inbox.messagesSent(id)).toEqual([`We are back ${openingDay} at 9:00 and will answer you then.`]);
  });

  it('handover mode, outside hours: handed over at once with messages.outsideHours, without any LLM request', async () => {
    const id = newId();
    const handsOver = sender('hands-over');
    await handsOver.startConversation(id);
    await handsOver.contactSays(id, 'Hello, anyone there?');
    const call = await handoverCall(id);
    expect(call.body.sendMessage).toEqual({ text: expect.stringMatching(new RegExp(`^Our team is away right now and will be back ${openingDay}, `)) });
    expect(noteOf(call.body)).toMatch(/^hands-over handed this conversation over: the contact wrote outside business hours/);
    expect(noteOf(call.body)).toContain('Last from the contact: “Hello, anyone there?”');
    expect(requestsOf('hands-over')).toHaveLength(0);
    expect(await outcome(id)).toEqual({ outcome: 'handed_over', reason: 'outside_hours' });
  });

  it('collect-and-handover: the LLM collects the details, and its resolve becomes a handover for outside_hours', async () => {
    llm.respondWith(() => ({ decision: { action: 'resolve', message: 'All sorted, bye!', contactAttributes: [{ name: 'order_number', value: 'A-12345' }] } }));
    const id = newId();
    const collects = sender('collects');
    await collects.startConversation(id);
    await collects.contactSays(id, 'My parcel A-12345 is late');
    const call = await handoverCall(id);
    expect(lastSystem(requestsOf('collects')[0])).toContain('Do not try to solve the request and do not resolve the conversation');
    expect(call.body.setContactAttributes).toEqual({ order_number: 'A-12345' });
    expect(inbox.messagesSent(id)[0]).toMatch(new RegExp(`will be back ${openingDay}`));
    expect(noteOf(call.body)).toMatch(/instead of resolving/);
    expect(await outcome(id)).toEqual({ outcome: 'handed_over', reason: 'outside_hours' });
  });

  describe('presence', () => {
    const staffedConfig = () => bridge.config.agent('staffed')!;

    it('inside hours, nobody AVAILABLE counts as outside hours', async () => {
      const presence = bridge.app.get(PresenceService);
      await waitFor('the presence answer', () => presence.current(staffedConfig()) === 'nobody');
      const id = newId();
      const staffed = sender('staffed');
      await staffed.startConversation(id);
      await staffed.contactSays(id, 'Hi, I need help');
      const call = await handoverCall(id);
      expect(requestsOf('staffed')).toHaveLength(0);
      expect(noteOf(call.body)).toMatch(/while nobody was online \(Inbox 2\.0 presence\)/);
      // No opening to tell inside the hours: the agent's handover message.
      expect(inbox.messagesSent(id)).toEqual([staffedConfig().messages.handover]);
      expect(await outcome(id)).toEqual({ outcome: 'handed_over', reason: 'outside_hours' });
      expect(await storedAvailability(id)).toMatchObject({ available: false, why: 'nobody_online', presence: 'nobody' });
    });

    it('a failing or hanging presence API never blocks a turn: the clock decides', async () => {
      // Slower than INBOX_TIMEOUT, then a 500: every refresh fails.
      inbox.failPresence(500, { error: 'down' }, 5000);
      const presence = bridge.app.get(PresenceService);
      const asked = inbox.presenceRequests;
      // The last good answer ages out (4 × cacheFor) while the refreshes fail: aged here, on each
      // look, rather than waited for (cacheFor is at least 5s), so a refresh that was already under
      // way when the API started failing cannot make it fresh again.
      const entries = (presence as unknown as { entries: Map<string, { answeredAt: number; askedAt: number }> }).entries;
      const cacheFor = staffedConfig().businessHours!.presence!.cacheFor;
      await waitFor(
        'the stale answer to be dropped',
        () => {
          for (const entry of entries.values()) {
            entry.answeredAt -= 4 * cacheFor;
            entry.askedAt -= cacheFor;
          }
          return presence.current(staffedConfig()) === 'unknown' && inbox.presenceRequests > asked;
        },
        20_000,
        100,
      );
      llm.respondWith(() => ({ decision: { message: 'Sure, what do you need?' } }));
      const id = newId();
      const staffed = sender('staffed');
      await staffed.startConversation(id);
      await staffed.contactSays(id, 'Hello?');
      await waitFor('the reply', () => inbox.messagesSent(id).length === 1);
      expect(inbox.messagesSent(id)).toEqual(['Sure, what do you need?']);
      expect(lastSystem(requestsOf('staffed')[0])).toContain('Human colleagues are available now');
    });
  });
});

describe(`${HttpInboxClient.name}.onlineAgents`, () => {
  const inbox = new FakeInbox();
  let sut: HttpInboxClient;
  beforeAll(async () => {
    await inbox.start();
    sut = new HttpInboxClient({ baseUrl: inbox.url, clientId: inbox.clientId, clientSecret: inbox.clientSecret, organizationId: inbox.organizationId, timeoutMs: 2000, maxAttempts: 1, retryBudgetMs: 2000, ratePerSecond: 20 });
  });
  afterAll(() => inbox.stop());

  it('reads the documented answer, unknown fields and all', async () => {
    inbox.setOnlineAgents([{ id: 'a', userPresence: 'AVAILABLE' }, { id: 'b', userPresence: 'AWAY', awayStateId: 'lunch' }]);
    const answer = await sut.onlineAgents();
    expect(answer.agents).toEqual([expect.objectContaining({ id: 'a', userPresence: 'AVAILABLE' }), expect.objectContaining({ id: 'b', userPresence: 'AWAY', awayStateId: 'lunch' })]);
  });

  it('a refusal is an InboxRequestError with its status, and an answer of another shape is refused too', async () => {
    inbox.failPresence(403);
    await expect(sut.onlineAgents()).rejects.toMatchObject({ name: InboxRequestError.name, status: 403 });
    inbox.failPresence(200, { online: 3 });
    await expect(sut.onlineAgents()).rejects.toThrow(/without the documented agents list/);
  });

  it('fetches a new token once when the old one expired', async () => {
    inbox.setOnlineAgents([]);
    await sut.onlineAgents();
    inbox.expireTokens();
    const before = inbox.tokenRequests;
    expect((await sut.onlineAgents()).agents).toEqual([]);
    expect(inbox.tokenRequests).toBe(before + 1);
  });
});
