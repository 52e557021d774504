import type { ActionCallRequest } from '../actions/action.port.js';
import { ActionSchema, type ActionConfig } from '../actions/action.schema.js';
import { parseAgents } from '../config/agents.loader.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { parseCaseFile } from './case.loader.js';
import type { CaseFixtures } from './case.schema.js';
import { NO_FIXTURE, argsInclude, canonicalJson, caseActionProblems, caseFileActionProblems, fixturePort } from './fixture-actions.js';

const orderStatus = (o: { fields?: string[]; maxBytes?: number; sideEffects?: boolean } = {}): ActionConfig =>
  ActionSchema.parse({
    name: 'order_status',
    description: 'Look up one order.',
    parameters: { type: 'object', required: ['order_number'], properties: { order_number: { type: 'string' } } },
    request: { url: 'https://shop.acme.example/api/orders/{order_number}', timeout: '3s', ...(o.sideEffects ? { method: 'POST' } : {}) },
    response: { fields: o.fields ?? ['status', 'carrier', 'shipment.eta'], maxBytes: o.maxBytes ?? 4096 },
    sideEffects: o.sideEffects ?? false,
  });

const request = (action: ActionConfig, args: Record<string, unknown> | null, refused: string | null = null): ActionCallRequest => ({
  action,
  args,
  rawArguments: JSON.stringify(args),
  refused,
  deadline: Date.now() + 1000,
});

/** The fixtures as a case file declares them, through the case schema. */
function fixtures(yaml: string): CaseFixtures {
  const file = parseCaseFile(`agent: acme\ncases:\n  - id: c\n    transcript: [{ contact: hi }]\n    actions:\n${yaml.replace(/^/gm, '      ')}\n    expect: { action: reply }\n`, 'cases.yaml');
  return file.cases[0].actions!;
}

const agent = {} as AgentConfig;

