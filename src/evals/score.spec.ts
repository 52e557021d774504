import type { ActionCallSummary } from '../actions/action.port.js';
import { applyGuardrails } from '../agent/guardrails.js';
import { parseAgents } from '../config/agents.loader.js';
import type { CaseExpect } from './case.schema.js';
import { NO_FIXTURE } from './fixture-actions.js';
import { checkRun, costOf, outOfPolicy, outOfPolicyCount, priceOf } from './score.js';
import type { Decided } from './types.js';
import { proposal } from '../../test/support/decisions.js';

const decided = (d: Partial<Decided> = {}): Decided => ({
  action: 'reply',
  message: 'Your order ships tomorrow.',
  topics: [],
  attributes: {},
  confidence: 0.9,
  reason: 'tracking question',
  handoverNote: '',
  ...d,
});


describe(checkRun.name, () => {
  it('checks only the action when the case asks for nothing else', () => {
    expect(checkRun({ action: 'reply' }, decided())).toEqual({ checks: { action: true }, passed: true });
    expect(checkRun({ action: 'handover' }, decided())).toEqual({ checks: { action: false }, passed: false });
  });

  it('accepts any action of a list', () => {
    expect(checkRun({ action: ['resolve', 'reply'] }, decided()).passed).toBe(true);
    expect(checkRun({ action: ['resolve', 'handover'] }, decided()).passed).toBe(false);
  });

  it('compares topics as sets, trimmed and case-insensitive', () => {
    const expectTopics = (topics: string[], got: string[]) => checkRun({ action: 'reply', topics }, decided({ topics: got })).checks.topics;
    expect(expectTopics(['Billing', 'Shipping'], [' shipping ', 'BILLING'])).toBe(true);
    expect(expectTopics(['Billing', 'Shipping'], ['Billing'])).toBe(false);
    expect(expectTopics(['Billing'], ['Billing', 'Shipping'])).toBe(false);
    expect(expectTopics([], [])).toBe(true);
    expect(expectTopics([], ['Billing'])).toBe(false);
  });

  it('checks each expected attribute: a value must match, null must be unset', () => {
    const expectation: CaseExpect = { action: 'reply', attributes: { order_number: 'A-123', email: null, iban: null } };
    const sut = checkRun(expectation, decided({ attributes: { order_number: ' a-123 ', email: 'x@y.z' } }));
    expect(sut.checks.attributes).toEqual({ order_number: true, email: false, iban: true });
    expect(sut.passed).toBe(false);
  });

  it('does not take Object.prototype for a set attribute', () => {
    const sut = checkRun({ action: 'reply', attributes: { constructor: null, toString: 'x' } }, decided());
    expect(sut.checks.attributes).toEqual({ constructor: true, toString: false });
  });

  it('finds message substrings case-insensitively, across line breaks and double spaces', () => {
    const sut = checkRun(
      { action: 'reply', messageIncludes: ['tracking  number', 'REFUND'], messageExcludes: ['Sorry', 'guarantee'] },
      decided({ message: 'Here is your Tracking\n number. Sorry   for the wait.' }),
    );
    expect(sut.checks.missingIncludes).toEqual(['REFUND']);
    expect(sut.checks.presentExcludes).toEqual(['Sorry']);
    expect(sut.passed).toBe(false);
  });

  it('passes when every check the case asks for passes', () => {
    const sut = checkRun(
      { action: ['reply', 'resolve'], topics: ['Shipping'], attributes: { order_number: 'A-1' }, messageIncludes: ['tomorrow'], messageExcludes: ['sorry'] },
      decided({ topics: ['shipping'], attributes: { order_number: 'A-1' } }),
    );
    expect(sut).toEqual({
      checks: { action: true, topics: true, attributes: { order_number: true }, missingIncludes: [], presentExcludes: [] },
      passed: true,
    });
  });
});

