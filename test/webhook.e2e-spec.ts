import { envelope, signedBody } from './fakes/signing.js';
import { HELPER_SECRET, TRIAGE_SECRET, startBridge, type TestBridge } from './support/bridge.js';

const started = (conversationId: string) =>
  envelope('CONVERSATION_STARTED', {
    conversationId,
    medium: { id: 'fb' },
    channel: { id: '0-02534c5ac04-000-261ad914', name: 'Support' },
    language: 'en',
    contactProfile: { id: 'p-1', primaryIdentifier: 'John Smith', vip: true, newProfileField: 'kept' },
    contactAttributes: [{ attribute: 'email', value: 'john@example.com', source: 'CRM_CONFIRMED' }],
  });

const inbound = (conversationId: string, messageId: string, text?: string) =>
  envelope('INBOUND_MESSAGE_RECEIVED', {
    conversationId,
    message: { messageId, ...(text === undefined ? {} : { text }) },
    trigger: null,
    conversationTopics: ['Topic 1'],
    channel: { id: 'ch', name: 'Support' },
    contactProfile: { id: 'p-1', primaryIdentifier: 'John Smith' },
    medium: { id: 'facebook' },
  });

describe('POST /webhooks/:agentId', () => {
  let bridge: TestBridge;

  beforeAll(async () => {
    bridge = await startBridge({ env: { WEBHOOK_BODY_LIMIT: '4kb' } });
  });
  afterAll(() => bridge.close());

  async function post(event: unknown, opts: { agent?: string; secret?: string; signature?: string | null; spacing?: number } = {}) {
    const { body, signature } = signedBody(opts.secret ?? TRIAGE_SECRET, event, opts.spacing);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.signature !== null) headers['x-hootsuite-signature'] = opts.signature ?? signature;
    const res = await fetch(`${bridge.url}/webhooks/${opts.agent ?? 'acme'}`, { method: 'POST', headers, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const eventsWithKey = async (key: string) =>
    bridge.db.query('SELECT * FROM webhook_events WHERE idempotency_key = $1', [key]);

  it('answers 404 for an agent that is not configured', async () => {
    expect((await post(started('c-404'), { agent: 'nobody' })).status).toBe(404);
  });

  it('answers 401 when the signature is missing', async () => {
    const event = started('c-nosig');
    const res = await post(event, { signature: null });
    expect(res).toMatchObject({ status: 401, body: { message: expect.stringMatching(/missing/) } });
    expect(await eventsWithKey(event.idempotencyKey)).toHaveLength(0);
  });

  it('answers 401 when the signature was made with another secret', async () => {
    expect((await post(started('c-othersecret'), { secret: HELPER_SECRET })).status).toBe(401);
  });

  it('answers 401 when the signature is not hex or of the wrong length', async () => {
    expect((await post(started('c-badsig'), { signature: 'zz' })).status).toBe(401);
    expect((await post(started('c-badsig'), { signature: 'ab'.repeat(33) })).status).toBe(401);
  });

  it('answers 401 for a timestamp older than WEBHOOK_MAX_AGE, and as far in the future', async () => {
    const old = started('c-old');
    old.timestamp = new Date(Date.now() - 6 * 60_000).toISOString();
    expect(await post(old)).toMatchObject({ status: 401, body: { message: expect.stringMatching(/window/) } });
    const future = started('c-future');
    future.timestamp = new Date(Date.now() + 6 * 60_000).toISOString();
    expect((await post(future)).status).toBe(401);
  });

  it('answers 413 for a body over WEBHOOK_BODY_LIMIT', async () => {
    const big = inbound('c-big', 'm-big', 'x'.repeat(5000));
    expect((await post(big)).status).toBe(413);
  });

  it('answers 400 for a signed body that is not JSON', async () => {
    expect(await post('{"not json')).toMatchObject({ status: 400, body: { message: 'body is not valid JSON' } });
  });

  it('answers 400 for an envelope without idempotencyKey', async () => {
    const { idempotencyKey: _, ...rest } = started('c-nokey');
    expect((await post(rest)).status).toBe(400);
  });

  it('answers 400 when a known type has data that fails its schema', async () => {
    const event = envelope('INBOUND_MESSAGE_RECEIVED', { message: { text: 'no conversation id' } });
    const res = await post(event);
    expect(res).toMatchObject({ status: 400, body: { message: expect.stringMatching(/conversationId/) } });
    expect(await eventsWithKey(event.idempotencyKey)).toHaveLength(0);
  });

  it('answers 200 {} to an unknown type, stores it and does nothing else', async () => {
    const event = envelope('CONVERSATION_TELEPORTED', { conversationId: 'c-unknown', whatever: 1 });
    expect(await post(event)).toEqual({ status: 200, body: {} });
    expect(await eventsWithKey(event.idempotencyKey)).toEqual([expect.objectContaining({ type: 'CONVERSATION_TELEPORTED' })]);
    expect(await bridge.db.query(`SELECT 1 FROM conversations WHERE inbox_conversation_id = 'c-unknown'`)).toHaveLength(0);
  });

  it('verifies the signature over the bytes exactly as sent (spaced like Python json.dumps)', async () => {
    const event = started('c-spaced');
    const spaced = JSON.stringify(event).replace(/":/g, '": ').replace(/,"/g, ', "');
    expect(await post(spaced)).toEqual({ status: 200, body: {} });
    expect(await post(started('c-indented'), { spacing: 2 })).toEqual({ status: 200, body: {} });
  });

  it('opens a conversation from CONVERSATION_STARTED with profile, attributes and language, keeping unknown fields', async () => {
    const event = started('c-open');
    expect(await post(event)).toEqual({ status: 200, body: {} });
    const [conversation] = await bridge.db.query(`SELECT * FROM conversations WHERE inbox_conversation_id = 'c-open'`);
    expect(conversation).toMatchObject({
      agent_id: 'acme',
      mode: 'inception',
      state: 'active',
      session: 1,
      language: 'en',
      contact_profile: expect.objectContaining({ primaryIdentifier: 'John Smith', newProfileField: 'kept' }),
      contact_attributes: [{ attribute: 'email', value: 'john@example.com', source: 'CRM_CONFIRMED' }],
      medium: { id: 'fb' },
    });
    const [stored] = await eventsWithKey(event.idempotencyKey);
    expect(stored.payload).toEqual(event);
  });

  it('stores an inbound message, one with no text, and the minimal Sparkcentral sample payload', async () => {
    await post(started('c-msg'));
    expect((await post(inbound('c-msg', 'm-1', 'Hello'))).status).toBe(200);
    const button = inbound('c-msg', 'm-2');
    (button.data as { message: Record<string, string> }).message.payload = 'BUTTON_YES';
    expect((await post(button)).status).toBe(200);
    expect((await post(envelope('INBOUND_MESSAGE_RECEIVED', { conversationId: 'c-minimal', message: { text: 'Hi' } }))).status).toBe(200);

    const rows = await bridge.db.query(
      `SELECT c.inbox_conversation_id, m.direction, m.text, m.payload, m.inbox_message_id, m.session
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE c.inbox_conversation_id IN ('c-msg', 'c-minimal') ORDER BY m.id`,
    );
    expect(rows).toEqual([
      { inbox_conversation_id: 'c-msg', direction: 'inbound', text: 'Hello', payload: null, inbox_message_id: 'm-1', session: 1 },
      { inbox_conversation_id: 'c-msg', direction: 'inbound', text: null, payload: 'BUTTON_YES', inbox_message_id: 'm-2', session: 1 },
      { inbox_conversation_id: 'c-minimal', direction: 'inbound', text: 'Hi', payload: null, inbox_message_id: null, session: 1 },
    ]);
  });

  it('keeps an inbound message that arrived before its CONVERSATION_STARTED in the same session', async () => {
    await post(inbound('c-early', 'm-early', 'first!'));
    await post(started('c-early'));
    const rows = await bridge.db.query(
      `SELECT c.session AS conversation_session, m.session AS message_session, c.contact_attributes
         FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.inbox_conversation_id = 'c-early'`,
    );
    expect(rows).toEqual([expect.objectContaining({ conversation_session: 1, message_session: 1 })]);
  });

  it('records 50 concurrent redeliveries of one event once: one event, one message', async () => {
    await post(started('c-burst'));
    const event = inbound('c-burst', 'm-burst', 'are you there?');
    const { body, signature } = signedBody(TRIAGE_SECRET, event);
    const statuses = await Promise.all(
      Array.from({ length: 50 }, () =>
        fetch(`${bridge.url}/webhooks/acme`, { method: 'POST', headers: { 'x-hootsuite-signature': signature }, body }).then(
          async (r) => [r.status, await r.text()],
        ),
      ),
    );
    expect(new Set(statuses.map(String))).toEqual(new Set(['200,{}']));
    expect(await eventsWithKey(event.idempotencyKey)).toHaveLength(1);
    const messages = await bridge.db.query(`SELECT 1 FROM messages WHERE inbox_message_id = 'm-burst'`);
    expect(messages).toHaveLength(1);
  });

  it('enqueues a debounced turn job in Redis for an inbound message', async () => {
    await post(started('c-job'));
    await post(inbound('c-job', 'm-job', 'hi'));
    const [conversation] = await bridge.db.query<{ id: string }>(`SELECT id FROM conversations WHERE inbox_conversation_id = 'c-job'`);
    const jobs = await bridge.queue('turns').getJobs(['delayed', 'waiting', 'active']);
    const job = jobs.find((j) => j.data.conversationId === conversation.id);
    expect(job).toBeDefined();
    expect(job!.name).toBe('turn');
    expect(job!.opts.delay).toBe(200);
  });

  it('enqueues an immediate turn when a conversation is delegated', async () => {
    const event = envelope('CONVERSATION_DELEGATED', { conversationId: 'c-deleg', language: 'fr' });
    expect((await post(event, { agent: 'helper', secret: HELPER_SECRET })).status).toBe(200);
    const [conversation] = await bridge.db.query<{ id: string; mode: string }>(
      `SELECT id, mode FROM conversations WHERE inbox_conversation_id = 'c-deleg'`,
    );
    expect(conversation.mode).toBe('delegation');
    const jobs = await bridge.queue('turns').getJobs(['delayed', 'waiting', 'active']);
    expect(jobs.find((j) => j.data.conversationId === conversation.id)?.opts.delay).toBe(0);
  });

  it('starts a new session when a resolved conversation is started again', async () => {
    await post(started('c-again'));
    await bridge.db.query(`UPDATE conversations SET state = 'resolved' WHERE inbox_conversation_id = 'c-again'`);
    await post(started('c-again'));
    const [row] = await bridge.db.query(`SELECT state, session FROM conversations WHERE inbox_conversation_id = 'c-again'`);
    expect(row).toEqual({ state: 'active', session: 2 });
  });
});

describe('GET /health and /metrics', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge();
  });
  afterAll(() => bridge.close());

  it('reports liveness and readiness of Postgres and Redis', async () => {
    expect(await (await fetch(`${bridge.url}/health`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${bridge.url}/health/ready`);
    expect([ready.status, await ready.json()]).toEqual([
      200,
      { status: 'ok', postgres: 'ok', redis: 'ok', agentsFile: { valid: true, errors: [], loadedAt: expect.any(String), checkedAt: expect.any(String) } },
    ]);
  });

  it('exposes Prometheus metrics, queue depths included', async () => {
    const res = await fetch(`${bridge.url}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(text).toMatch(/# TYPE iva_webhook_events_total counter/);
    expect(text).toMatch(/iva_queue_jobs\{queue="turns",state="waiting"\} \d+/);
  });
});