describe(fixturePort.name, () => {
  it('answers with only the listed fields of the fixture body, flattened, as a live answer is reduced', async () => {
    const sut = fixturePort(fixtures('order_status: { result: { status: shipped, carrier: DHL, shipment: { eta: Thursday }, customer_email: jo@example.com } }'));
    expect(await sut.call(agent, request(orderStatus(), { order_number: 'A-12345' }))).toEqual({
      status: 'ok',
      httpStatus: 200,
      result: { status: 'shipped', carrier: 'DHL', 'shipment.eta': 'Thursday' },
      error: null,
      latencyMs: 0,
      resultBytes: Buffer.byteLength(JSON.stringify({ status: 'shipped', carrier: 'DHL', 'shipment.eta': 'Thursday' })),
    });
  });

  it('applies maxBytes to the picked fields, not to the whole body', async () => {
    const body = `{ status: "${'x'.repeat(300)}", notes: "${'y'.repeat(5000)}" }`;
    const small = fixturePort(fixtures(`order_status: { result: ${body} }`));
    expect(await small.call(agent, request(orderStatus({ fields: ['status'], maxBytes: 256 }), { order_number: 'A-1' }))).toMatchObject({
      status: 'too_large',
      result: null,
      error: expect.stringMatching(/over the limit of 256/),
    });
    expect((await small.call(agent, request(orderStatus({ fields: ['status'], maxBytes: 4096 }), { order_number: 'A-1' }))).status).toBe('ok');
  });

  it('reads an error as an HTTP error with its status, and fills the error a named failure would have', async () => {
    const sut = fixturePort(
      fixtures(`order_status:
  - { when: { order_number: A-99999 }, error: "HTTP 404 (order not found)" }
  - { when: { order_number: A-50000 }, status: http_error, httpStatus: 503 }
  - { when: { order_number: A-30000 }, status: timeout }
  - { status: failed, error: "connection failed: ECONNRESET" }`),
    );
    const call = (n: string) => sut.call(agent, request(orderStatus(), { order_number: n }));
    expect(await call('A-99999')).toMatchObject({ status: 'http_error', httpStatus: 404, error: 'HTTP 404 (order not found)', result: null });
    expect(await call('A-50000')).toMatchObject({ status: 'http_error', httpStatus: 503, error: 'HTTP 503' });
    expect(await call('A-30000')).toMatchObject({ status: 'timeout', httpStatus: null, error: 'no answer within 3000 ms' });
    expect(await call('A-11111')).toMatchObject({ status: 'failed', error: 'connection failed: ECONNRESET' });
  });

  it('answers each call from the first entry whose `when` its arguments include, and says when none does', async () => {
    const sut = fixturePort(fixtures('order_status:\n  - { when: { order_number: A-12345 }, result: { status: shipped } }\n  - { when: { order_number: 12345 }, result: { status: digits } }'));
    const status = async (n: string) => {
      const o = await sut.call(agent, request(orderStatus(), { order_number: n }));
      return o.status === 'ok' ? o.result!.status : `${o.status}: ${o.error}`;
    };
    expect(await status('A-12345')).toBe('shipped');
    // YAML reads 12345 as a number; the model sends text.
    expect(await status('12345')).toBe('digits');
    expect(await status('A-54321')).toBe(`skipped: ${NO_FIXTURE} for these arguments`);
  });

  it('skips a call of an action the case has no fixture for, saying so to the model', async () => {
    expect(await fixturePort({}).call(agent, request(orderStatus(), { order_number: 'A-12345' }))).toMatchObject({ status: 'skipped', error: NO_FIXTURE });
    expect(await fixturePort().call(agent, request(orderStatus(), { order_number: 'A-12345' }))).toMatchObject({ status: 'skipped', error: NO_FIXTURE });
  });

  it('answers nothing for a call the engine refused', async () => {
    const sut = fixturePort(fixtures('order_status: { result: { status: shipped } }'));
    expect(await sut.call(agent, request(orderStatus(), null, 'invalid arguments: order_number is required'))).toMatchObject({
      status: 'refused',
      result: null,
      error: 'invalid arguments: order_number is required',
    });
  });

  it('reports a side-effect call that timed out as unknown, as the live port does', async () => {
    const sut = fixturePort(fixtures('order_status: { status: timeout }'));
    expect(await sut.call(agent, request(orderStatus({ sideEffects: true }), { order_number: 'A-1' }))).toMatchObject({
      status: 'unknown',
      error: 'no answer within 3000 ms; it may have been carried out',
    });
  });
});

describe('case fixtures (case.schema.ts)', () => {
  const problem = (yaml: string) => {
    try {
      fixtures(yaml);
      return 'loaded';
    } catch (err) {
      return (err as { problems?: string[] }).problems?.join('\n') ?? String(err);
    }
  };

  it('take one answer or a list of them', () => {
    expect(fixtures('order_status: { result: { status: shipped } }').order_status).toEqual([{ result: { status: 'shipped' } }]);
    expect(fixtures('order_status: [{ status: timeout }, { error: "HTTP 404" }]').order_status).toHaveLength(2);
  });

  it('refuse an answer that is neither a result nor a failure, or both, naming the case and the field', () => {
    expect(problem('order_status: { when: { order_number: A-1 } }')).toMatch(/^cases\.yaml:6: case "c" field actions\.order_status: needs a result, an error or a status/);
    expect(problem('order_status: { result: { status: x }, error: "HTTP 500" }')).toMatch(/has both result and error/);
    expect(problem('order_status: { result: { status: x }, status: timeout }')).toMatch(/its status is ok, not timeout/);
    expect(problem('order_status: { status: ok }')).toMatch(/status ok needs a result/);
    expect(problem('order_status: { status: http_error }')).toMatch(/needs an error or an httpStatus/);
    expect(problem('order_status: { status: exploded }')).toMatch(/field actions\.order_status/);
    expect(problem('"order status": { status: timeout }')).toMatch(/must be an action name/);
  });
});

