import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm, toolResults } from './fakes/fake-llm.js';
import { FakeShop, orderStatusAction } from './fakes/fake-shop.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { TRIAGE_SECRET, startBridge, testEnv, waitFor, type TestBridge } from './support/bridge.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const SHOP_TOKEN = 'shop-token-9f8e7d';

/** An Inception agent with a lookup, a side-effect action, and a hostile-input probe (a free-text placeholder). */
function agents(shop: string, o: { virtualAgent?: string; margin?: string; maxActionCalls?: number; timeout?: string } = {}): string {
  return `
agents:
  - id: acme
    name: Acme Support
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    topics: [Shipping]
    contactAttributes:
      order_number: The order number, like A-12345
    timeouts: { turnDebounce: 100ms, virtualAgent: ${o.virtualAgent ?? '1m'}, virtualAgentMargin: ${o.margin ?? '10s'} }
    limits: { maxActionCalls: ${o.maxActionCalls ?? 3} }
    messages:
      error: Sorry, I am stuck. A colleague will take over.
    allowSideEffects: true
    actions:
${orderStatusAction(shop, { timeout: o.timeout })}      - name: find_order
        description: Look up an order by any reference the contact gives.
        parameters:
          type: object
          required: [ref]
          properties: { ref: { type: string, maxLength: 200 } }
        request:
          url: ${shop}/api/orders/{ref}
          headers: { Authorization: "Bearer \${SHOP_API_TOKEN}" }
        response: { fields: [status] }
      - name: cancel_order
        description: Cancel one order that has not shipped.
        parameters:
          type: object
          required: [order_number]
          properties: { order_number: { type: string, pattern: "^A-[0-9]{5}$" } }
        request:
          method: POST
          url: ${shop}/api/orders/{order_number}/cancel
          headers: { Authorization: "Bearer \${SHOP_API_TOKEN}" }
          timeout: 20s
        response: { fields: [status, refund] }
        requires: [order_number]
        sideEffects: true
`;
}


