import { parseAgents } from '../config/agents.loader.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { FakeShop } from '../../test/fakes/fake-shop.js';
import type { ActionCallRequest } from './action.port.js';
import { callLine, directActionPort, NOT_MADE_HERE, type DirectCall } from './direct.port.js';

const TOKEN = 'shop-token-9f8e7d';

function agentFor(shop: string): AgentConfig {
  const [agent] = parseAgents(
    `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Be kind.
    contactAttributes: { order_number: The order number }
    allowSideEffects: true
    actions:
      - name: order_status
        description: Look up one order.
        parameters: { type: object, required: [order_number], properties: { order_number: { type: string } } }
        request:
          url: ${shop}/api/orders/{order_number}
          headers: { Authorization: "Bearer \${SHOP_API_TOKEN}" }
        response: { fields: [status, carrier, eta] }
      - name: cancel_order
        description: Cancel one order.
        parameters: { type: object, required: [order_number], properties: { order_number: { type: string } } }
        request:
          method: POST
          url: ${shop}/api/orders/{order_number}/cancel
          headers: { Authorization: "Bearer \${SHOP_API_TOKEN}" }
        response: { fields: [status] }
        sideEffects: true
`,
    { S: 'aa', SHOP_API_TOKEN: TOKEN },
  );
  return agent;
}

describe(directActionPort.name, () => {
  const shop = new FakeShop(TOKEN);
  let agent: AgentConfig;
  let seen: DirectCall[];

  beforeAll(async () => {
    agent = agentFor(await shop.start());
  });
  afterAll(() => shop.stop());
  beforeEach(() => {
    seen = [];
    shop.requests.length = 0;
    shop.hang.clear();
    shop.orders.get('A-12345')!.status = 'in transit';
  });

  const request = (name: string, args: Record<string, unknown> | null, o: Partial<ActionCallRequest> = {}): ActionCallRequest => ({
    action: agent.actions.find((a) => a.name === name)!,
    args,
    rawArguments: JSON.stringify(args),
    refused: null,
    deadline: Date.now() + 3000,
    ...o,
  });

  it('makes a lookup for real, with the secret from the agent, and keeps only the listed fields', async () => {
    const sut = directActionPort({ onCall: (c) => seen.push(c) });

    const outcome = await sut.call(agent, request('order_status', { order_number: 'A-12345' }));

    expect(outcome).toMatchObject({ status: 'ok', httpStatus: 200, error: null, result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } });
    expect(shop.to('/api/orders/A-12345', 'GET')).toEqual([expect.objectContaining({ headers: expect.objectContaining({ authorization: `Bearer ${TOKEN}` }) })]);
    expect(seen).toEqual([{ name: 'order_status', args: { order_number: 'A-12345' }, rawArguments: '{"order_number":"A-12345"}', outcome }]);
  });

  it('reports an HTTP error and a timeout as what they are', async () => {
    const sut = directActionPort({ onCall: (c) => seen.push(c) });
    shop.hang.add('/api/orders/A-20001');

    const missing = await sut.call(agent, request('order_status', { order_number: 'A-99999' }));
    const slow = await sut.call(agent, request('order_status', { order_number: 'A-20001' }, { deadline: Date.now() + 200 }));

    expect(missing).toMatchObject({ status: 'http_error', httpStatus: 404, result: null, error: 'HTTP 404 (order not found)' });
    expect(slow).toMatchObject({ status: 'timeout', httpStatus: null, result: null, error: expect.stringMatching(/^no answer within \d+ ms$/) });
    expect(seen.map((c) => c.outcome.status)).toEqual(['http_error', 'timeout']);
  });

  it('reads header secrets from the environment it is given, and refuses without a request when one is missing', async () => {
    const sut = directActionPort({ env: {}, onCall: (c) => seen.push(c) });

    const outcome = await sut.call(agent, request('order_status', { order_number: 'A-12345' }));

    expect(outcome).toMatchObject({ status: 'refused', httpStatus: null, error: 'environment variable SHOP_API_TOKEN is not set' });
    expect(shop.requests).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('never makes a side-effect call: it answers skipped and says the method and URL it would have used', async () => {
    const sut = directActionPort({ onCall: (c) => seen.push(c) });

    const outcome = await sut.call(agent, request('cancel_order', { order_number: 'A-12345' }));

    expect(outcome).toEqual({ status: 'skipped', httpStatus: null, result: null, error: NOT_MADE_HERE, latencyMs: 0, resultBytes: 0 });
    expect(shop.requests).toEqual([]);
    expect(shop.orders.get('A-12345')!.status).toBe('in transit');
    expect(seen).toEqual([expect.objectContaining({ name: 'cancel_order', wouldSend: { method: 'POST', url: `${shop.url}/api/orders/A-12345/cancel` } })]);
    expect(JSON.stringify(seen)).not.toContain(TOKEN);
  });

  it('passes on a call the engine refused, with what the model sent, and makes no request', async () => {
    const sut = directActionPort({ onCall: (c) => seen.push(c) });

    const outcome = await sut.call(agent, request('order_status', null, { rawArguments: '{"order_number":42}', refused: 'invalid arguments: order_number must be string' }));

    expect(outcome).toMatchObject({ status: 'refused', error: 'invalid arguments: order_number must be string' });
    expect(shop.requests).toEqual([]);
    expect(seen).toEqual([expect.objectContaining({ args: null, rawArguments: '{"order_number":42}' })]);
  });
});

describe(callLine.name, () => {
  const base = { name: 'order_status', args: { order_number: 'A-12345' }, httpStatus: null, latencyMs: 0, result: null, error: null };

  it('shows a result with its HTTP status and time', () => {
    expect(callLine({ ...base, status: 'ok', httpStatus: 200, latencyMs: 4, result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } })).toBe(
      'order_status(order_number=A-12345) → 200 in 4 ms: status=in transit, carrier=DHL, eta=Thursday',
    );
  });

  it('shows a failure with its status and error', () => {
    expect(callLine({ ...base, status: 'http_error', httpStatus: 404, latencyMs: 3, error: 'HTTP 404 (order not found)' })).toBe(
      'order_status(order_number=A-12345) → http_error 404 in 3 ms: HTTP 404 (order not found)',
    );
    expect(callLine({ ...base, status: 'timeout', latencyMs: 3001, error: 'no answer within 3000 ms' })).toBe('order_status(order_number=A-12345) → timeout in 3001 ms: no answer within 3000 ms');
  });

  it('shows a call that was not made, with why and, for a side effect, what it would have sent', () => {
    expect(callLine({ ...base, args: null, rawArguments: '{"order_number": 42}', status: 'refused', error: 'invalid arguments: order_number must be string' })).toBe(
      'order_status({"order_number": 42}) → refused: invalid arguments: order_number must be string',
    );
    expect(callLine({ ...base, name: 'cancel_order', status: 'skipped', error: NOT_MADE_HERE, wouldSend: { method: 'POST', url: 'https://shop.example/api/orders/A-12345/cancel' } })).toBe(
      'cancel_order(order_number=A-12345) → skipped: not made in the playground; would send POST https://shop.example/api/orders/A-12345/cancel',
    );
  });
});