describe("a case file's own fixtures (actions: at the top)", () => {
  const yaml = `agent: acme
actions:
  order_status:
    - { when: { order_number: A-12345 }, result: { status: in transit, carrier: DHL } }
    - { result: { status: processing } }
cases:
  - id: inherits
    transcript: [{ contact: "where is A-12345?" }]
    expect: { action: reply }
  - id: own
    transcript: [{ contact: "where is A-12345?" }]
    actions:
      order_status: { when: { order_number: A-54321 }, result: { status: delivered } }
    expect: { action: reply }
`;
  const status = async (actions: CaseFixtures | undefined, n: string) => {
    const o = await fixturePort(actions).call(agent, request(orderStatus(), { order_number: n }));
    return o.status === 'ok' ? o.result!.status : `${o.status}: ${o.error}`;
  };

  it('answer every case that declares no fixture of its own for the action', async () => {
    const [inherits] = parseCaseFile(yaml, 'cases.yaml').cases;
    expect(inherits.fileFixtures).toEqual(['order_status']);
    expect(await status(inherits.actions, 'A-12345')).toBe('in transit');
    expect(await status(inherits.actions, 'A-99999')).toBe('processing');
  });

  it("give way, whole, to a case's own fixture of the action: the file's entries are not tried after it", async () => {
    const [, own] = parseCaseFile(yaml, 'cases.yaml').cases;
    expect(own.fileFixtures).toBeUndefined();
    expect(await status(own.actions, 'A-54321')).toBe('delivered');
    expect(await status(own.actions, 'A-12345')).toBe(`skipped: ${NO_FIXTURE} for these arguments`);
  });

  it("stand beside a case's fixtures of other actions", () => {
    const file = parseCaseFile(
      `agent: acme
actions: { order_status: { result: { status: shipped } } }
cases:
  - id: both
    transcript: [{ contact: hi }]
    actions: { returns_status: { error: "HTTP 404" } }
    expect: { action: reply }
`,
      'cases.yaml',
    );
    expect(Object.keys(file.cases[0].actions!).sort()).toEqual(['order_status', 'returns_status']);
    expect(file.cases[0].fileFixtures).toEqual(['order_status']);
  });

  it('are validated like a case\'s, naming the file, the line and the field', () => {
    const bad = yaml.replace('- { result: { status: processing } }', '- { when: { order_number: A-1 } }');
    expect(() => parseCaseFile(bad, 'cases.yaml')).toThrow(expect.objectContaining({ problems: ['cases.yaml:5: field actions.order_status.1: needs a result, an error or a status'] }));
  });
});

describe(caseActionProblems.name, () => {
  const [acme] = parseAgents(
    `
agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: p
    contactAttributes: { order_number: The order number }
    actions:
      - name: order_status
        description: Look up one order.
        parameters: { type: object, properties: { order_number: { type: string } } }
        request: { url: "https://shop.example/api/orders/{order_number}" }
        response: { fields: [status] }
      - name: cancel_order
        description: Cancel one order.
        parameters: { type: object, properties: { order_number: { type: string } } }
        request: { method: POST, url: "https://shop.example/api/orders/{order_number}/cancel" }
        response: { fields: [status] }
        sideEffects: true
`,
    { S: '00' },
  );

  const problems = (yaml: string) => caseActionProblems(parseCaseFile(yaml, 'cases.yaml').cases[0], acme);

  it('finds nothing wrong with fixtures and expectations of actions the agent offers', () => {
    const yaml = `agent: acme
cases:
  - id: ok
    transcript: [{ contact: "where is A-12345?" }]
    actions: { order_status: { when: { order_number: A-12345 }, result: { status: shipped } } }
    expect: { action: reply, calls: [order_status], callArgs: { order_status: { order_number: A-12345 } } }
`;
    expect(problems(yaml)).toEqual([]);
  });

  it('names the file, line, case and field of an action the agent does not offer, or an argument it does not take', () => {
    const yaml = `agent: acme
cases:
  - id: bad
    transcript: [{ contact: "cancel A-12345 and where is it?" }]
    actions:
      order_statuz: { result: { status: shipped } }
      cancel_order: { result: { status: cancelled } }
      order_status: { when: { order: A-12345 }, result: { status: shipped } }
    expect:
      action: reply
      calls: [order_status, refund]
      callArgs: { order_status: { number: A-12345 } }
`;
    expect(problems(yaml)).toEqual([
      'cases.yaml:6: case "bad" field actions.order_statuz: agent "acme" has no action "order_statuz" (it has: order_status)',
      'cases.yaml:7: case "bad" field actions.cancel_order: action "cancel_order" has side effects and agent "acme" does not set allowSideEffects: it is never offered',
      'cases.yaml:8: case "bad" field actions.order_status: when.order is not a parameter of order_status (it takes: order_number)',
      'cases.yaml:11: case "bad" field expect.calls: agent "acme" has no action "refund" (it has: order_status)',
      'cases.yaml:12: case "bad" field expect.callArgs.order_status: number is not a parameter of order_status (it takes: order_number)',
    ]);
  });
});

