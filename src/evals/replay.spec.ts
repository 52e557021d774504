import { describeCall, type ActionCallRequest } from '../actions/action.port.js';
import { ActionSchema, type ActionConfig } from '../actions/action.schema.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { parseCaseFile } from './case.loader.js';
import { fixturePort } from './fixture-actions.js';
import { exportCases, recordedFixtures, unflatten } from './replay-report.js';
import { NOT_RECORDED, changesBetween, recordedPort, type ReplayCall, type ReplayRow, type ReplayedDecision } from './replay.js';
import { stringify } from 'yaml';

const action = (o: { name?: string; fields?: string[]; sideEffects?: boolean } = {}): ActionConfig =>
  ActionSchema.parse({
    name: o.name ?? 'order_status',
    description: 'Look up one order.',
    parameters: { type: 'object', properties: { order_number: { type: 'string' }, lang: { type: 'string' } } },
    request: { url: 'https://shop.example/api/orders/{order_number}/{lang}', ...(o.sideEffects ? { method: 'POST' } : {}) },
    response: { fields: o.fields ?? ['status', 'carrier'] },
    sideEffects: o.sideEffects ?? false,
  });

const request = (a: ActionConfig, args: Record<string, unknown>, refused: string | null = null): ActionCallRequest => ({ action: a, args, rawArguments: JSON.stringify(args), refused, deadline: Date.now() + 1000 });

function recorded(name: string, args: Record<string, unknown>, status: ReplayCall['status'], o: Partial<ReplayCall> = {}): ReplayCall {
  const call = { name, args, status, httpStatus: status === 'ok' ? 200 : null, result: null, error: null, latencyMs: 120, ...o };
  return { ...call, line: describeCall(call) };
}

const agent = {} as AgentConfig;

describe(recordedPort.name, () => {
  const shipped = recorded('order_status', { order_number: 'A-12345', lang: 'en' }, 'ok', { result: { status: 'shipped', carrier: 'DHL' } });

  it('answers a call with the same action and arguments, in any key order, with what the turn recorded', async () => {
    const sut = recordedPort([shipped]);
    expect(await sut.call(agent, request(action(), { lang: 'en', order_number: 'A-12345' }))).toEqual({
      status: 'ok',
      httpStatus: 200,
      result: { status: 'shipped', carrier: 'DHL' },
      error: null,
      latencyMs: 120,
      resultBytes: Buffer.byteLength(JSON.stringify({ status: 'shipped', carrier: 'DHL' })),
    });
  });

  it('makes no call for anything the turn did not record: other arguments, another action, a call it refused', async () => {
    const refused = recorded('order_status', { order_number: 'A-99999', lang: 'en' }, 'refused', { error: 'not a value the contact gave' });
    const sut = recordedPort([shipped, refused]);
    for (const [a, args] of [
      [action(), { order_number: 'A-12346', lang: 'en' }],
      [action(), { order_number: 'A-12345' }],
      [action({ name: 'track' }), { order_number: 'A-12345', lang: 'en' }],
      [action(), { order_number: 'A-99999', lang: 'en' }],
    ] as const) {
      expect(await sut.call(agent, request(a, args))).toMatchObject({ status: 'skipped', result: null, error: NOT_RECORDED });
    }
  });

  it('answers the same call asked again with the next record, then with the last one', async () => {
    const args = { order_number: 'A-12345', lang: 'en' };
    const sut = recordedPort([recorded('order_status', args, 'timeout', { error: 'no answer within 3000 ms' }), shipped]);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await sut.call(agent, request(action(), args))).status);
    expect(statuses).toEqual(['timeout', 'ok', 'ok']);
  });

  it('keeps the outcome a live turn reported: a side-effect timeout is unknown, a call never finished is unknown', async () => {
    const args = { order_number: 'A-12345', lang: 'en' };
    const timedOut = recordedPort([recorded('order_status', args, 'timeout', { error: 'no answer within 3000 ms' })]);
    expect(await timedOut.call(agent, request(action({ sideEffects: true }), args))).toMatchObject({ status: 'unknown', error: 'no answer within 3000 ms; it may have been carried out' });
    const started = recordedPort([recorded('order_status', args, 'unknown', { error: 'the turn recorded its start and no outcome' })]);
    expect(await started.call(agent, request(action(), args))).toMatchObject({ status: 'unknown' });
  });

  it('answers nothing for a call the engine refused now', async () => {
    expect(await recordedPort([shipped]).call(agent, request(action(), { order_number: 'A-12345', lang: 'en' }, 'the limit is reached'))).toMatchObject({ status: 'refused' });
  });
});

describe(changesBetween.name, () => {
  const decision = (calls: ReplayCall[]): ReplayedDecision => ({ action: 'reply', message: '', topics: [], attributes: {}, reason: '', guardrails: [], failure: null, calls });
  const a = recorded('order_status', { order_number: 'A-1', lang: 'en' }, 'ok');
  const b = recorded('order_status', { order_number: 'A-2', lang: 'en' }, 'http_error', { error: 'HTTP 404' });

  it('sees a change of the calls made, not of their order, their outcome, or a refused call', () => {
    expect(changesBetween(decision([a, b]), decision([b, { ...a, args: { lang: 'en', order_number: 'A-1' } }]))).toEqual([]);
    expect(changesBetween(decision([a]), decision([{ ...a, status: 'skipped', error: NOT_RECORDED }]))).toEqual([]);
    expect(changesBetween(decision([a]), decision([a, { ...b, status: 'refused' }]))).toEqual([]);
    expect(changesBetween(decision([a]), decision([a, b]))).toEqual(['calls']);
    expect(changesBetween(decision([a]), decision([]))).toEqual(['calls']);
  });
});

