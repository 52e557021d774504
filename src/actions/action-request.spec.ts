import fc from 'fast-check';
import { prepareCall } from './action-request.js';
import { ActionSchema, type ActionConfig } from './action.schema.js';

const TOKEN = 'tok-3f9a2c7e';
const env = { SHOP_API_TOKEN: TOKEN };

function action(overrides: { request?: Record<string, unknown>; parameters?: Record<string, unknown>; sideEffects?: boolean } = {}): ActionConfig {
  return ActionSchema.parse({
    name: 'order_status',
    description: 'Look up one order.',
    parameters: overrides.parameters ?? {
      type: 'object',
      required: ['order_number'],
      properties: { order_number: { type: 'string' } },
    },
    request: {
      url: 'https://shop.acme.example/api/orders/{order_number}',
      headers: { Authorization: 'Bearer ${SHOP_API_TOKEN}' },
      ...overrides.request,
    },
    response: { fields: ['status'] },
    sideEffects: overrides.sideEffects ?? false,
  });
}

const urlOf = (args: Record<string, unknown>, a = action()) => {
  const sut = prepareCall(a, args, env);
  return sut.ok ? sut.call.url : `refused: ${sut.error}`;
};

describe(prepareCall.name, () => {
  it('builds a GET with the encoded argument, resolved secret and default headers', () => {
    const sut = prepareCall(action(), { order_number: 'A-12345' }, env);
    expect(sut).toEqual({
      ok: true,
      call: {
        method: 'GET',
        url: 'https://shop.acme.example/api/orders/A-12345',
        headers: { Authorization: `Bearer ${TOKEN}`, accept: 'application/json', 'user-agent': 'inbox-va-bridge' },
      },
      secrets: [`Bearer ${TOKEN}`, TOKEN],
    });
  });

  it('keeps accept and user-agent from the file, whatever their case', () => {
    const sut = prepareCall(action({ request: { headers: { Accept: 'application/vnd.acme+json', 'User-Agent': 'acme-bot' } } }), { order_number: 'A-1' }, env);
    expect(sut.ok && sut.call.headers).toEqual({ Accept: 'application/vnd.acme+json', 'User-Agent': 'acme-bot' });
  });

  it.each([
    ['../admin', 'https://shop.acme.example/api/orders/..%2Fadmin'],
    ['%2F', 'https://shop.acme.example/api/orders/%252F'],
    ['a/b', 'https://shop.acme.example/api/orders/a%2Fb'],
    ['x@evil.example', 'https://shop.acme.example/api/orders/x%40evil.example'],
    ['evil.example#', 'https://shop.acme.example/api/orders/evil.example%23'],
    ['?x=1', 'https://shop.acme.example/api/orders/%3Fx%3D1'],
    ['\\evil', 'https://shop.acme.example/api/orders/%5Cevil'],
    ['//evil.example/x', 'https://shop.acme.example/api/orders/%2F%2Fevil.example%2Fx'],
    ['über ß', 'https://shop.acme.example/api/orders/%C3%BCber%20%C3%9F'],
    ['...', 'https://shop.acme.example/api/orders/...'],
    ['%252e%252e', 'https://shop.acme.example/api/orders/%25252e%25252e'],
    [12345, 'https://shop.acme.example/api/orders/12345'],
    [true, 'https://shop.acme.example/api/orders/true'],
  ])('keeps the hostile value %j inside its path segment', (value, url) => {
    expect(urlOf({ order_number: value })).toBe(url);
  });

  it.each([
    ['..', 'order_number must not be . or ..'],
    ['.', 'order_number must not be . or ..'],
    ['%2e%2E', 'order_number must not be . or ..'],
    ['.%2e', 'order_number must not be . or ..'],
    ['', 'order_number is empty'],
    [null, 'order_number must be a string, number or boolean'],
    [{ a: 1 }, 'order_number must be a string, number or boolean'],
    [['A-1'], 'order_number must be a string, number or boolean'],
    ['\uD800', 'order_number is not valid text'],
    ['x'.repeat(9000), 'the URL would be over 8192 characters'],
  ])('refuses the value %j', (value, error) => {
    expect(prepareCall(action(), { order_number: value }, env)).toEqual({ ok: false, error });
  });

  it('refuses a call without the placeholder’s argument, as when it was declared optional', () => {
    expect(prepareCall(action(), {}, env)).toEqual({ ok: false, error: 'order_number is missing' });
  });

  it('refuses dot segments made of several placeholders or a placeholder and literal text', () => {
    const twoParts = action({
      request: { url: 'https://shop.acme.example/api/{a}{b}/x' },
      parameters: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } } },
    });
    expect(urlOf({ a: 'x', b: 'y' }, twoParts)).toBe('https://shop.acme.example/api/xy/x');
    expect(urlOf({ a: '.', b: '.' }, twoParts)).toBe('refused: a must not be . or ..');
    const dotted = action({ request: { url: 'https://shop.acme.example/api/.{order_number}/x' } });
    expect(urlOf({ order_number: 'ok' }, dotted)).toBe('https://shop.acme.example/api/.ok/x');
    expect(urlOf({ order_number: '.' }, dotted)).toBe('refused: order_number must not be . or ..');
  });

  it('refuses a template where a value could finish a %XX escape (%2 + e is %2e, a dot segment)', () => {
    expect(() => action({ request: { url: 'https://shop.acme.example/api/x/%2{order_number}/y' } })).toThrow(/% that does not start a %XX escape/);
  });

  it('refuses a value that would turn literal text into a dot segment', () => {
    // `.` in the template plus `.` from the argument is `..`, which the URL parser resolves.
    const tricky = action({ request: { url: 'https://shop.acme.example/api/x/.{order_number}/y' } });
    expect(urlOf({ order_number: '.' }, tricky)).toMatch(/^refused: /);
  });

  it('encodes query values so they cannot add parameters', () => {
    const search = action({ request: { url: 'https://shop.acme.example/api/search?q={order_number}&limit=1' } });
    expect(urlOf({ order_number: 'a&limit=1000#x' }, search)).toBe('https://shop.acme.example/api/search?q=a%26limit%3D1000%23x&limit=1');
  });

  it('refuses a header whose environment variable is unset, naming the variable only', () => {
    expect(prepareCall(action(), { order_number: 'A-1' }, {})).toEqual({ ok: false, error: 'environment variable SHOP_API_TOKEN is not set' });
    expect(prepareCall(action(), { order_number: 'A-1' }, { SHOP_API_TOKEN: '' })).toEqual({
      ok: false,
      error: 'environment variable SHOP_API_TOKEN is not set',
    });
  });

  it('refuses an environment value a header cannot carry, without quoting it', () => {
    const sut = prepareCall(action(), { order_number: 'A-1' }, { SHOP_API_TOKEN: 'abc\r\nX-Evil: 1' });
    expect(sut).toEqual({ ok: false, error: 'environment variable SHOP_API_TOKEN holds characters an HTTP header cannot carry' });
  });

  it('lists every substituted value and credential-like header as a secret, longest first', () => {
    const a = action({
      request: {
        headers: { 'X-Api-Key': 'literal-key', 'X-Tenant': 'acme-${TENANT}', Cookie: 'sid=${SID}', 'X-Trace': 'on' },
      },
    });
    const sut = prepareCall(a, { order_number: 'A-1' }, { TENANT: 'eu', SID: 's3cr3t' });
    expect(sut.ok && sut.secrets).toEqual(['literal-key', 'sid=s3cr3t', 's3cr3t', 'eu']);
  });

  it('sends the arguments as JSON with an idempotency key on a side-effect call', () => {
    const cancel = action({ request: { method: 'POST', url: 'https://shop.acme.example/api/orders/{order_number}/cancel' }, sideEffects: true });
    const sut = prepareCall(cancel, { order_number: 'A-12345' }, env, { idempotencyKey: 'turn-7f3a' });
    expect(sut.ok && sut.call).toEqual({
      method: 'POST',
      url: 'https://shop.acme.example/api/orders/A-12345/cancel',
      headers: {
        Authorization: `Bearer ${TOKEN}`,
        accept: 'application/json',
        'user-agent': 'inbox-va-bridge',
        'content-type': 'application/json',
        'idempotency-key': 'turn-7f3a',
      },
      body: '{"order_number":"A-12345"}',
    });
    expect(prepareCall(cancel, { order_number: 'A-1' }, env, { idempotencyKey: 'two words' })).toEqual({
      ok: false,
      error: 'the idempotency key is not a valid header value',
    });
  });

  it('sends no body and no idempotency key on a GET', () => {
    const sut = prepareCall(action(), { order_number: 'A-1' }, env, { idempotencyKey: 'k' });
    expect(sut.ok && sut.call.body).toBeUndefined();
    expect(sut.ok && sut.call.headers).not.toHaveProperty('idempotency-key');
  });

  it('keeps the host and the path segment for any value', () => {
    const awkward = fc.constantFrom('.', '/', '\\', '%', '2', 'e', 'E', '@', '#', '?', ':', '&', '=', ' ', '\t', 'é', '\u0000', 'a');
    const value = fc.oneof(fc.string({ unit: awkward, maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 20 }));
    const sut = action();
    fc.assert(
      fc.property(value, (text) => {
        const prepared = prepareCall(sut, { order_number: text }, env);
        if (!prepared.ok) return;
        const url = new URL(prepared.call.url);
        expect(url.origin).toBe('https://shop.acme.example');
        expect(url.pathname.startsWith('/api/orders/')).toBe(true);
        expect(url.pathname.slice('/api/orders/'.length)).not.toContain('/');
        expect(url.search + url.hash).toBe('');
      }),
      { numRuns: 3000 },
    );
  });
});
