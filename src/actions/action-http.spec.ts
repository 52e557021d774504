import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeResult, MAX_RESPONSE_BYTES, performCall, pickFields, type CallOptions, type CallOutcome } from './action-http.js';
import type { PreparedCall } from './action-request.js';

const TOKEN = 'tok-3f9a2c7e';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** A real HTTP server on loopback, one route per behaviour under test. */
async function listen(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

describe(performCall.name, () => {
  const seen: Seen[] = [];
  const elsewhere: Seen[] = [];
  let shop: { server: Server; base: string };
  let other: { server: Server; base: string };

  beforeAll(async () => {
    other = await listen((req, res, body) => {
      elsewhere.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      json(res, 200, { status: 'stolen' });
    });
    shop = await listen((req, res, body) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      route(req, res);
    });
  });

  afterAll(async () => {
    await close(shop.server);
    await close(other.server);
  });

  beforeEach(() => {
    seen.length = 0;
    elsewhere.length = 0;
  });

  function route(req: IncomingMessage, res: ServerResponse): void {
    switch (req.url) {
      case '/orders/A-12345':
        return json(res, 200, {
          status: 'in transit',
          carrier: 'DHL',
          internal_notes: 'customer is difficult',
          shipment: { eta: 'Thursday', warehouse: 'B7' },
          items: [{ sku: 'X-1' }],
        });
      case '/orders/missing':
        return json(res, 404, { message: 'order not found' });
      case '/orders/invalid':
        return json(res, 422, { error: { message: 'order number\nis malformed' } });
      case '/orders/teapot':
        return json(res, 418, { message: 'x'.repeat(5000) });
      case '/orders/boom':
        return json(res, 500, { message: 'NullPointerException at com.acme.Orders' });
      case '/orders/moved':
        res.writeHead(302, { location: `${other.base}/steal` });
        return void res.end();
      case '/orders/hang':
        return; // never answers
      case '/orders/stall':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.write('{"status":'); // headers, then nothing more
      case '/orders/huge':
        return streamHuge(res);
      case '/orders/huge-declared':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(MAX_RESPONSE_BYTES + 1) });
        return void res.write('{');
      case '/orders/html':
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end('<html>maintenance</html>');
      case '/orders/list':
        return json(res, 200, [{ status: 'a' }]);
      case '/orders/verbose':
        return json(res, 200, { status: 'x'.repeat(600) });
      case '/orders/echo':
        return json(res, 200, { status: `you sent ${req.headers.authorization}`, [`${TOKEN}`]: 'key' });
      case '/orders/echo-401':
        return json(res, 401, { message: `token ${TOKEN} is expired` });
      case '/orders/empty':
        res.writeHead(204);
        return void res.end();
      case '/orders/echo-401-long':
        return json(res, 401, { message: `${'x'.repeat(195)}${TOKEN}` });
      case '/orders/A-12345/cancel':
        return json(res, 200, { status: 'cancelled', refund: 12.5 });
      default:
        return json(res, 404, {});
    }
  }

  function streamHuge(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = `"${'x'.repeat(64 * 1024)}",`;
    res.write('[');
    let sent = 0;
    // Keeps sending until the client gives up; a client without a cap would read it all.
    const more = () => {
      while (sent < 64 && res.write(chunk)) sent++;
      if (sent < 64 && !res.destroyed) res.once('drain', more);
      else res.end('"end"]');
    };
    more();
  }

  const get = (path: string, headers: Record<string, string> = {}): PreparedCall => ({
    method: 'GET',
    url: `${shop.base}${path}`,
    headers: { accept: 'application/json', ...headers },
  });

  const options = (o: Partial<CallOptions> = {}): CallOptions => ({
    timeoutMs: 3000,
    fields: ['status', 'carrier', 'eta', 'shipment.eta', 'items.0.sku'],
    maxBytes: 4096,
    secrets: [],
    ...o,
  });

  it('returns only the declared fields, keyed by their dot path', async () => {
    const sut = await performCall(get('/orders/A-12345'), options());
    expect(sut).toEqual({
      status: 'ok',
      httpStatus: 200,
      result: { status: 'in transit', carrier: 'DHL', 'shipment.eta': 'Thursday', 'items.0.sku': 'X-1' },
      error: null,
      latencyMs: expect.any(Number),
      resultBytes: Buffer.byteLength(JSON.stringify(sut.result)),
    });
    expect(JSON.stringify(sut.result)).not.toMatch(/difficult|B7/);
  });

  it('reports a 404 with the API’s message', async () => {
    const sut = await performCall(get('/orders/missing'), options());
    expect(sut).toMatchObject({ status: 'http_error', httpStatus: 404, result: null, error: 'HTTP 404 (order not found)', resultBytes: 0 });
  });

  it('reads a nested error message on one line, and clips a long one', async () => {
    expect((await performCall(get('/orders/invalid'), options())).error).toBe('HTTP 422 (order number is malformed)');
    const teapot = await performCall(get('/orders/teapot'), options());
    expect(teapot.error).toMatch(/^HTTP 418 \(x{199}…\)$/);
  });

  it('reports a 500 without the body, which may hold internals', async () => {
    const sut = await performCall(get('/orders/boom'), options());
    expect(sut).toMatchObject({ status: 'http_error', httpStatus: 500, error: 'HTTP 500' });
  });

  it('does not follow a redirect to another host', async () => {
    const sut = await performCall(get('/orders/moved', { authorization: `Bearer ${TOKEN}` }), options());
    expect(sut).toMatchObject({ status: 'http_error', httpStatus: 302, error: 'HTTP 302: redirects are not followed' });
    expect(elsewhere).toEqual([]);
  });

  it('gives up on a server that never answers, within about the timeout', async () => {
    const started = Date.now();
    const sut = await performCall(get('/orders/hang'), options({ timeoutMs: 300 }));
    expect(sut).toMatchObject({ status: 'timeout', httpStatus: null, error: 'no answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(300 + 2000);
  });

  it('takes a deadline already past as the shortest timeout rather than throwing', async () => {
    expect(await performCall(get('/orders/hang'), options({ timeoutMs: -5 }))).toMatchObject({ status: 'timeout', error: 'no answer within 1 ms' });
  });

  it('counts reading the body in the timeout', async () => {
    const started = Date.now();
    const sut = await performCall(get('/orders/stall'), options({ timeoutMs: 300 }));
    expect(sut).toMatchObject({ status: 'timeout', httpStatus: 200, error: 'no answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(300 + 2000);
  });

  it('stops reading a body over 1 MiB', async () => {
    const sut = await performCall(get('/orders/huge'), options());
    expect(sut).toMatchObject({ status: 'too_large', httpStatus: 200, result: null, error: 'the response is over 1 MiB' });
  });

  it('refuses a declared length over 1 MiB without reading', async () => {
    const sut = await performCall(get('/orders/huge-declared'), options());
    expect(sut).toMatchObject({ status: 'too_large', error: 'the response is over 1 MiB' });
  });

  it('refuses picked fields over maxBytes, returning none of them', async () => {
    const sut = await performCall(get('/orders/verbose'), options({ maxBytes: 256 }));
    expect(sut).toMatchObject({ status: 'too_large', result: null, resultBytes: 0, error: 'the selected fields are 613 bytes, over the limit of 256' });
  });

  it('calls a body that is not JSON, or not an object, an invalid response', async () => {
    expect(await performCall(get('/orders/html'), options())).toMatchObject({
      status: 'invalid_response',
      httpStatus: 200,
      error: 'the response is not JSON',
    });
    expect(await performCall(get('/orders/list'), options())).toMatchObject({
      status: 'invalid_response',
      error: 'the response is not a JSON object',
    });
  });

  it('redacts a secret the API echoes, in values, keys and error messages', async () => {
    const secrets = [`Bearer ${TOKEN}`, TOKEN];
    const echoed = await performCall(get('/orders/echo', { authorization: `Bearer ${TOKEN}` }), options({ fields: ['status', TOKEN], secrets }));
    expect(echoed.result).toEqual({ status: 'you sent [redacted]', '[redacted]': 'key' });
    const refused = await performCall(get('/orders/echo-401'), options({ secrets }));
    expect(refused.error).toBe('HTTP 401 (token [redacted] is expired)');
    expect(JSON.stringify([echoed, refused])).not.toContain(TOKEN);
  });

  it('clips an error message only after redacting it, so no part of a secret survives', async () => {
    const sut = await performCall(get('/orders/echo-401-long'), options({ secrets: [TOKEN] }));
    expect(sut.error).toMatch(/^HTTP 401 \(x{195}\[red…\)$/);
    expect(sut.error).not.toContain('tok-');
  });

  it('takes an empty 2xx body as an answer with no fields', async () => {
    expect(await performCall(get('/orders/empty'), options())).toMatchObject({ status: 'ok', httpStatus: 204, result: {}, resultBytes: 2 });
  });

  it('sends a side-effect call’s body and idempotency key', async () => {
    const call: PreparedCall = {
      method: 'POST',
      url: `${shop.base}/orders/A-12345/cancel`,
      headers: { 'content-type': 'application/json', 'idempotency-key': 'turn-7f3a' },
      body: '{"order_number":"A-12345"}',
    };
    const sut = await performCall(call, options({ fields: ['status', 'refund'] }));
    expect(sut).toMatchObject({ status: 'ok', result: { status: 'cancelled', refund: 12.5 } });
    expect(seen).toEqual([
      expect.objectContaining({
        method: 'POST',
        body: '{"order_number":"A-12345"}',
        headers: expect.objectContaining({ 'idempotency-key': 'turn-7f3a', 'content-type': 'application/json' }),
      }),
    ]);
  });

  it('reports a refused connection by its code, never with the headers', async () => {
    const gone = await listen(() => undefined);
    await close(gone.server);
    const sut = await performCall(
      { method: 'GET', url: `${gone.base}/orders/A-1`, headers: { authorization: `Bearer ${TOKEN}` } },
      options({ secrets: [TOKEN] }),
    );
    expect(sut).toMatchObject({ status: 'failed', httpStatus: null, error: 'connection failed: ECONNREFUSED' });
  });

  it('stops when the caller’s signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const sut = await performCall(get('/orders/hang'), options({ signal: controller.signal }));
    expect(sut).toMatchObject({ status: 'failed', error: 'cancelled' });
  });
});

describe(pickFields.name, () => {
  it('leaves out missing fields and never reads inherited ones', () => {
    const body = JSON.parse('{"a":{"b":null},"__proto__":{"polluted":1},"list":[1,2]}') as Record<string, unknown>;
    const sut = pickFields(body, ['a.b', 'a.c', 'x.y', '__proto__', 'constructor', 'list.length', 'list.1', 'a.b.c']);
    expect(sut).toEqual(JSON.parse('{"a.b":null,"__proto__":{"polluted":1},"list.1":2}'));
    expect(Object.keys(sut)).toEqual(['a.b', '__proto__', 'list.1']);
    expect(Object.getPrototypeOf(sut)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe(describeResult.name, () => {
  const outcome = (o: Partial<CallOutcome>): CallOutcome => ({
    status: 'ok',
    httpStatus: 200,
    result: null,
    error: null,
    latencyMs: 12,
    resultBytes: 0,
    ...o,
  });

  it('says what was found', () => {
    const sut = describeResult(
      'order_status',
      { order_number: 'A-12345' },
      outcome({ result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday', 'shipment.weight': 2 } }),
    );
    expect(sut).toBe('order_status(order_number=A-12345): status=in transit, carrier=DHL, eta=Thursday, shipment.weight=2');
  });

  it('says why it failed', () => {
    const sut = describeResult('order_status', { order_number: 'A-99999' }, outcome({ status: 'http_error', httpStatus: 404, error: 'HTTP 404 (order not found)' }));
    expect(sut).toBe('order_status(order_number=A-99999) failed: HTTP 404 (order not found)');
  });

  it('says when the answer had none of the fields', () => {
    expect(describeResult('order_status', { order_number: 'A-1' }, outcome({ result: {} }))).toBe(
      'order_status(order_number=A-1): no fields in the answer',
    );
  });

  it('keeps to one short line', () => {
    const sut = describeResult(
      'order_status',
      { order_number: 'A-1', note: 'line one\nline two' },
      outcome({ result: { status: 'y'.repeat(500), items: [{ sku: 'X-1' }], a: 'z'.repeat(100), b: 'w'.repeat(100), c: 'v'.repeat(100) } }),
    );
    expect(sut).not.toContain('\n');
    expect(sut).toContain('note=line one line two');
    expect(sut).toContain(`status=${'y'.repeat(79)}…`);
    expect(sut).toContain('items=[{"sku":"X-1"}]');
    expect(sut.length).toBe(300);
  });
});