describe('agent actions', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  const shop = new FakeShop(SHOP_TOKEN);
  let bridge: TestBridge | undefined;
  let db: TestDatabase;
  let child: ChildProcess | undefined;
  let sender: WebhookSender;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start(), shop.start()]);
  });
  beforeEach(async () => {
    llm.reset();
    inbox.reset();
    shop.requests.length = 0;
    shop.hang.clear();
    shop.echoAuthorization = false;
    db = await createTestDatabase();
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await bridge?.close();
    bridge = undefined;
    await db.drop();
  });
  afterAll(() => Promise.all([inbox.stop(), llm.stop(), shop.stop()]));

  async function start(o: Parameters<typeof agents>[1] = {}, env: Record<string, string> = {}): Promise<TestBridge> {
    bridge = await startBridge({ agents: agents(shop.url, o), inbox, llm, database: db, env: { SHOP_API_TOKEN: SHOP_TOKEN, OPENAI_MAX_RETRIES: '0', ...env } });
    sender = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    return bridge;
  }

  async function conversation(text: string): Promise<string> {
    const id = `act-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    await sender.startConversation(id);
    await sender.contactSays(id, text);
    return id;
  }

  const calls = () => db.query<{ action: string; status: string; arguments: unknown; http_status: number | null; decision_id: string | null; result: unknown; error: string | null; url: string | null }>(`SELECT * FROM action_calls ORDER BY id`);

  it('answers "where is my order?" from the shop API, with only the listed fields, on the record', async () => {
    await start();
    llm.script({ toolCalls: [{ name: 'order_status', arguments: { order_number: 'A-12345' } }] });
    llm.respondWith((req) => {
      const [result] = toolResults(req);
      return { decision: { message: `Your order is ${result.result?.status} with ${result.result?.carrier}, arriving ${result.result?.eta}.`, sources: [result.id], factual: true, contactAttributes: [{ name: 'order_number', value: 'A-12345' }] } };
    });
    const id = await conversation('Where is my order A-12345?');
    await waitFor('the answer', () => inbox.messagesSent(id).length > 0);
    expect(inbox.messagesSent(id)).toEqual(['Your order is in transit with DHL, arriving Thursday.']);

    const [request] = shop.to('/api/orders/A-12345', 'GET');
    expect(request.headers.authorization).toBe(`Bearer ${SHOP_TOKEN}`);
    // The first request offered the tools; the second carried the trimmed result back, and nothing else of the order.
    expect(llm.requests[0].tools?.map((t) => t.function.name)).toEqual(['order_status', 'find_order', 'cancel_order']);
    expect(toolResults(llm.requests[1])).toEqual([{ id: 'act-1', ok: true, result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } }]);
    const prompt = JSON.stringify(llm.requests);
    for (const hidden of ['jane@example.com', 'margin 12%', SHOP_TOKEN]) expect(prompt).not.toContain(hidden);

    const [row] = await calls();
    expect(row).toMatchObject({ action: 'order_status', status: 'ok', http_status: 200, arguments: { order_number: 'A-12345' }, result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } });
    const [decision] = await db.query<{ id: string; sources: Array<{ id: string; uri: string }> }>(`SELECT id, sources FROM decisions`);
    expect(row.decision_id).toBe(decision.id);
    expect(decision.sources).toEqual([expect.objectContaining({ id: 'act-1', uri: 'action:order_status' })]);
    const metrics = await (await fetch(`${bridge!.url}/metrics`)).text();
    expect(metrics).toMatch(/iva_action_calls_total\{agent="acme",action="order_status",result="ok"\} 1/);
    expect(metrics).toMatch(/iva_action_latency_seconds_count\{agent="acme",action="order_status"\} 1/);
  });

  it('refuses arguments that fail the schema, or that the contact never gave, without a request', async () => {
    await start();
    llm.script(
      { toolCalls: [{ name: 'order_status', arguments: { order_number: '../admin' } }, { name: 'order_status', arguments: { order_number: 'A-99999' } }, { name: 'order_status', arguments: '{not json' }] },
      { decision: { action: 'handover', message: '', reason: 'could not look it up', handoverNote: 'Lookups refused' } },
    );
    const id = await conversation('Where is my order A-12345?');
    await waitFor('the handover', () => inbox.calls(id).some((c) => (c.body as { complete?: string }).complete === 'HANDOVER'));
    expect(shop.requests).toHaveLength(0);
    const results = toolResults(llm.requests[1]);
    expect(results.map((r) => r.ok)).toEqual([false, false, false]);
    expect(results[0].error).toMatch(/invalid arguments: .*order_number.*pattern/);
    // A-99999 is well formed, but the contact wrote A-12345: the model may not look up another order.
    expect(results[1].error).toMatch(/order_number: the value is not one the contact gave/);
    expect(results[2].error).toMatch(/not valid JSON/);
    expect((await calls()).map((c) => c.status)).toEqual(['refused', 'refused', 'refused']);
  });

  it('never lets a placeholder change the host or the path', async () => {
    const hostile = ['../admin', '..', '%2F..%2Fadmin', 'x@evil.example', 'a/b', 'evil.example#', '?debug=1', '\\\\evil', '.%2e'];
    llm.script({ toolCalls: hostile.map((ref) => ({ name: 'find_order', arguments: { ref } })) }, { decision: { action: 'handover', message: '', reason: 'nothing found' } });
    await start({ maxActionCalls: 10 });
    const id = await conversation(`My reference is one of: ${hostile.join(' ')}`);
    await waitFor('the handover', () => inbox.calls(id).some((c) => (c.body as { complete?: string }).complete === 'HANDOVER'));
    // Every request that was made stayed on the shop's origin, under /api/orders/, as one path segment.
    for (const r of shop.requests) expect(r.path).toMatch(/^\/api\/orders\/[^/]+$/);
    const rows = await calls();
    expect(rows).toHaveLength(hostile.length);
    for (const row of rows.filter((r) => r.url)) {
      const url = new URL(row.url!);
      expect(url.origin).toBe(shop.url);
      expect(url.pathname).toMatch(/^\/api\/orders\/[^/]+$/);
    }
    // The dot segments were refused outright: URL normalisation would have climbed out of /api/orders/.
    const refusedRefs = rows.filter((r) => r.status === 'refused').map((r) => (r.arguments as { ref: string }).ref);
    expect(refusedRefs).toEqual(expect.arrayContaining(['..', '.%2e']));
  });

  it('ends a hanging call within the turn deadline and hands over with a note that says what was tried', async () => {
    shop.hang.add('*');
    await start({ virtualAgent: '6s', margin: '1s', timeout: '30s' });
    llm.script({ toolCalls: [{ name: 'order_status', arguments: { order_number: 'A-12345' } }] });
    // After the lookup failed, a slow model runs past what is left of the turn.
    llm.respondWith(() => ({ delayMs: 10_000, decision: { message: 'too late' } }));
    const id = await conversation('Where is my order A-12345?');
    const [conv] = (await waitFor('the conversation', () => db.query<{ va_deadline_at: Date }>(`SELECT va_deadline_at FROM conversations WHERE inbox_conversation_id = $1`, [id]).then((r) => (r[0]?.va_deadline_at ? r : undefined))))!;
    const handover = (await waitFor('the handover', () => inbox.calls(id).find((c) => (c.body as { complete?: string }).complete === 'HANDOVER'), 15_000))!;
    expect(handover.at).toBeLessThan(conv.va_deadline_at.getTime());
    expect(inbox.messagesSent(id)).toEqual(['Sorry, I am stuck. A colleague will take over.']);
    const note = JSON.stringify(handover.body);
    expect(note).toMatch(/Looked up: order_status\(order_number=A-12345\) failed: .*no answer/);
    const [row] = await calls();
    expect(row.status).toBe('timeout');
  });

  it('holds the call limit when the model keeps asking, then hands over', async () => {
    await start({ maxActionCalls: 2 });
    llm.respondWith(() => ({ toolCalls: [{ name: 'order_status', arguments: { order_number: 'A-12345' } }] }));
    const id = await conversation('Where is my order A-12345?');
    const handover = (await waitFor('the handover', () => inbox.calls(id).find((c) => (c.body as { complete?: string }).complete === 'HANDOVER')))!;
    expect(shop.to('/api/orders/A-12345')).toHaveLength(2);
    expect(llm.requests.slice(0, 2).map((r) => r.tool_choice)).toEqual(['auto', 'auto']);
    expect(llm.requests.slice(2).map((r) => r.tool_choice)).toEqual(['none', 'none']);
    expect(JSON.stringify(handover.body)).toMatch(/more calls than the limit of 2/);
  });

  it('makes a call asked twice in one reply once, and never records calls past the limit', async () => {
    await start({ maxActionCalls: 2 });
    const same = { name: 'order_status', arguments: { order_number: 'A-12345' } };
    llm.script(
      { toolCalls: [same, { name: 'order_status', arguments: { order_number: 'A-12345' } }, ...Array.from({ length: 30 }, (_, i) => ({ name: 'find_order', arguments: { ref: i === 0 ? 'A-20001' : `R-${i}` } }))] },
      { decision: { action: 'handover', message: '', reason: 'enough' } },
    );
    const id = await conversation('Where is my order A-12345? Or A-20001?');
    await waitFor('the handover', () => inbox.calls(id).some((c) => (c.body as { complete?: string }).complete === 'HANDOVER'));
    expect(shop.to('/api/orders/A-12345')).toHaveLength(1);
    expect(shop.to('/api/orders/A-20001')).toHaveLength(1);
    // Two calls made (the duplicate shared the first one's result); the other 29 answered "limit reached", unrecorded.
    expect((await calls()).map((c) => c.action)).toEqual(['order_status', 'find_order']);
    const results = toolResults(llm.requests[1]);
    expect(results).toHaveLength(32);
    expect(results[0]).toEqual(results[1]);
    expect(results.filter((r) => /limit of 2 calls/.test(r.error ?? ''))).toHaveLength(29);
  });

  describe('side effects', () => {
    async function worker(env: Record<string, string>): Promise<{ output: () => string }> {
      const main = 'dist/src/main.js';
      if (!existsSync(main)) throw new Error(`${main} is missing: npm test builds it first`);
      const dir = mkdtempSync(join(tmpdir(), 'iva-act-'));
      writeFileSync(join(dir, 'agents.yaml'), agents(shop.url));
      let output = '';
      child = spawn(process.execPath, [main], {
        env: { PATH: process.env.PATH, ...testEnv({ ...env, ROLE: 'worker', PORT: '0', DATABASE_URL: db.url, AGENTS_FILE: join(dir, 'agents.yaml'), ...inbox.env(), OPENAI_BASE_URL: llm.url, SHOP_API_TOKEN: SHOP_TOKEN }) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (c) => (output += c));
      child.stderr!.on('data', (c) => (output += c));
      return { output: () => output };
    }

    const shared = (prefix: string) => ({ REDIS_PREFIX: prefix, OPENAI_MAX_RETRIES: '0', OPENAI_TIMEOUT: '40s', WORKER_LOCK_DURATION: '1s', TURN_LEASE: '2s' });
    const cancel = { toolCalls: [{ name: 'cancel_order', arguments: { order_number: 'A-20001' } }] };

    it('never repeats a call whose outcome a killed worker never recorded, and hands the conversation to a person', async () => {
      const prefix = `iva-act-kill-${Date.now()}`;
      await start({}, { ...shared(prefix), ROLE: 'web' });
      await worker(shared(prefix));
      shop.hang.add('/api/orders/A-20001/cancel');
      llm.respondWith((req) => (toolResults(req).length ? { decision: { message: 'Done, it is cancelled.', sources: [toolResults(req)[0].id], factual: true } } : cancel));
      const id = await conversation('Please cancel my order A-20001');
      await waitFor('the cancel request at the shop', () => shop.to('/api/orders/A-20001/cancel').length === 1, 20_000);
      child!.kill('SIGKILL');
      shop.hang.clear();

      // A new worker takes the turn over; the model asks for the same cancellation again.
      const second = await startBridge({ agents: agents(shop.url), inbox, llm, database: db, env: { SHOP_API_TOKEN: SHOP_TOKEN, ...shared(prefix), ROLE: 'worker' } });
      try {
        const handover = (await waitFor('the handover', () => inbox.calls(id).find((c) => (c.body as { complete?: string }).complete === 'HANDOVER'), 20_000))!;
        expect(shop.to('/api/orders/A-20001/cancel')).toHaveLength(1);
        expect(JSON.stringify(handover.body)).toMatch(/outcome of cancel_order is unknown/);
        expect(inbox.messagesSent(id)).not.toContain('Done, it is cancelled.');
      } finally {
        await second.close();
      }
    });

    it('reuses a recorded outcome after a crash instead of calling again, and keeps the token out of logs, rows and prompts', async () => {
      const prefix = `iva-act-reuse-${Date.now()}`;
      shop.echoAuthorization = true; // a careless API that echoes the caller's token in a listed field
      await start({}, { ...shared(prefix), ROLE: 'web' });
      const dead = await worker({ ...shared(prefix), LOG_LEVEL: 'debug' });
      let answered = 0;
      llm.respondWith((req) => {
        if (!toolResults(req).length) return cancel;
        // The first worker dies while the model writes its answer; the second one gets it.
        return answered++ === 0 ? { delayMs: 30_000, decision: { message: 'never sent' } } : { decision: { message: 'Your order A-20001 is cancelled.', sources: [toolResults(req)[0].id], factual: true } };
      });
      const id = await conversation('Please cancel my order A-20001');
      await waitFor('the model to get the result', () => llm.requests.some((r) => toolResults(r).length > 0), 20_000);
      child!.kill('SIGKILL');

      const second = await startBridge({ agents: agents(shop.url), inbox, llm, database: db, env: { SHOP_API_TOKEN: SHOP_TOKEN, ...shared(prefix), ROLE: 'worker' } });
      try {
        await waitFor('the answer', () => inbox.messagesSent(id).length > 0, 20_000);
        expect(inbox.messagesSent(id)).toEqual(['Your order A-20001 is cancelled.']);
        expect(shop.to('/api/orders/A-20001/cancel')).toHaveLength(1);
        const results = llm.requests.flatMap(toolResults);
        expect(results.every((r) => r.ok)).toBe(true);
        expect(JSON.stringify(results)).toContain('[redacted]');
        // The echoed token went nowhere: not to the model, not to the logs, not to any table.
        expect(JSON.stringify(llm.requests)).not.toContain(SHOP_TOKEN);
        expect(dead.output()).toContain('action call made');
        expect(dead.output()).not.toContain(SHOP_TOKEN);
        const tables = await db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
        expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['action_calls', 'decisions', 'conversations', 'session_outcomes']));
        for (const { table_name } of tables) {
          const [{ dump }] = await db.query<{ dump: string }>(`SELECT coalesce(string_agg(t::text, ' '), '') AS dump FROM "${table_name}" t`);
          expect(dump).not.toContain(SHOP_TOKEN);
        }
      } finally {
        await second.close();
      }
    });
  });
});
