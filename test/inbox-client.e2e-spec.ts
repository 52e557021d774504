import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpInboxClient, type InboxClientOptions } from '../src/inbox/http-inbox.client.js';
import {
  ConversationLostError,
  InboxAuthError,
  InboxRequestError,
  InboxUnavailableError,
  InvalidInboxRequestError,
} from '../src/inbox/inbox.errors.js';
import type { ManipulateConversation } from '../src/inbox/inbox.schemas.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { envelope } from './fakes/signing.js';

const MANIPULATE = /\/virtual-agent\/conversations\/[^/]+$/;

describe(HttpInboxClient.name, () => {
  let inbox: FakeInbox;
  let conversation = 0;

  beforeAll(async () => {
    inbox = new FakeInbox();
    await inbox.start();
  });
  afterAll(() => inbox.stop());
  beforeEach(() => inbox.reset());

  function client(overrides: Partial<InboxClientOptions> = {}): HttpInboxClient {
    return new HttpInboxClient({
      baseUrl: inbox.url,
      clientId: inbox.clientId,
      clientSecret: inbox.clientSecret,
      organizationId: inbox.organizationId,
      timeoutMs: 2000,
      maxAttempts: 4,
      retryBudgetMs: 10_000,
      ratePerSecond: 1000,
      baseDelayMs: 20,
      ...overrides,
    });
  }

  /** A conversation the fake has assigned to the VA. */
  function openConversation(): string {
    const id = `conv-${++conversation}`;
    inbox.openConversation(id);
    return id;
  }

  const manipulateArrivals = () => inbox.arrivals.filter((a) => MANIPULATE.test(a.path));

  it('sends the full manipulate body, and the fake records it', async () => {
    const sut = client();
    const id = openConversation();
    const body: ManipulateConversation = {
      indicateTyping: 'STOP',
      sendMessages: [{ text: 'first' }, { text: 'second' }],
      applyTopics: ['Billing'],
      applyTags: [{ messageId: 'm-1', tag: 'Happy' }],
      applyConversationNotes: [{ text: 'note for the human' }],
      setContactAttributes: { order_number: 'A-12345' },
      complete: 'HANDOVER',
    };
    await sut.manipulateConversation(id, body);
    expect(inbox.calls(id)).toEqual([expect.objectContaining({ status: 200, body })]);
    expect(inbox.status(id)).toBe('completed');
  });

  it('fetches the token once for 100 concurrent calls', async () => {
    const sut = client();
    const id = openConversation();
    await Promise.all(Array.from({ length: 100 }, (_, i) => sut.manipulateConversation(id, { sendMessage: { text: `m${i}` } })));
    expect(inbox.tokenRequests).toBe(1);
    expect(inbox.calls(id).filter((c) => c.status === 200)).toHaveLength(100);
  });

  it('refreshes an expired token once and replays the request', async () => {
    const sut = client();
    const id = openConversation();
    await sut.manipulateConversation(id, { indicateTyping: 'START' });
    inbox.expireTokens();
    await sut.manipulateConversation(id, { sendMessage: { text: 'after expiry' } });
    expect(inbox.tokenRequests).toBe(2);
    expect(inbox.messagesSent(id)).toEqual(['after expiry']);
    expect(inbox.requests.filter((r) => MANIPULATE.test(r.path)).map((r) => r.status)).toEqual([200, 401, 200]);
  });

  it('refreshes the token shortly before it expires, without a 401', async () => {
    inbox.setTokenTtl(1);
    try {
      const sut = client();
      const id = openConversation();
      await sut.manipulateConversation(id, { indicateTyping: 'START' });
      await new Promise((r) => setTimeout(r, 1000));
      await sut.manipulateConversation(id, { indicateTyping: 'STOP' });
      expect(inbox.tokenRequests).toBe(2);
      expect(inbox.requests.every((r) => r.status !== 401)).toBe(true);
    } finally {
      inbox.setTokenTtl(3599);
    }
  });

  it('throws ConversationLostError on 404 and does not retry', async () => {
    const sut = client();
    const id = openConversation();
    inbox.takeByHuman(id);
    await expect(sut.manipulateConversation(id, { sendMessage: { text: 'hello?' } })).rejects.toBeInstanceOf(ConversationLostError);
    expect(manipulateArrivals()).toHaveLength(1);
  });

  it('honours Retry-After on 429', async () => {
    const sut = client();
    const id = openConversation();
    inbox.failNext(id, 429, 1, '1');
    const started = Date.now();
    await sut.manipulateConversation(id, { sendMessage: { text: 'patient' } });
    const [first, second] = manipulateArrivals();
    expect(second.at - first.at).toBeGreaterThanOrEqual(990);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(inbox.messagesSent(id)).toEqual(['patient']);
  });

  it('backs off and retries on 429 without Retry-After', async () => {
    const sut = client();
    const id = openConversation();
    inbox.failNext(id, 429, 2);
    await sut.manipulateConversation(id, { sendMessage: { text: 'eventually' } });
    expect(inbox.calls(id).map((c) => c.status)).toEqual([429, 429, 200]);
  });

  it('retries a 500 and then succeeds', async () => {
    const sut = client();
    const id = openConversation();
    inbox.failNext(id, 500);
    await sut.manipulateConversation(id, { sendMessage: { text: 'after a 500' } });
    expect(inbox.calls(id).map((c) => c.status)).toEqual([500, 200]);
  });

  it('gives up with InboxUnavailableError after the configured attempts', async () => {
    const sut = client({ maxAttempts: 3 });
    const id = openConversation();
    inbox.failNext(id, 503, 10);
    const error = await sut.manipulateConversation(id, { indicateTyping: 'START' }).catch((e) => e);
    expect(error).toBeInstanceOf(InboxUnavailableError);
    expect(error).toMatchObject({ attempts: 3 });
    expect(manipulateArrivals()).toHaveLength(3);
  });

  it('times out a request that never answers, retries it, and stops within the bound', async () => {
    const sut = client({ timeoutMs: 200, maxAttempts: 3, retryBudgetMs: 5000 });
    const id = openConversation();
    inbox.delay(id, 10_000);
    const started = Date.now();
    const error = await sut.manipulateConversation(id, { indicateTyping: 'START' }).catch((e) => e);
    expect(error).toBeInstanceOf(InboxUnavailableError);
    expect(error.message).toMatch(/timed out/);
    expect(manipulateArrivals()).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(5000);
    inbox.delay(id, 0);
  });

  it('recovers when only the first attempt hangs', async () => {
    const sut = client({ timeoutMs: 200 });
    const id = openConversation();
    inbox.delay(id, 5000, 1);
    await sut.manipulateConversation(id, { sendMessage: { text: 'second try' } });
    expect(inbox.messagesSent(id)).toEqual(['second try']);
  });

  it('stops early rather than wait out a Retry-After longer than the budget', async () => {
    const sut = client({ retryBudgetMs: 1000 });
    const id = openConversation();
    inbox.failNext(id, 429, 1, '30');
    const started = Date.now();
    await expect(sut.manipulateConversation(id, { indicateTyping: 'START' })).rejects.toThrow(/out of time/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('does not retry a 400 and reports the platform’s answer', async () => {
    const sut = client();
    const id = openConversation();
    inbox.failNext(id, 400);
    const error = await sut.manipulateConversation(id, { indicateTyping: 'START' }).catch((e) => e);
    expect(error).toBeInstanceOf(InboxRequestError);
    expect(error.message).toMatch(/injected 400/);
    expect(manipulateArrivals()).toHaveLength(1);
  });

  it('holds the rate limit under a burst', async () => {
    const sut = client({ ratePerSecond: 10 });
    const id = openConversation();
    await Promise.all(Array.from({ length: 25 }, () => sut.manipulateConversation(id, { indicateTyping: 'START' })));
    const times = manipulateArrivals().map((a) => a.at);
    expect(times).toHaveLength(25);
    // Any 11 consecutive starts span at least a second (a little slack for loopback jitter).
    for (let i = 10; i < times.length; i++) expect(times[i] - times[i - 10]).toBeGreaterThanOrEqual(950);
  });

  it.each<[string, unknown]>([
    ['an empty body', {}],
    ['an empty message', { sendMessage: { text: '  ' } }],
    ['a message with neither text nor attachment', { sendMessage: {} }],
    ['an attribute key outside ^[a-zA-Z0-9_]+$', { setContactAttributes: { 'order-number': 'A-1' } }],
    ['an attribute value that is not a string', { setContactAttributes: { order_number: 12345 } }],
    ['an unknown field', { sendMesage: { text: 'typo' } }],
    ['an unknown completion', { complete: 'CLOSED' }],
    ['a tag without messageId', { applyTags: [{ tag: 'Happy' }] }],
  ])('refuses %s before sending anything', async (_, body) => {
    const sut = client();
    const error = await sut.manipulateConversation('conv-x', body as ManipulateConversation).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidInboxRequestError);
    expect(inbox.arrivals).toHaveLength(0);
  });

  it('uploads an attachment with its content type, then sends it', async () => {
    const sut = client();
    const id = openConversation();
    await sut.uploadAttachment(id, 'receipt-1.png', Buffer.from('PNGDATA'), 'image/png');
    await sut.manipulateConversation(id, { sendMessage: { text: 'Your receipt', attachment: 'receipt-1.png' } });
    expect(inbox.calls(id)).toEqual([
      expect.objectContaining({ kind: 'attachment', status: 200, body: { filename: 'receipt-1.png', contentType: 'image/png', bytes: 7 } }),
      expect.objectContaining({ kind: 'manipulate', status: 200 }),
    ]);
  });

  it('refuses a bad attachment name, an empty file and a file of 10 MB before sending', async () => {
    const sut = client();
    await expect(sut.uploadAttachment('c', 'my file.png', Buffer.from('x'), 'image/png')).rejects.toBeInstanceOf(InvalidInboxRequestError);
    await expect(sut.uploadAttachment('c', 'a.png', Buffer.alloc(0), 'image/png')).rejects.toBeInstanceOf(InvalidInboxRequestError);
    await expect(sut.uploadAttachment('c', 'a.png', Buffer.alloc(10 * 1024 * 1024), 'image/png')).rejects.toBeInstanceOf(InvalidInboxRequestError);
    expect(inbox.arrivals).toHaveLength(0);
  });

  it('overwrites contact attributes through the v2 contact endpoint with autoConfirm', async () => {
    await client().overwriteContactAttributes('profile-1', { email: 'new@example.com' });
    expect(inbox.contactAttributeWrites).toContainEqual({
      contactProfileId: 'profile-1',
      body: { autoConfirm: true, contactAttributes: [{ attribute: 'email', value: 'new@example.com' }] },
    });
  });

  it('reports refused credentials as InboxAuthError without retrying', async () => {
    const sut = client({ clientSecret: 'wrong' });
    await expect(sut.manipulateConversation(openConversation(), { indicateTyping: 'START' })).rejects.toBeInstanceOf(InboxAuthError);
    expect(inbox.tokenRequests).toBe(1);
  });

  it('retries the token endpoint when it answers 503', async () => {
    const sut = client();
    const id = openConversation();
    inbox.failTokenEndpoint(503, 2);
    await sut.manipulateConversation(id, { indicateTyping: 'START' });
    expect(inbox.tokenRequests).toBe(3);
  });
});

describe(WebhookSender.name, () => {
  it('retries an unanswered event 3 times with the same idempotency key, then hands the conversation to a human', async () => {
    const seen: Array<{ key: string; signature: string | undefined }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ key: JSON.parse(body).idempotencyKey, signature: req.headers['x-hootsuite-signature'] as string });
        res.writeHead(500).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const inbox = new FakeInbox();
    inbox.openConversation('c-retry');
    const sut = new WebhookSender({
      bridgeUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      agentId: 'acme',
      secretHex: 'abcd',
      inbox,
      backoffMs: [10, 20, 40],
    });
    const delivery = await sut.send(envelope('INBOUND_MESSAGE_RECEIVED', { conversationId: 'c-retry', message: { text: 'hi' } }));
    server.close();
    expect(delivery.delivered).toBe(false);
    expect(delivery.attempts).toEqual([{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }]);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
    expect(seen.every((s) => /^[0-9a-f]{64}$/.test(s.signature ?? ''))).toBe(true);
    expect(inbox.status('c-retry')).toBe('taken');
  });
});
