import type { ActionCallRequest, ActionPort } from '../src/actions/action.port.js';
import { DecisionEngine } from '../src/agent/decision.engine.js';
import type { ConversationContext } from '../src/agent/decision.js';
import { parseAgents } from '../src/config/agents.loader.js';
import type { KnowledgeRepository } from '../src/knowledge/knowledge.repository.js';
import { KnowledgeService } from '../src/knowledge/knowledge.service.js';
import { OpenAiLlmClient } from '../src/llm/openai-llm.client.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm, toolResults, type ChatRequest } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { HELPER_SECRET, TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const CARD = '4242 4242 4242 4242';
const CARD_DIGITS = '4242424242424242';
const EMAIL = 'jo.doe@example.com';
const IBAN = 'DE89 3704 0044 0532 0130 00';

/** `acme` redacts e-mail, cards, IBANs and an order reference of its own; `plain` sets nothing (cards and IBANs by default). */
const AGENTS = `
agents:
  - id: acme
    name: Acme Support
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    topics: [Billing]
    contactAttributes:
      email: The contact's e-mail address
      order_number: The order number, like A-12345
    timeouts: { turnDebounce: 100ms, virtualAgent: 5m }
    redaction:
      detect: [email, card, iban]
      custom:
        - { name: ORDER_REF, pattern: 'ORD-\\d{6}' }
  - id: plain
    name: Plain Support
    mode: inception
    secretEnv: HELPER_SECRET
    llm: { model: test-model }
    prompt: You are Plain's assistant.
    timeouts: { turnDebounce: 100ms, virtualAgent: 5m }
`;

/** Every character the fake LLM received, in all requests. */
const everythingSent = (llm: FakeLlm) => JSON.stringify(llm.requests);