describe(`${checkRun.name}: handover reason`, () => {
  const handover = (handoverReason?: Decided['handoverReason']) => decided({ action: 'handover', message: '', ...(handoverReason ? { handoverReason } : {}) });

  it('passes a handover whose reason the case accepts, one or any of a list', () => {
    expect(checkRun({ action: 'handover', handoverReason: 'customer_request' }, handover('customer_request'))).toEqual({ checks: { action: true, handoverReason: true }, passed: true });
    const refund: CaseExpect = { action: 'handover', handoverReason: ['policy_restriction', 'unsupported_request'] };
    expect(checkRun(refund, handover('unsupported_request')).passed).toBe(true);
    expect(checkRun(refund, handover('low_confidence'))).toEqual({ checks: { action: true, handoverReason: false }, passed: false });
  });

  it('reads a handover without a reason as `none`, the Delegation hand-back of a finished task', () => {
    expect(checkRun({ action: 'handover', handoverReason: 'none' }, handover()).checks.handoverReason).toBe(true);
    expect(checkRun({ action: 'handover', handoverReason: 'none' }, handover('customer_request')).checks.handoverReason).toBe(false);
    expect(checkRun({ action: 'handover', handoverReason: 'customer_request' }, handover()).checks.handoverReason).toBe(false);
  });

  it('fails the reason too when a case that must hand over got another action', () => {
    expect(checkRun({ action: 'handover', handoverReason: 'customer_request' }, decided())).toEqual({ checks: { action: false, handoverReason: false }, passed: false });
  });

  it('does not check the reason of a case that also accepts the action decided, nor of a case that names none', () => {
    expect(checkRun({ action: ['reply', 'handover'], handoverReason: 'customer_request' }, decided())).toEqual({ checks: { action: true }, passed: true });
    expect(checkRun({ action: ['reply', 'handover'], handoverReason: 'customer_request' }, handover('missing_knowledge')).passed).toBe(false);
    expect(checkRun({ action: 'handover' }, handover('llm_failure'))).toEqual({ checks: { action: true }, passed: true });
  });
});

describe(`${checkRun.name}: action calls`, () => {
  const call = (name: string, args: Record<string, unknown> | null, status: ActionCallSummary['status'], error: string | null = null): ActionCallSummary => ({
    id: 'act-1',
    name,
    args,
    status,
    httpStatus: status === 'ok' ? 200 : null,
    result: status === 'ok' ? { status: 'shipped' } : null,
    error,
    latencyMs: 0,
    line: '',
  });
  const withCalls = (...calls: ActionCallSummary[]) => decided({ calls });

  it('compares the actions called and made with expect.calls, as a set', () => {
    const calls = (expected: string[], ...made: ActionCallSummary[]) => checkRun({ action: 'reply', calls: expected }, withCalls(...made)).checks.calls;
    expect(calls(['order_status'], call('order_status', { order_number: 'A-1' }, 'ok'), call('order_status', { order_number: 'A-2' }, 'http_error', 'HTTP 404'))).toBe(true);
    expect(calls(['order_status'])).toBe(false);
    expect(calls([], call('order_status', { order_number: 'A-1' }, 'ok'))).toBe(false);
    expect(calls([])).toBe(true);
    expect(calls(['order_status', 'track'], call('order_status', { order_number: 'A-1' }, 'ok'))).toBe(false);
  });

  it('does not count a call the bridge refused as made', () => {
    const refused = call('order_status', { order_number: 'A-99999' }, 'refused', 'order_number "A-99999" is not a value the contact gave');
    expect(checkRun({ action: 'reply', calls: [] }, withCalls(refused))).toEqual({ checks: { action: true, calls: true }, passed: true });
    expect(checkRun({ action: 'reply', calls: ['order_status'] }, withCalls(refused)).passed).toBe(false);
  });

  it('checks expect.callArgs against the arguments of the calls made', () => {
    const sut = checkRun(
      { action: 'reply', callArgs: { order_status: { order_number: 'A-12345' }, track: { id: 1 } } },
      withCalls(call('order_status', { order_number: 'A-00000' }, 'refused', 'no'), call('order_status', { order_number: 'A-12345' }, 'ok'), call('track', { id: 2 }, 'ok')),
    );
    expect(sut.checks.callArgs).toEqual({ order_status: true, track: false });
    expect(sut.passed).toBe(false);
  });

  it('fails a run with a call its case had no fixture for, whatever else it expects, and names the call', () => {
    const sut = checkRun({ action: 'reply' }, withCalls(call('order_status', { order_number: 'A-12345' }, 'skipped', NO_FIXTURE)));
    expect(sut).toEqual({ checks: { action: true, unfixtured: ['order_status(order_number=A-12345)'] }, passed: false });
    // A call answered with an error from its fixture is the case's answer, not a missing one.
    expect(checkRun({ action: 'reply' }, withCalls(call('order_status', { order_number: 'A-12345' }, 'timeout', 'no answer within 3000 ms'))).passed).toBe(true);
  });
});