describe(caseFileActionProblems.name, () => {
  const [acme] = parseAgents(
    `
agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: p
    actions:
      - name: order_status
        description: Look up one order.
        parameters: { type: object, properties: { order_number: { type: string } } }
        request: { url: "https://shop.example/api/orders/{order_number}" }
        response: { fields: [status] }
`,
    { S: '00' },
  );

  it("names a problem of the file's fixtures once, at its line, and a case's own at the case's", () => {
    const yaml = `agent: acme
actions:
  order_statuz: { result: { status: shipped } }
  order_status: [{ when: { order: A-12345 }, result: { status: shipped } }]
cases:
  - id: one
    transcript: [{ contact: "where is A-12345?" }]
    expect: { action: reply }
  - id: two
    transcript: [{ contact: "where is A-12345?" }]
    actions:
      order_status: { when: { number: A-12345 }, result: { status: shipped } }
    expect: { action: reply, calls: [order_statuz] }
`;
    expect(caseFileActionProblems(parseCaseFile(yaml, 'cases.yaml'), acme)).toEqual([
      'cases.yaml:3: field actions.order_statuz: agent "acme" has no action "order_statuz" (it has: order_status)',
      'cases.yaml:4: field actions.order_status: when.order is not a parameter of order_status (it takes: order_number)',
      'cases.yaml:12: case "two" field actions.order_status: when.number is not a parameter of order_status (it takes: order_number)',
      'cases.yaml:13: case "two" field expect.calls: agent "acme" has no action "order_statuz" (it has: order_status)',
    ]);
  });

  it('finds nothing wrong with a file whose fixtures are for actions the agent offers', () => {
    const yaml = `agent: acme
actions: { order_status: [{ when: { order_number: A-12345 }, result: { status: shipped } }, { error: "HTTP 404" }] }
cases:
  - id: one
    transcript: [{ contact: "where is A-12345?" }]
    expect: { action: reply, calls: [order_status], callArgs: { order_status: { order_number: A-12345 } } }
`;
    expect(caseFileActionProblems(parseCaseFile(yaml, 'cases.yaml'), acme)).toEqual([]);
  });
});

describe(argsInclude.name, () => {
  it('matches a partial set of arguments, values equal as JSON with key order ignored', () => {
    expect(argsInclude({ order_number: 'A-1', lang: 'fr' }, { order_number: 'A-1' })).toBe(true);
    expect(argsInclude({ order_number: 'A-1' }, { order_number: 'A-2' })).toBe(false);
    expect(argsInclude({ order_number: 'A-1' }, { lang: 'fr' })).toBe(false);
    expect(argsInclude({ filter: { b: 1, a: [1, 2] } }, { filter: { a: [1, 2], b: 1 } })).toBe(true);
    expect(argsInclude({}, { constructor: 'x' })).toBe(false);
  });

  it('keys a set of arguments the same whatever their order', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe(canonicalJson({ a: { c: 3, d: 2 }, b: 1 }));
  });
});
