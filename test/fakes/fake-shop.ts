import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The `order_status` action of docs/actions.md against a fake shop, as one item of an agent's
 * `actions:` list (indented for it), for the demo's agents and the tests.
 */
export function orderStatusAction(shopUrl: string, o: { tokenEnv?: string; timeout?: string } = {}): string {
  return `      - name: order_status
        description: Look up the shipping status of one order by its number.
        parameters:
          type: object
          required: [order_number]
          properties: { order_number: { type: string, pattern: "^A-[0-9]{5}$" } }
        request:
          url: ${shopUrl}/api/orders/{order_number}
          headers: { Authorization: "Bearer \${${o.tokenEnv ?? 'SHOP_API_TOKEN'}}" }
          timeout: ${o.timeout ?? '3s'}
        response: { fields: [status, carrier, eta] }
        requires: [order_number]
`;
}

export interface ShopRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface ShopOrder {
  status: string;
  carrier: string;
  eta: string;
  /** Fields an action must not pass on to the LLM (docs/actions.md: only the listed fields go). */
  customer_email: string;
  internal_note: string;
}

/**
 * A small shop API over real HTTP, for the demo and the action tests: `GET /api/orders/:number`
 * answers an order's status (with fields the agent must not see), `POST /api/orders/:number/cancel`
 * cancels one, and each test can make a path hang, fail, redirect, or echo the caller's token.
 */
export class FakeShop {
  private readonly server: Server;
  readonly requests: ShopRequest[] = [];
  readonly orders = new Map<string, ShopOrder>([
    ['A-12345', { status: 'in transit', carrier: 'DHL', eta: 'Thursday', customer_email: 'jane@example.com', internal_note: 'VIP; margin 12%' }],
    ['A-20001', { status: 'delivered', carrier: 'UPS', eta: 'delivered Monday', customer_email: 'li@example.com', internal_note: 'left at the door' }],
  ]);
  /** Paths (exact) or `*` that never answer. */
  readonly hang = new Set<string>();
  /** Paths (exact) that answer 500. */
  readonly fail = new Set<string>();
  /** When set, every answer includes the Authorization header it received, as a careless API might. */
  echoAuthorization = false;
  /** Paths that answer with a redirect to this URL. */
  readonly redirects = new Map<string, string>();
  /** Token the API expects (`Authorization: Bearer …`); 401 otherwise. */
  constructor(private readonly token = 'shop-token-9f8e7d') {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => send(res, 500, { error: 'fake shop failed' }));
    });
  }

  url = '';

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, host, resolve));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests to one path, in order. */
  to(path: string, method?: string): ShopRequest[] {
    return this.requests.filter((r) => r.path === path && (!method || r.method === method));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const path = new URL(req.url ?? '/', 'http://shop').pathname;
    this.requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });
    if (this.hang.has(path) || this.hang.has('*')) return; // never answers; the caller's timeout ends it
    if (this.fail.has(path)) return send(res, 500, { error: 'internal error' });
    const redirect = this.redirects.get(path);
    if (redirect) {
      res.writeHead(302, { location: redirect });
      return void res.end();
    }
    if (req.headers.authorization !== `Bearer ${this.token}`) return send(res, 401, { error: 'invalid token' });
    const echo = this.echoAuthorization ? { seen_authorization: req.headers.authorization } : {};

    const order = /^\/api\/orders\/([^/]+)$/.exec(path);
    if (order && req.method === 'GET') {
      const found = this.orders.get(decodeURIComponent(order[1]));
      return found ? send(res, 200, { number: decodeURIComponent(order[1]), ...found, ...echo, ...(this.echoAuthorization ? { status: `${found.status} (${req.headers.authorization})` } : {}) }) : send(res, 404, { error: 'order not found' });
    }
    const cancel = /^\/api\/orders\/([^/]+)\/cancel$/.exec(path);
    if (cancel && req.method === 'POST') {
      const found = this.orders.get(decodeURIComponent(cancel[1]));
      if (!found) return send(res, 404, { error: 'order not found' });
      found.status = 'cancelled';
      return send(res, 200, { number: decodeURIComponent(cancel[1]), status: this.echoAuthorization ? `cancelled (${req.headers.authorization})` : 'cancelled', refund: 'within 5 days', ...echo });
    }
    send(res, 404, { error: `no route ${req.method} ${path}` });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
