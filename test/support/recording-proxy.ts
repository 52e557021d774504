import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * One logical clock for the whole test process: the proxy ticks when a request arrives and when its
 * answer comes back, a test ticks when it sends a webhook and when the bridge acknowledges it. Tests
 * compare ticks (what was observed before what), never durations.
 */
let ticks = 0;
export const tick = (): number => ++ticks;

export interface ProxiedCall {
  conversationId: string;
  body: Record<string, unknown>;
  /** When the request reached the proxy (so the bridge had sent it by then). */
  arrived: number;
  /** When the answer came back from the fake; undefined while it is in flight. */
  answered?: number;
  status?: number;
}

const MANIPULATE = /^\/inbox\/v1\/virtual-agent\/conversations\/([^/]+)$/;

/**
 * Sits between the bridge and the fake Inbox 2.0 and records each manipulate call with the tick at
 * which it arrived and the tick at which its answer came back, so that a test can order a call
 * against the webhooks it sent (the fake records a call only once answered, after any delay).
 */
export class RecordingProxy {
  private readonly server: Server;
  private readonly byConversation = new Map<string, ProxiedCall[]>();
  url = '';

  constructor(private readonly target: () => string) {
    this.server = createServer((req, res) => {
      this.forward(req)
        .then(({ status, contentType, body }) => {
          if (res.destroyed) return;
          res.writeHead(status, { 'content-type': contentType });
          res.end(body);
        })
        .catch((err: Error) => {
          if (res.destroyed) return;
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `proxy: ${err.message}` }));
        });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Manipulate calls for one conversation, in the order they arrived. */
  calls(conversationId: string): ProxiedCall[] {
    return [...(this.byConversation.get(conversationId) ?? [])];
  }

  inFlight(conversationId: string): number {
    return this.calls(conversationId).filter((c) => c.answered === undefined).length;
  }

  private async forward(req: IncomingMessage): Promise<{ status: number; contentType: string; body: Buffer }> {
    const arrived = tick();
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const path = req.url ?? '/';
    const match = req.method === 'POST' ? MANIPULATE.exec(path.split('?')[0]) : null;
    let call: ProxiedCall | undefined;
    if (match) {
      const conversationId = decodeURIComponent(match[1]);
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        // recorded as an empty body; the fake answers it 400
      }
      call = { conversationId, body: parsed, arrived };
      const list = this.byConversation.get(conversationId) ?? [];
      list.push(call);
      this.byConversation.set(conversationId, list);
    }
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    try {
      const res = await fetch(this.target() + path, { method: req.method, headers, body: req.method === 'GET' ? undefined : body });
      const answer = Buffer.from(await res.arrayBuffer());
      if (call) Object.assign(call, { status: res.status, answered: tick() });
      return { status: res.status, contentType: res.headers.get('content-type') ?? 'application/json', body: answer };
    } catch (err) {
      if (call) Object.assign(call, { status: 502, answered: tick() });
      throw err;
    }
  }
}