describe(outOfPolicy.name, () => {
  it('lists refused topics and attribute names once each, and every guardrail', () => {
    const sut = outOfPolicy(
      proposal({
        topics: ['billing', ' VIP ', 'vip', 'Other'],
        contactAttributes: [
          { name: 'order_number', value: '1' },
          { name: 'iban', value: 'x' },
          { name: 'iban', value: 'y' },
          { name: 'Order_Number', value: '2' },
        ],
      }),
      ['Billing', 'Shipping'],
      ['order_number'],
      ['g1', 'g2'],
    );
    expect(sut).toEqual({ topics: ['VIP', 'Other'], attributes: ['iban', 'Order_Number'], guardrails: ['g1', 'g2'] });
  });

  it('has nothing out of policy but the guardrails when the LLM gave no valid answer', () => {
    expect(outOfPolicy(null, ['Billing'], [], ['the LLM failed'])).toEqual({ topics: [], attributes: [], guardrails: ['the LLM failed'] });
  });
});

describe(outOfPolicyCount.name, () => {
  const [agent] = parseAgents(
    `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Be kind.
    topics: [Billing]
    contactAttributes: { order_number: The order number }
`,
    { S: 'aa' },
  );

  it('counts a refused topic or attribute once, not again for the guardrail line reporting it (real guardrail texts)', () => {
    const proposed = proposal({
      topics: ['Billing', 'VIP', 'Other'],
      contactAttributes: [
        { name: 'iban', value: 'x' },
        { name: 'email', value: 'y' },
        { name: 'order_number', value: ' ' },
      ],
      confidence: 0.3,
    });
    const guarded = applyGuardrails(agent, proposed, {
      mode: 'inception',
      language: 'en',
      contactProfile: null,
      contactAttributes: [],
      summary: null,
      transcript: [{ direction: 'inbound', text: 'Hello', payload: null, pending: true }],
      agentTurns: 0,
    });
    const sut = outOfPolicy(proposed, agent.topics, Object.keys(agent.contactAttributes), guarded.fired);
    // Fired: the dropped topics (one line), two dropped attributes, the empty attribute, the low confidence.
    expect(sut.guardrails).toHaveLength(5);
    expect(sut.topics).toEqual(['VIP', 'Other']);
    expect(sut.attributes).toEqual(['iban', 'email']);
    expect(outOfPolicyCount(sut)).toBe(2 + 2 + 2);
  });
});

describe(costOf.name, () => {
  const prices = {
    'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
    'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
    'gpt-4': { input: 30, output: 60 },
  };
  const usage = { promptTokens: 1_000_000, cachedTokens: 200_000, completionTokens: 500_000 };

  it('prices uncached, cached and completion tokens per million', () => {
    // 800k × 0.4 + 200k × 0.1 + 500k × 1.6, per million
    expect(costOf('gpt-4.1-mini', usage, prices)).toBeCloseTo(0.32 + 0.02 + 0.8, 10);
  });

  it('charges cached tokens at the input price when the model has no cached price', () => {
    expect(costOf('gpt-4', usage, prices)).toBeCloseTo(30 + 30, 10);
  });

  it('prices a dated model by the longest priced name it extends', () => {
    expect(priceOf('gpt-4.1-mini-2025-04-14', prices)).toBe(prices['gpt-4.1-mini']);
    expect(priceOf('gpt-4.1-2025-04-14', prices)).toBe(prices['gpt-4.1']);
    expect(costOf('gpt-4.1-mini-2025-04-14', usage, prices)).toBeCloseTo(1.14, 10);
  });

  it('never prices a model by a name that is only a prefix of a word', () => {
    expect(costOf('gpt-4o', usage, prices)).toBeNull();
    expect(costOf('gpt-4.10', usage, prices)).toBeNull();
  });

  it('is null for an unpriced model, and not fooled by Object.prototype', () => {
    expect(costOf('llama-3', usage, prices)).toBeNull();
    expect(costOf('constructor', usage, prices)).toBeNull();
  });

  it('does not discount more cached tokens than prompt tokens', () => {
    expect(costOf('gpt-4.1-mini', { promptTokens: 100, cachedTokens: 500, completionTokens: 0 }, prices)).toBeCloseTo((100 * 0.1) / 1e6, 15);
  });
});
