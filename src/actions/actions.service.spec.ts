import type { AgentConfig } from '../config/agents.schema.js';
import type { MetricsService } from '../metrics/metrics.service.js';
import type { ActionCallRepository, ActionCallRow } from './action-calls.repository.js';
import { ActionSchema } from './action.schema.js';
import { ActionsService } from './actions.service.js';

const cancel = ActionSchema.parse({
  name: 'cancel_order',
  description: 'Cancel an order.',
  parameters: { type: 'object', required: ['order_number'], properties: { order_number: { type: 'string' }, reason: { type: 'string' } } },
  request: { method: 'POST', url: 'http://127.0.0.1:9/api/orders/{order_number}/cancel' },
  response: { fields: ['status'] },
  requires: ['order_number'],
  sideEffects: true,
});
const agent = { id: 'acme', actions: [cancel], allowSideEffects: true, actionEnv: {} } as unknown as AgentConfig;
const metrics = { actionCalls: { inc: () => undefined }, actionLatency: { observe: () => undefined } } as unknown as MetricsService;

/** The repository's contract, in memory: a second start with the same idempotency key returns the first row. */
function memoryCalls(earlier: Partial<ActionCallRow>) {
  const keys = new Map<string, ActionCallRow>();
  const started: Array<{ key: string | null }> = [];
  const repo = {
    start: async (c: { idempotencyKey: string | null; action: string; args: Record<string, unknown> | null }) => {
      started.push({ key: c.idempotencyKey });
      const row = c.idempotencyKey ? keys.get(c.idempotencyKey) : undefined;
      if (row) return { id: row.id, earlier: row };
      const fresh: ActionCallRow = { id: String(started.length), action: c.action, arguments: c.args, status: 'started', http_status: null, latency_ms: null, result: null, result_bytes: 0, error: null, ...earlier };
      if (c.idempotencyKey) keys.set(c.idempotencyKey, fresh);
      return { id: fresh.id };
    },
    finish: async () => undefined,
    link: async () => undefined,
  };
  return { repo: repo as unknown as ActionCallRepository, started };
}

const turn = { conversationId: 'c1', session: 1, turnKey: '7' };
const request = (args: Record<string, unknown>) => ({ action: cancel, args, rawArguments: JSON.stringify(args), refused: null, deadline: Date.now() + 5000 });

describe('ActionsService (the live port)', () => {
  it('reports a side-effect call an earlier attempt recorded as timed out as unknown, without calling again', async () => {
    const { repo, started } = memoryCalls({ status: 'timeout', error: 'no answer within 3000 ms' });
    const sut = new ActionsService(repo, metrics).forTurn(turn);
    await sut.call(agent, request({ order_number: 'A-1' })); // the first attempt: 127.0.0.1:9 refuses, but its row says timeout
    const again = await sut.call(agent, request({ order_number: 'A-1' }));
    expect(again.status).toBe('unknown');
    expect(started).toHaveLength(2);
  });

  it('keys a side effect on the arguments that identify it: a reworded free-text argument is the same call', async () => {
    const { repo, started } = memoryCalls({ status: 'ok', result: { status: 'cancelled' } });
    const sut = new ActionsService(repo, metrics).forTurn(turn);
    await sut.call(agent, request({ order_number: 'A-1', reason: 'changed my mind' }));
    const again = await sut.call(agent, request({ order_number: 'A-1', reason: 'I changed my mind' }));
    expect(started[0].key).toBe(started[1].key);
    expect(again).toMatchObject({ status: 'ok', result: { status: 'cancelled' } });
    await sut.call(agent, request({ order_number: 'A-2', reason: 'changed my mind' }));
    expect(started[2].key).not.toBe(started[0].key);
  });

  it('refuses, without a request, a call with too little time left or once the worker lost the conversation', async () => {
    const { repo } = memoryCalls({});
    const late = await new ActionsService(repo, metrics).forTurn(turn).call(agent, { ...request({ order_number: 'A-1' }), deadline: Date.now() + 20 });
    expect(late).toMatchObject({ status: 'refused', error: expect.stringMatching(/too little time/) });
    const lost = await new ActionsService(repo, metrics).forTurn({ ...turn, stillOwned: async () => false }).call(agent, request({ order_number: 'A-1' }));
    expect(lost).toMatchObject({ status: 'refused', error: expect.stringMatching(/no longer owns/) });
  });
});