describe(recordedFixtures.name, () => {
  it('writes what each call returned as a fixture that answers the same call with the same result', async () => {
    const calls = [
      recorded('order_status', { order_number: 'A-1', lang: 'en' }, 'ok', { result: { status: 'shipped', 'shipment.eta': 'Thursday', 'items.0.sku': 'TENT-2' } }),
      recorded('order_status', { order_number: 'A-1', lang: 'en' }, 'ok', { result: { status: 'later, ignored' } }),
      recorded('order_status', { order_number: 'A-2', lang: 'en' }, 'http_error', { httpStatus: 404, error: 'HTTP 404 (order not found)' }),
      recorded('order_status', { order_number: 'A-3', lang: 'en' }, 'timeout', { error: 'no answer within 3000 ms' }),
      recorded('order_status', { order_number: 'A-4', lang: 'en' }, 'refused', { error: 'not a value the contact gave' }),
    ];
    const fixtures = recordedFixtures(calls)!;
    expect(fixtures.order_status).toEqual([
      { when: { order_number: 'A-1', lang: 'en' }, result: { status: 'shipped', shipment: { eta: 'Thursday' }, items: { '0': { sku: 'TENT-2' } } } },
      { when: { order_number: 'A-2', lang: 'en' }, error: 'HTTP 404 (order not found)', httpStatus: 404 },
      { when: { order_number: 'A-3', lang: 'en' }, status: 'timeout', error: 'no answer within 3000 ms' },
    ]);

    // Through the case file schema and the eval's port, the same call gets the same answer back.
    const yaml = stringify({ agent: 'acme', cases: [{ id: 'c', transcript: [{ contact: 'A-1?' }], actions: fixtures, expect: { action: 'reply' } }] });
    const port = fixturePort(parseCaseFile(yaml, 'exported.yaml').cases[0].actions);
    const a = action({ fields: ['status', 'shipment.eta', 'items.0.sku'] });
    expect((await port.call(agent, request(a, { order_number: 'A-1', lang: 'en' }))).result).toEqual(calls[0].result);
    expect(await port.call(agent, request(a, { order_number: 'A-2', lang: 'en' }))).toMatchObject({ status: 'http_error', httpStatus: 404, error: 'HTTP 404 (order not found)' });
    expect(await port.call(agent, request(a, { order_number: 'A-3', lang: 'en' }))).toMatchObject({ status: 'timeout', error: 'no answer within 3000 ms' });
  });

  it('has nothing to write for a turn that made no call', () => {
    expect(recordedFixtures([])).toBeUndefined();
    expect(recordedFixtures([recorded('order_status', { order_number: 'A-4' }, 'refused')])).toBeUndefined();
  });
});

describe(unflatten.name, () => {
  it('nests dot paths, keeps a whole object picked with one of its fields, and keeps __proto__ a field', () => {
    expect(unflatten({ 'shipment.eta': 'Thu', shipment: { eta: 'Thu', carrier: 'DHL' } })).toEqual({ shipment: { eta: 'Thu', carrier: 'DHL' } });
    const sut = unflatten({ '__proto__.polluted': 'yes' });
    expect(Object.keys(sut)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe(exportCases.name, () => {
  it('writes no card number in clear into the exported case file: messages, summary, attributes, fixtures', () => {
    const decided: ReplayedDecision = { action: 'handover', message: 'A colleague will help.', topics: [], attributes: {}, reason: 'refund', guardrails: [], failure: null, calls: [] };
    const row = {
      decisionId: '7',
      conversationId: 'c-1',
      inboxConversationId: 'i-1',
      createdAt: '2026-11-20T10:00:00Z',
      kind: 'turn',
      contextExact: true,
      promptChanged: false,
      missingMessages: [],
      skipped: null,
      then: {
        ...decided,
        calls: [recorded('card_lookup', { last4: '4242' }, 'ok', { result: { '4242 4242 4242 4242': 'blocked', note: 'card 5555-5555-5555-4444' } })],
      },
      now: decided,
      changes: [],
      unrecordedCalls: 0,
      latencyMs: 10,
      usage: { promptTokens: 0, completionTokens: 0, cachedTokens: 0 },
      costUsd: null,
      context: {
        mode: 'inception',
        language: 'en',
        contactProfile: { primaryIdentifier: 'Jo Doe' },
        contactAttributes: [{ attribute: 'note', value: 'card 4242424242424242' }],
        summary: 'Jo was charged twice on 4242.4242.4242.4242.',
        transcript: [
          { direction: 'outbound', text: 'How can I help?', payload: null },
          { direction: 'inbound', text: 'Refund my card 4242\u00A04242\u00A04242\u00A04242 please, order A-12345', payload: null, pending: true },
        ],
        agentTurns: 1,
      },
    } as unknown as ReplayRow;
    const { yaml, exported } = exportCases('acme', [row], '2026-11-25');
    expect(exported).toBe(1);
    expect(yaml).not.toMatch(/4242[\s\u00A0.-]?4242|5555[\s\u00A0.-]?5555/);
    expect(yaml).toContain('Refund my card •••• 4242 please, order A-12345');
    expect(yaml).toContain('•••• 4444');
    expect(parseCaseFile(yaml, 'export').cases[0].summary).toBe('Jo was charged twice on •••• 4242.');
  });
});