describe('PII redaction before the LLM', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge | undefined;
  let db: TestDatabase;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
  });
  beforeEach(async () => {
    llm.reset();
    inbox.reset();
    db = await createTestDatabase();
    bridge = await startBridge({ agents: AGENTS, inbox, llm, database: db, env: { OPENAI_MAX_RETRIES: '0' } });
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
    await db.drop();
  });
  afterAll(() => Promise.all([inbox.stop(), llm.stop()]));

  async function conversation(agentId: 'acme' | 'plain', text: string): Promise<string> {
    const sender = new WebhookSender({ bridgeUrl: bridge!.url, agentId, secretHex: agentId === 'acme' ? TRIAGE_SECRET : HELPER_SECRET, inbox });
    const id = `red-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    await sender.startConversation(id, { contactProfile: { id: 'p-1', primaryIdentifier: 'Jo Doe' } });
    await sender.contactSays(id, text);
    return id;
  }

  it('sends the LLM placeholders only, restores the e-mail as an attribute, masks the card, and stores no card in clear', async () => {
    let seen: ChatRequest | undefined;
    llm.respondWith((req) => {
      seen = req;
      // A model that echoes every placeholder it saw, in every field a person or Inbox reads.
      return {
        decision: {
          action: 'handover',
          message: 'I see two charges on [CARD_1] for [ORDER_REF_1]. A colleague will write to [EMAIL_1].',
          topics: ['Billing'],
          contactAttributes: [
            { name: 'email', value: '[EMAIL_1]' },
            { name: 'order_number', value: '[CARD_1]' },
          ],
          reason: 'double charge on [CARD_1]',
          handoverNote: 'Refund the second charge on [CARD_1] ([ORDER_REF_1]); reply to [EMAIL_1].',
          handoverReason: 'unsupported_request',
        },
      };
    });
    const id = await conversation('acme', `Hi, I was charged twice on card ${CARD} for ORD-123456. Please mail me at ${EMAIL}`);
    await waitFor('the handover', () => inbox.calls(id).some((c) => (c.body as { complete?: string }).complete === 'HANDOVER'));

    // Nothing of the three values reached the LLM; their placeholders did, with the rule that explains them.
    const sent = everythingSent(llm);
    for (const value of [CARD, CARD_DIGITS, EMAIL, 'ORD-123456']) expect(sent).not.toContain(value);
    const contactText = seen!.messages.filter((m) => m.role === 'user').at(-1)!.content;
    expect(contactText).toBe('Hi, I was charged twice on card [CARD_1] for [ORDER_REF_1]. Please mail me at [EMAIL_1]');
    expect(seen!.messages[1].content).toContain('## Hidden values');
    // The stable prefix (the first system message) is the same as without redaction: a prompt cache still holds.
    expect(seen!.messages[0].content).not.toContain('[CARD_1]');

    // Inbox: the e-mail collected as an attribute; the card masked in the message and the note, never an attribute.
    const call = inbox.calls(id).find((c) => (c.body as { complete?: string }).complete === 'HANDOVER')!;
    const body = call.body as { sendMessage?: { text: string }; setContactAttributes?: Record<string, string>; applyConversationNotes?: Array<{ text: string }> };
    expect(body.sendMessage?.text).toBe(`I see two charges on •••• 4242 for ORD-123456. A colleague will write to ${EMAIL}.`);
    expect(body.setContactAttributes).toEqual({ email: EMAIL });
    const note = body.applyConversationNotes![0].text;
    expect(note).toContain('•••• 4242');
    expect(note).toContain(EMAIL);
    const everythingToInbox = JSON.stringify(inbox.calls(id));
    expect(everythingToInbox).not.toContain(CARD);
    expect(everythingToInbox).not.toContain(CARD_DIGITS);

    // Every column of the decision, and the outbox call, as text: no card in clear.
    const [decision] = await db.query<{ row: string; guardrails: string[] }>(`SELECT d::text AS row, guardrails FROM decisions d`);
    expect(decision.row).not.toContain(CARD);
    expect(decision.row).not.toContain(CARD_DIGITS);
    expect(decision.row).toContain('•••• 4242');
    expect(decision.guardrails).toContain('dropped attribute order_number: it holds a payment card number, which is never stored in clear');
    for (const { row } of await db.query<{ row: string }>(`SELECT a::text AS row FROM actions a`)) {
      expect(row).not.toContain(CARD);
      expect(row).not.toContain(CARD_DIGITS);
    }
    // The contact's own words are stored as Inbox keeps them (docs/redaction.md): only what the bridge writes is masked.
    const [inbound] = await db.query<{ text: string }>(`SELECT text FROM messages WHERE direction = 'inbound'`);
    expect(inbound.text).toContain(CARD);
  });

  it('redacts cards and IBANs by default for an agent that sets nothing, and leaves e-mail addresses', async () => {
    const id = await conversation('plain', `Refund to ${IBAN} please, not to card 4111-1111-1111-1111. I am ann@example.com`);
    await waitFor('the reply', () => inbox.messagesSent(id).length > 0);
    const contactText = llm.requests[0].messages.filter((m) => m.role === 'user').at(-1)!.content;
    expect(contactText).toBe('Refund to [IBAN_1] please, not to card [CARD_1]. I am ann@example.com');
    expect(everythingSent(llm)).not.toContain('4111');
  });

  it('sends an unredacted prompt, and no placeholder rule, when nothing is found', async () => {
    const id = await conversation('acme', 'Where is my order A-12345 from 2024-03-05?');
    await waitFor('the reply', () => inbox.messagesSent(id).length > 0);
    expect(llm.requests[0].messages.filter((m) => m.role === 'user').at(-1)!.content).toBe('Where is my order A-12345 from 2024-03-05?');
    expect(llm.requests[0].messages[1].content).not.toContain('## Hidden values');
  });
});

describe('PII redaction in the decision engine (calls and summaries)', () => {
  const llm = new FakeLlm();
  let sut: DecisionEngine;
  const [agent] = parseAgents(
    `agents:
  - id: acme
    name: Acme Support
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: You are Acme's assistant.
    contactAttributes: { email: The contact's e-mail address }
    redaction: { detect: [email, card] }
    actions:
      - name: find_customer
        description: Find a customer by e-mail address.
        parameters: { type: object, required: [email], properties: { email: { type: string } } }
        request: { url: 'https://crm.example/customers?email={email}' }
        response: { fields: [name, email, card] }
        requires: [email]
`,
    { S: 'aa' },
  );
  const context = (texts: string[], extra: Partial<ConversationContext> = {}): ConversationContext => ({
    mode: 'inception',
    language: 'en',
    contactProfile: null,
    contactAttributes: [],
    summary: null,
    transcript: texts.map((text, i) => ({ direction: i % 2 ? 'outbound' : 'inbound', text, payload: null, pending: i === texts.length - 1 })),
    agentTurns: 0,
    ...extra,
  });

  beforeAll(async () => {
    await llm.start();
    sut = new DecisionEngine(new OpenAiLlmClient({ OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'k', OPENAI_TIMEOUT: 5000, OPENAI_MAX_RETRIES: 0 }));
  });
  beforeEach(() => llm.reset());
  afterAll(() => llm.stop());

  it('makes a call with the restored value, checked against what the contact wrote, and redacts its result for the model', async () => {
    const made: ActionCallRequest[] = [];
    const port: ActionPort = {
      call: async (_agent, request) => {
        made.push(request);
        return { status: 'ok', httpStatus: 200, result: { name: 'Jo', email: EMAIL, card: '5555 5555 5555 4444' }, error: null, latencyMs: 1, resultBytes: 10 };
      },
    };
    llm.script({ toolCalls: [{ name: 'find_customer', arguments: { email: '[EMAIL_1]' } }] });
    llm.respondWith((req) => {
      const [result] = toolResults(req);
      return { decision: { message: `Found you, ${result.result?.name}; your card on file is ${result.result?.card}.`, sources: [result.id] } };
    });
    const outcome = await sut.decide(agent, context([`I am ${EMAIL}, what card do you have on file?`]), { actions: port });

    expect(made.map((r) => [r.args, r.refused])).toEqual([[{ email: EMAIL }, null]]);
    expect(toolResults(llm.requests[1])).toEqual([{ id: 'act-1', ok: true, result: { name: 'Jo', email: '[EMAIL_1]', card: '[CARD_1]' } }]);
    expect(everythingSent(llm)).not.toContain(EMAIL);
    expect(everythingSent(llm)).not.toContain('5555');
    expect(outcome.decision.message).toBe('Found you, Jo; your card on file is •••• 4444.');
    expect(outcome.redaction).toEqual({ placeholders: ['[EMAIL_1]'], pending: ['I am [EMAIL_1], what card do you have on file?'] });
  });

  it('redacts the keys of an action result too: a map keyed by e-mail address or card number', async () => {
    const port: ActionPort = {
      call: async () => ({
        status: 'ok',
        httpStatus: 200,
        result: { name: 'Jo', email: { [EMAIL]: 'primary' }, card: { '4111 1111 1111 1111': 'expired', '4111\u00A01111\u00A01111\u00A01111': 'again' } },
        error: null,
        latencyMs: 1,
        resultBytes: 10,
      }),
    };
    llm.script({ toolCalls: [{ name: 'find_customer', arguments: { email: '[EMAIL_1]' } }] }, { decision: { message: 'Found you.' } });
    await sut.decide(agent, context([`I am ${EMAIL}`]), { actions: port });
    expect(toolResults(llm.requests[1])[0].result).toEqual({ name: 'Jo', email: { '[EMAIL_1]': 'primary' }, card: { '[CARD_1]': 'expired', '[CARD_1] (2)': 'again' } });
    expect(everythingSent(llm)).not.toContain(EMAIL);
    expect(everythingSent(llm)).not.toContain('1111');
  });

  it('hides a card written with no-break spaces, dots or on several lines, and drops an attribute holding one in clear', async () => {
    llm.script({ decision: { message: 'Noted [CARD_1].', contactAttributes: [{ name: 'email', value: 'card 4242.4242.4242.4242' }] } });
    const outcome = await sut.decide(agent, context(['my card is 4242\u00A04242\u00A04242\u00A04242, also 5555\n5555\n5555\n4444 and 4111/1111/1111/1111']));
    expect(everythingSent(llm)).not.toMatch(/4242|5555|1111/);
    expect(outcome.decision.message).toBe('Noted •••• 4242.');
    expect(outcome.decision.contactAttributes).toEqual({});
    expect(outcome.guardrails).toContain('dropped attribute email: it holds a payment card number, which is never stored in clear');
  });

  it('refuses a call whose argument the contact never gave, placeholder or not', async () => {
    const port: ActionPort = { call: async () => ({ status: 'ok', httpStatus: 200, result: {}, error: null, latencyMs: 1, resultBytes: 0 }) };
    llm.script({ toolCalls: [{ name: 'find_customer', arguments: { email: '[EMAIL_2]' } }] }, { decision: { message: 'Sorry.' } });
    await sut.decide(agent, context([`I am ${EMAIL}`]), { actions: port });
    expect(toolResults(llm.requests[1])[0].error).toMatch(/email: the value is not one the contact gave/);
  });

  it('leaves a placeholder the LLM made up as written, and says so', async () => {
    llm.script({ decision: { message: 'We will write to [EMAIL_3].', contactAttributes: [{ name: 'email', value: '[EMAIL_3]' }] } });
    const outcome = await sut.decide(agent, context([`I am ${EMAIL}`]));
    expect(outcome.decision.message).toBe('We will write to [EMAIL_3].');
    expect(outcome.decision.contactAttributes).toEqual({});
    expect(outcome.guardrails).toEqual([
      'the message has [EMAIL_3], which stands for no value of this conversation; sent as written',
      'dropped attribute email: it holds [EMAIL_3], which stands for no value the contact gave',
    ]);
  });

  it('summarises placeholders, and stores the summary with the values back and cards masked', async () => {
    llm.script({ summary: 'The contact [EMAIL_1] was charged twice on [CARD_1].' });
    const folded = [
      { direction: 'inbound' as const, text: `I am ${EMAIL}, charged twice on ${CARD}`, payload: null },
      { direction: 'outbound' as const, text: 'Sorry to hear that.', payload: null },
    ];
    const { summary } = await sut.summarize(agent, null, folded);
    expect(everythingSent(llm)).not.toContain(EMAIL);
    expect(everythingSent(llm)).not.toContain(CARD);
    expect(summary).toBe(`The contact ${EMAIL} was charged twice on •••• 4242.`);
  });

  it('masks cards in the handover note it writes from the contact\'s own words', () => {
    const note = sut.handoverNote(agent, context([`My card ${CARD} was charged twice`]), 'the contact did not answer');
    expect(note).toContain('My card •••• 4242 was charged twice');
    expect(note).not.toContain(CARD);
  });

  it('hashes the prompt as sent, and the context as stored', async () => {
    const ctx = context([`card ${CARD}`]);
    const outcome = await sut.decide(agent, ctx);
    const plain = await sut.decide({ ...agent, redaction: { detect: [], custom: [] } }, ctx);
    expect(outcome.contextHash).toBe(plain.contextHash);
    expect(outcome.promptHash).not.toBe(plain.promptHash);
  });

  it('embeds the retrieval query redacted, and searches the full text as written', async () => {
    const searched: string[] = [];
    const repository = {
      textSearch: async (_agent: string, _config: string, query: string) => {
        searched.push(query);
        return [];
      },
      vectors: async () => [],
      hasChunks: async () => true,
      chunks: async () => [],
    } as unknown as KnowledgeRepository;
    const client = new OpenAiLlmClient({ OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'k', OPENAI_TIMEOUT: 5000, OPENAI_MAX_RETRIES: 0 });
    const withKnowledge = { ...agent, knowledge: { sources: [], searchConfig: 'english', topK: 3, minScore: 0, requireGrounding: false, embeddings: { model: 'fake-embed' } } } as unknown as typeof agent;
    await new KnowledgeService(repository, client).retrieve(withKnowledge, `refund to card ${CARD} for ${EMAIL}`);
    expect(llm.embedded).toEqual(['refund to card [CARD_1] for [EMAIL_1]']);
    expect(searched).toEqual([`refund to card ${CARD} for ${EMAIL}`]);
  });
});
