import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ContactAttributesOverwriteSchema, ManipulateConversationSchema, ATTACHMENT_NAME, MAX_ATTACHMENT_BYTES } from '../../src/inbox/inbox.schemas.js';

/**
 * A faithful stand-in for Inbox 2.0's virtual-agent REST API (INBOX_CONTRACT.md §2), over real HTTP:
 * the token endpoint, the manipulate endpoint, attachments and the v2 contact endpoint. It records
 * every call, answers `404` once a conversation is completed or taken by a human, and has hooks to
 * make a conversation fail or answer slowly. `/_fake/*` exposes the same for use by hand.
 */
export interface FakeInboxOptions {
  clientId?: string;
  clientSecret?: string;
  organizationId?: string;
  tokenTtlSeconds?: number;
  /** Accept calls for conversations the fake has never heard of (handy by hand); strict by default. */
  autoOpen?: boolean;
  /** Called for every recorded conversation call, e.g. to print it. */
  onCall?: (call: RecordedCall) => void;
}

export interface RecordedCall {
  at: number;
  conversationId: string;
  kind: 'manipulate' | 'attachment';
  body: Record<string, unknown>;
  status: number;
}

export interface RequestLogEntry {
  at: number;
  method: string;
  path: string;
  status: number;
}

type ConversationStatus = 'open' | 'completed' | 'taken';

interface Fault {
  status: number;
  times: number;
  retryAfter?: string;
}

export class FakeInbox {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly organizationId: string;
  private readonly server: Server;
  private readonly tokens = new Map<string, number>(); // token → expiry (ms)
  private readonly conversations = new Map<string, ConversationStatus>();
  private readonly faults = new Map<string, Fault[]>();
  private readonly delays = new Map<string, { ms: number; times: number }>();
  private readonly attachmentNames = new Map<string, Set<string>>();
  private readonly recorded: RecordedCall[] = [];
  /** The same calls by conversation, so looking one up stays cheap with thousands recorded. */
  private readonly byConversation = new Map<string, RecordedCall[]>();
  readonly requests: RequestLogEntry[] = [];
  /** Every request as it arrived, before any delay or check: what a client actually sent. */
  readonly arrivals: Array<{ at: number; method: string; path: string }> = [];
  readonly contactAttributeWrites: Array<{ contactProfileId: string; body: unknown }> = [];
  tokenRequests = 0;
  /** Requests to the user-presence API, answered or not. */
  presenceRequests = 0;
  /** What `GET /inbox/v1/user-presence/online-agents` answers: one agent AVAILABLE until a test says otherwise. */
  private presence: { status: number; body: unknown; delayMs: number } = {
    status: 200,
    body: { agents: [{ id: 'fake-agent-1', userPresence: 'AVAILABLE', statusChangedAt: '2026-01-01T09:00:00.000Z' }] },
    delayMs: 0,
  };
  private tokenTtlSeconds: number;
  private tokenEndpointFaults: Fault[] = [];
  url = '';

