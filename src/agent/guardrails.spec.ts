import fc from 'fast-check';
import { parseAgents } from '../config/agents.loader.js';
import type { ConversationContext, LlmDecision } from './decision.js';
import { applyGuardrails, mentionsAny } from './guardrails.js';
import { proposal } from '../../test/support/decisions.js';

const [agent] = parseAgents(
  `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Be kind.
    topics: [Billing, Shipping]
    contactAttributes: { order_number: The order number }
    limits: { minConfidence: 0.6, maxTurns: 3, maxMessageLength: 40, maxAttributeLength: 10 }
`,
  { S: 'aa' },
);


const ctx = (contact = 'Where is my parcel?', agentTurns = 0): ConversationContext => ({
  mode: 'inception',
  language: 'en',
  contactProfile: null,
  contactAttributes: [],
  summary: null,
  transcript: [{ direction: 'inbound', text: contact, payload: null, pending: true }],
  agentTurns,
});

describe(applyGuardrails.name, () => {
  it('passes a good reply through unchanged', () => {
    const sut = applyGuardrails(agent, proposal(), ctx());
    expect(sut).toEqual({
      decision: { action: 'reply', message: 'Happy to help.', topics: [], contactAttributes: {}, confidence: 0.9, reason: 'because', handoverNote: '', sources: [], factual: false },
      fired: [],
    });
  });

  it('keeps only allowed topics, matched in any case and sent with the configured spelling', () => {
    const sut = applyGuardrails(agent, proposal({ topics: ['billing', 'VIP', ' SHIPPING ', 'Billing'] }), ctx());
    expect(sut.decision.topics).toEqual(['Billing', 'Shipping']);
    expect(sut.fired).toEqual(['dropped topics outside the allow-list: VIP']);
  });

  it('keeps only configured attribute keys with a bounded, non-empty value', () => {
    const sut = applyGuardrails(
      agent,
      proposal({
        contactAttributes: [
          { name: 'order_number', value: ' A-12345 ' },
          { name: 'vip_status', value: 'gold' },
          { name: 'order-number', value: 'x' },
          { name: 'constructor', value: 'x' },
          { name: '__proto__', value: 'x' },
        ],
      }),
      ctx(),
    );
    expect(sut.decision.contactAttributes).toEqual({ order_number: 'A-12345' });
    expect(sut.fired).toEqual([
      'dropped attribute outside the configured keys: vip_status',
      'dropped attribute outside the configured keys: order-number',
      'dropped attribute outside the configured keys: constructor',
      'dropped attribute outside the configured keys: __proto__',
    ]);
    expect(Object.getPrototypeOf(sut.decision.contactAttributes)).toBe(Object.prototype);
    const long = applyGuardrails(agent, proposal({ contactAttributes: [{ name: 'order_number', value: 'A-1234567890' }] }), ctx());
    expect(long.decision.contactAttributes).toEqual({});
    expect(long.fired).toEqual(['dropped attribute over 10 characters: order_number']);
  });

  it('cuts a message over the length cap at a word', () => {
    const sut = applyGuardrails(agent, proposal({ message: 'This answer is much longer than forty characters allowed here.' }), ctx());
    expect(sut.decision.message.length).toBeLessThanOrEqual(40);
    expect(sut.decision.message).toMatch(/…$/);
    expect(sut.fired).toEqual(['message cut to 40 characters']);
  });

  it('hands over a reply or resolve below minConfidence', () => {
    for (const action of ['reply', 'resolve'] as const) {
      const sut = applyGuardrails(agent, proposal({ action, confidence: 0.59 }), ctx());
      expect(sut.decision).toMatchObject({ action: 'handover', message: '' });
      expect(sut.forcedHandover).toBe('confidence 0.59 is under 0.6');
    }
  });

  it('hands over an empty reply', () => {
    expect(applyGuardrails(agent, proposal({ message: '   ' }), ctx()).decision.action).toBe('handover');
  });

  it('hands over once the agent has taken maxTurns turns', () => {
    expect(applyGuardrails(agent, proposal(), ctx('hi', 2)).decision.action).toBe('reply');
    const sut = applyGuardrails(agent, proposal(), ctx('hi', 3));
    expect(sut.decision.action).toBe('handover');
    expect(sut.fired).toEqual(['the agent reached its limit of 3 turns']);
  });

  it('hands over when the contact asks for a human, even if the LLM wants to reply', () => {
    const sut = applyGuardrails(agent, proposal({ topics: ['Billing'] }), ctx('Can I talk to a real person please?'));
    expect(sut.decision).toMatchObject({ action: 'handover', topics: ['Billing'] });
    expect(sut.fired).toEqual(['the contact asked for a human']);
  });

  it('looks for a human request only in the messages this turn answers', () => {
    const c = ctx('thanks');
    c.transcript.unshift({ direction: 'inbound', text: 'I wanted a human earlier', payload: null });
    expect(applyGuardrails(agent, proposal(), c).decision.action).toBe('reply');
  });

  it('keeps the LLM’s own handover and its note', () => {
    const sut = applyGuardrails(agent, proposal({ action: 'handover', message: 'A colleague will help.', handoverNote: 'Refund over 100 EUR' }), ctx());
    expect(sut.decision).toMatchObject({ action: 'handover', message: 'A colleague will help.', handoverNote: 'Refund over 100 EUR' });
    expect(sut.fired).toEqual([]);
    expect(sut.forcedHandover).toBeUndefined();
  });

  it('never lets any proposal out with a topic or attribute outside the allow-lists', () => {
    const word = fc.string({ minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(
        fc.record({
          action: fc.constantFrom('reply', 'resolve', 'handover') as fc.Arbitrary<LlmDecision['action']>,
          message: fc.string({ maxLength: 80 }),
          topics: fc.array(fc.oneof(word, fc.constantFrom('billing', 'Shipping', 'VIP'))),
          contactAttributes: fc.array(fc.record({ name: fc.oneof(word, fc.constant('order_number')), value: fc.string({ maxLength: 20 }) })),
          confidence: fc.double({ min: 0, max: 1, noNaN: true }),
          reason: fc.string(),
          handoverNote: fc.string(),
          sources: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
          factual: fc.boolean(),
        }),
        fc.string({ maxLength: 60 }),
        fc.nat(5),
        (p, contact, turns) => {
          const { decision } = applyGuardrails(agent, p, ctx(contact, turns));
          return (
            decision.topics.every((t) => agent.topics.includes(t)) &&
            Object.entries(decision.contactAttributes).every(([k, v]) => k === 'order_number' && v.length > 0 && v.length <= 10) &&
            decision.message.length <= 40 &&
            (decision.action === 'handover' || decision.confidence >= 0.6) &&
            (decision.action !== 'reply' || decision.message.length > 0) &&
            (turns < 3 || decision.action === 'handover')
          );
        },
      ),
    );
  });
});

describe(mentionsAny.name, () => {
  it('matches whole words and phrases in any case and across punctuation', () => {
    expect(mentionsAny('I want a HUMAN!', ['human'])).toBe(true);
    expect(mentionsAny('talk   to someone, please', ['talk to someone'])).toBe(true);
    expect(mentionsAny('for the good of humanity', ['human'])).toBe(false);
    expect(mentionsAny('anything', [' '])).toBe(false);
  });
});

describe('applyGuardrails with knowledge', () => {
  const grounded = parseAgents(
    `
agents:
  - id: kb
    name: KB
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Answer from the help centre.
    topics: [Returns]
    knowledge: { sources: [{ path: kb/*.md }], requireGrounding: true }
`,
    { S: 'aa' },
  )[0];
  const chunk = { id: 'kb-7', title: 'Returning an item', url: 'https://help.example/returns', uri: 'returns.md', headingPath: ['Time limit'], text: '30 days.', score: 0.6 };
  const withKnowledge = (knowledge: (typeof chunk)[], extra: Partial<ConversationContext> = {}): ConversationContext => ({ ...ctx('How long can I return a jacket?'), knowledge, ...extra });

  it('keeps a citation of a retrieved chunk and drops one that was not retrieved', () => {
    const sut = applyGuardrails(grounded, proposal({ message: 'You have 30 days.', sources: ['kb-7', 'kb-99'], factual: true }), withKnowledge([chunk]));
    expect(sut.decision).toMatchObject({ action: 'reply', sources: ['kb-7'] });
    expect(sut.fired).toEqual(['dropped sources not retrieved for this turn: kb-99']);
  });

  it('hands over a factual reply that cites nothing, saying whether the knowledge base had an answer', () => {
    const uncited = applyGuardrails(grounded, proposal({ message: 'You have 60 days.', factual: true }), withKnowledge([chunk]));
    expect(uncited).toMatchObject({ decision: { action: 'handover', message: '' }, forcedHandover: 'the reply states facts but cites no article of the knowledge base nor a lookup' });
    const nothing = applyGuardrails(grounded, proposal({ message: 'You have 60 days.', factual: true, sources: ['kb-7'] }), withKnowledge([]));
    expect(nothing.forcedHandover).toBe('the knowledge base has no answer to this question');
    const down = applyGuardrails(grounded, proposal({ message: 'You have 60 days.', factual: true }), withKnowledge([], { knowledgeFailure: 'connection refused' }));
    expect(down.forcedHandover).toBe('the knowledge base could not be searched (connection refused), and the reply states facts');
  });

  it('checks a closing line too: a resolve that states facts must cite them', () => {
    const sut = applyGuardrails(grounded, proposal({ action: 'resolve', message: 'Your refund of 200 EUR is approved, bye!', factual: true }), withKnowledge([chunk]));
    expect(sut.decision.action).toBe('handover');
    expect(applyGuardrails(grounded, proposal({ action: 'resolve', message: 'Glad I could help!', factual: false }), withKnowledge([])).decision.action).toBe('resolve');
  });

  it('lets a question or a greeting through without a source', () => {
    const sut = applyGuardrails(grounded, proposal({ message: 'Which item is it?', factual: false }), withKnowledge([]));
    expect(sut.decision.action).toBe('reply');
  });
});