  constructor(private readonly options: FakeInboxOptions = {}) {
    this.clientId = options.clientId ?? 'fake-client';
    this.clientSecret = options.clientSecret ?? 'fake-secret';
    this.organizationId = options.organizationId ?? 'fake-org';
    this.tokenTtlSeconds = options.tokenTtlSeconds ?? 3599;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => send(res, 500, { error: String(err) }));
    });
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, host, resolve));
    const address = this.server.address() as AddressInfo;
    this.url = `http://${host}:${address.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The environment that points a bridge at this fake. */
  env(): Record<'INBOX_API_URL' | 'INBOX_CLIENT_ID' | 'INBOX_CLIENT_SECRET' | 'INBOX_ORGANIZATION_ID', string> {
    return { INBOX_API_URL: this.url, INBOX_CLIENT_ID: this.clientId, INBOX_CLIENT_SECRET: this.clientSecret, INBOX_ORGANIZATION_ID: this.organizationId };
  }

  // ---- hooks -------------------------------------------------------------------------------

  /** The platform assigned this conversation to the VA (the webhook sender calls this). */
  openConversation(conversationId: string): void {
    this.conversations.set(conversationId, 'open');
  }

  /** A human took the conversation: every later call for it answers `404`. */
  takeByHuman(conversationId: string): void {
    this.conversations.set(conversationId, 'taken');
  }

  /** The next `times` calls for this conversation answer `status` (429, 500, 404 …), with an optional `Retry-After`. */
  failNext(conversationId: string, status: number, times = 1, retryAfter?: string): void {
    const list = this.faults.get(conversationId) ?? [];
    list.push({ status, times, retryAfter });
    this.faults.set(conversationId, list);
  }

  /** Forgets every fault still scripted for this conversation. */
  clearFaults(conversationId: string): void {
    this.faults.delete(conversationId);
  }

  failTokenEndpoint(status: number, times = 1): void {
    this.tokenEndpointFaults.push({ status, times });
  }

  /** The next `times` calls for this conversation (all, by default) wait `ms` before answering; 0 stops it. */
  delay(conversationId: string, ms: number, times = Number.POSITIVE_INFINITY): void {
    this.delays.set(conversationId, { ms, times });
  }

  /** Every token issued so far is rejected from now on, as after expiry. */
  expireTokens(): void {
    for (const token of this.tokens.keys()) this.tokens.set(token, 0);
  }

  setTokenTtl(seconds: number): void {
    this.tokenTtlSeconds = seconds;
  }

  status(conversationId: string): ConversationStatus | undefined {
    return this.conversations.get(conversationId);
  }

  /** The calls applied (or refused) for one conversation, oldest first. */
  calls(conversationId?: string): RecordedCall[] {
    return conversationId ? [...(this.byConversation.get(conversationId) ?? [])] : [...this.recorded];
  }

  /** Every text sent to the contact in this conversation, in order. */
  messagesSent(conversationId: string): string[] {
    return this.calls(conversationId)
      .filter((c) => c.status === 200)
      .flatMap((c) => {
        const b = c.body as { sendMessage?: { text?: string }; sendMessages?: Array<{ text?: string }> };
        return [...(b.sendMessage ? [b.sendMessage] : []), ...(b.sendMessages ?? [])].map((m) => m.text ?? '');
      });
  }

  reset(): void {
    this.recorded.length = 0;
    this.byConversation.clear();
    this.requests.length = 0;
    this.arrivals.length = 0;
    this.faults.clear();
    this.delays.clear();
    this.tokenRequests = 0;
  }

  /** Who is online, as the user-presence API lists them (Hootsuite's OnlineAgentsResponse); [] for nobody. */
  setOnlineAgents(agents: Array<{ id: string; userPresence: string; awayStateId?: string }>): void {
    this.presence = { status: 200, body: { agents: agents.map((a) => ({ statusChangedAt: '2026-01-01T09:00:00.000Z', ...a })) }, delayMs: 0 };
  }

  /** The user-presence API answers this status (403: the app may not call it; 500…), or this raw body, or late. */
  failPresence(status: number, body: unknown = { error: `injected ${status}` }, delayMs = 0): void {
    this.presence = { status, body, delayMs };
  }

  // ---- HTTP --------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (!url.pathname.startsWith('/_fake/')) this.arrivals.push({ at: Date.now(), method: req.method ?? '', path: url.pathname });
    const body = await readBody(req, MAX_ATTACHMENT_BYTES + 1024);
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ at: Date.now(), method: req.method ?? '', path: url.pathname, status });
      send(res, status, payload, headers);
    };

    if (url.pathname.startsWith('/_fake/')) return this.admin(req.method ?? '', url, body, reply);

    if (req.method === 'POST' && url.pathname === '/oauth2/token') return this.token(req, body, reply);

    if (req.method === 'GET' && url.pathname === '/inbox/v1/user-presence/online-agents') {
      this.presenceRequests++;
      if (!this.authorized(req)) return reply(401, { error: 'invalid or expired token' });
      const { status, body: answer, delayMs } = this.presence;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      return reply(status, answer);
    }

    const manipulate = /^\/inbox\/v1\/virtual-agent\/conversations\/([^/]+)$/.exec(url.pathname);
    const attachment = /^\/inbox\/v1\/virtual-agent\/conversations\/([^/]+)\/attachments\/([^/]+)$/.exec(url.pathname);
    const contact = /^\/inbox\/v2\/contact\/([^/]+)\/contact-attributes$/.exec(url.pathname);
    if (!manipulate && !attachment && !contact) return reply(404, { error: 'no such endpoint' });

    if (!this.authorized(req)) return reply(401, { error: 'invalid or expired token' });

    if (contact && req.method === 'PUT') {
      const parsed = parseJson(body) as { autoConfirm?: unknown; contactAttributes?: Array<{ attribute: string; value: string }> } | undefined;
      const list = parsed?.contactAttributes;
      const valid =
        Array.isArray(list) &&
        ContactAttributesOverwriteSchema.safeParse(Object.fromEntries(list.map((a) => [a.attribute, a.value]))).success;
      if (!valid) return reply(400, { error: 'contactAttributes must be a non-empty list of {attribute, value}' });
      this.contactAttributeWrites.push({ contactProfileId: decodeURIComponent(contact[1]), body: parsed });
      return reply(200, {});
    }

    const conversationId = decodeURIComponent((manipulate ?? attachment)![1]);
    const delay = this.delays.get(conversationId);
    if (delay && delay.times > 0 && delay.ms > 0) {
      delay.times--;
      await new Promise((resolve) => setTimeout(resolve, delay.ms).unref());
    }
    const fault = this.takeFault(conversationId);
    const record = (kind: RecordedCall['kind'], recordedBody: Record<string, unknown>, status: number) => {
      const call = { at: Date.now(), conversationId, kind, body: recordedBody, status };
      this.recorded.push(call);
      const list = this.byConversation.get(conversationId) ?? [];
      list.push(call);
      this.byConversation.set(conversationId, list);
      this.options.onCall?.(call);
    };

    if (manipulate && req.method === 'POST') {
      const json = parseJson(body);
      if (fault) {
        record('manipulate', (json ?? {}) as Record<string, unknown>, fault.status);
        return reply(fault.status, { error: `injected ${fault.status}` }, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
      }
      const parsed = ManipulateConversationSchema.safeParse(json);
      if (!parsed.success) {
        record('manipulate', (json ?? {}) as Record<string, unknown>, 400);
        return reply(400, { error: 'malformed request', issues: parsed.error.issues.map((i) => i.message) });
      }
      if (!this.owned(conversationId)) {
        record('manipulate', parsed.data, 404);
        return reply(404, { error: 'conversation not found or not assigned to this virtual agent' });
      }
      record('manipulate', parsed.data, 200);
      if (parsed.data.complete) this.conversations.set(conversationId, 'completed');
      return reply(200, {});
    }

    if (attachment && req.method === 'PUT') {
      const filename = decodeURIComponent(attachment[2]);
      const meta = { filename, contentType: req.headers['content-type'] ?? '', bytes: body.length };
      if (fault) {
        record('attachment', meta, fault.status);
        return reply(fault.status, { error: `injected ${fault.status}` });
      }
      const names = this.attachmentNames.get(conversationId) ?? new Set<string>();
      const bad =
        !ATTACHMENT_NAME.test(filename) || body.length === 0 || body.length >= MAX_ATTACHMENT_BYTES || !meta.contentType || names.has(filename);
      if (bad) {
        record('attachment', meta, 400);
        return reply(400, { error: 'invalid attachment (name, size, content type, or name already used)' });
      }
      if (!this.owned(conversationId)) {
        record('attachment', meta, 404);
        return reply(404, { error: 'conversation not found' });
      }
      names.add(filename);
      this.attachmentNames.set(conversationId, names);
      record('attachment', meta, 200);
      return reply(200, {});
    }
    return reply(405, { error: 'method not allowed' });
  }

  private token(req: IncomingMessage, body: Buffer, reply: (s: number, p: unknown) => void): void {
    this.tokenRequests++;
    const fault = this.tokenEndpointFaults[0];
    if (fault) {
      if (--fault.times <= 0) this.tokenEndpointFaults.shift();
      return reply(fault.status, { error: `injected ${fault.status}` });
    }
    const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return reply(401, { error: 'invalid client credentials (HTTP Basic only)' });
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('grant_type') !== 'organization_app' || form.get('organization_id') !== this.organizationId) {
      return reply(400, { error: 'grant_type must be organization_app with this organization_id' });
    }
    const token = randomBytes(16).toString('hex');
    this.tokens.set(token, Date.now() + this.tokenTtlSeconds * 1000);
    reply(200, { access_token: token, token_Type: 'bearer', expires_in: this.tokenTtlSeconds });
  }

  private authorized(req: IncomingMessage): boolean {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const expiry = match ? this.tokens.get(match[1]) : undefined;
    return expiry !== undefined && expiry > Date.now();
  }

  private owned(conversationId: string): boolean {
    const status = this.conversations.get(conversationId);
    if (status === undefined && this.options.autoOpen) {
      this.conversations.set(conversationId, 'open');
      return true;
    }
    return status === 'open';
  }

  private takeFault(conversationId: string): Fault | undefined {
    const list = this.faults.get(conversationId);
    const fault = list?.[0];
    if (!fault) return undefined;
    if (--fault.times <= 0) list!.shift();
    return fault;
  }

  /** By-hand control: GET /_fake/calls[?conversationId=], POST /_fake/conversations/:id/{open,take,fail,delay}. */
  private admin(method: string, url: URL, body: Buffer, reply: (s: number, p: unknown) => void): void {
    if (method === 'GET' && url.pathname === '/_fake/calls') {
      return reply(200, this.calls(url.searchParams.get('conversationId') ?? undefined));
    }
    const action = /^\/_fake\/conversations\/([^/]+)\/(open|take|fail|delay)$/.exec(url.pathname);
    if (method !== 'POST' || !action) return reply(404, { error: 'unknown admin endpoint' });
    const id = decodeURIComponent(action[1]);
    const args = (parseJson(body) ?? {}) as { status?: number; times?: number; retryAfter?: string; ms?: number };
    if (action[2] === 'open') this.openConversation(id);
    if (action[2] === 'take') this.takeByHuman(id);
    if (action[2] === 'fail') this.failNext(id, args.status ?? 500, args.times ?? 1, args.retryAfter);
    if (action[2] === 'delay') this.delay(id, args.ms ?? 0);
    reply(200, { conversationId: id, status: this.status(id) ?? null });
  }
}

function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(payload));
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
