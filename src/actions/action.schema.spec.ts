import { ActionSchema, compileArguments, envReferences, toolDefinition } from './action.schema.js';

const orderStatus = () => ({
  name: 'order_status',
  description: 'Look up the shipping status of one order by its number.',
  parameters: {
    type: 'object',
    required: ['order_number'],
    properties: { order_number: { type: 'string', pattern: '^A-[0-9]{5}$' } },
  },
  request: {
    method: 'GET',
    url: 'https://shop.acme.example/api/orders/{order_number}',
    headers: { Authorization: 'Bearer ${SHOP_API_TOKEN}' },
    timeout: '3s',
  },
  response: { fields: ['status', 'carrier', 'eta'], maxBytes: 4096 },
  requires: ['order_number'],
  sideEffects: false,
});

type Input = ReturnType<typeof orderStatus>;

/** `path: message` of every issue, for the input after `change`. */
function issuesOf(change: (a: Input & Record<string, unknown>) => void): string[] {
  const input = orderStatus();
  change(input);
  const result = ActionSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const parse = (change: (a: Input & Record<string, unknown>) => void = () => undefined) => {
  const input = orderStatus();
  change(input);
  return ActionSchema.parse(input);
};

describe('ActionSchema', () => {
  it('accepts the declaration from the issue and converts the timeout to ms', () => {
    const sut = parse();
    expect(sut.request).toMatchObject({ method: 'GET', timeout: 3000 });
    expect(sut.response).toEqual({ fields: ['status', 'carrier', 'eta'], maxBytes: 4096 });
  });

  it('fills defaults for method, headers, timeout, maxBytes, requires and sideEffects', () => {
    const sut = ActionSchema.parse({
      name: 'store_hours',
      description: '  Opening hours of the shop.  ',
      request: { url: 'https://shop.acme.example/api/hours' },
      response: { fields: ['hours'] },
    });
    expect(sut).toMatchObject({
      description: 'Opening hours of the shop.',
      parameters: { type: 'object', properties: {} },
      request: { method: 'GET', headers: {}, timeout: 3000 },
      response: { maxBytes: 4096 },
      requires: [],
      sideEffects: false,
    });
  });

  it('refuses unknown keys at every level', () => {
    expect(
      issuesOf((a) => {
        a.side_effects = true;
        (a.request as Record<string, unknown>).retries = 2;
        (a.response as Record<string, unknown>).field = 'x';
      }),
    ).toEqual([
      'request: Unrecognized key: "retries"',
      'response: Unrecognized key: "field"',
      ': Unrecognized key: "side_effects"',
    ]);
  });

  it('holds the name to the OpenAI function name rule', () => {
    expect(issuesOf((a) => (a.name = 'order status'))).toEqual([expect.stringMatching(/^name: must be 1 to 64/)]);
    expect(issuesOf((a) => (a.name = 'x'.repeat(65)))).toHaveLength(1);
    expect(issuesOf((a) => (a.name = 'Order-Status_2'))).toEqual([]);
  });

  it('wants a description of 1 to 1024 characters', () => {
    expect(issuesOf((a) => (a.description = '   '))).toEqual(['description: must not be empty']);
    expect(issuesOf((a) => (a.description = 'x'.repeat(1025)))).toEqual(['description: must be at most 1024 characters']);
  });

  describe('parameters', () => {
    it('must describe an object', () => {
      expect(issuesOf((a) => ((a.parameters as Record<string, unknown>).type = 'array'))).toContain(
        'parameters.type: must be "object": the arguments are one JSON object',
      );
    });

    it('must compile, with the compiler’s reason', () => {
      const issues = issuesOf((a) => (a.parameters.properties.order_number = { type: 'text' } as never));
      expect(issues).toEqual([expect.stringMatching(/^parameters: is not a valid JSON Schema: schema is invalid: .*type/)]);
    });

    it('refuses a misspelt keyword, which would otherwise check nothing', () => {
      const issues = issuesOf((a) => ((a.parameters as Record<string, unknown>).requried = ['order_number']));
      expect(issues).toEqual([expect.stringMatching(/^parameters: is not a valid JSON Schema: .*unknown keyword: "requried"/)]);
    });

    it('refuses an unknown format and accepts a standard one', () => {
      const withFormat = (format: string) => () =>
        issuesOf((a) => (a.parameters.properties.order_number = { type: 'string', format } as never));
      expect(withFormat('order-id')()).toEqual([expect.stringMatching(/unknown format "order-id"/)]);
      expect(withFormat('email')()).toEqual([]);
    });

    it('refuses an unresolvable $ref and $async', () => {
      expect(issuesOf((a) => (a.parameters.properties.order_number = { $ref: 'https://x.example/s.json' } as never))).toEqual([
        expect.stringMatching(/^parameters: is not a valid JSON Schema: can't resolve reference/),
      ]);
      expect(issuesOf((a) => ((a.parameters as Record<string, unknown>).$async = true))).toEqual([
        'parameters.$async: is not supported: arguments are checked synchronously',
      ]);
    });

    it('lets two actions use the same $id', () => {
      const withId = () => parse((a) => ((a.parameters as Record<string, unknown>).$id = 'https://acme.example/order'));
      expect(() => [withId(), withId()]).not.toThrow();
    });

    it('must declare every URL placeholder, as a scalar', () => {
      expect(issuesOf((a) => (a.request.url = 'https://shop.acme.example/api/orders/{order_number}/{line}'))).toEqual([
        'request.url: has {line}, which parameters.properties does not declare',
      ]);
      expect(issuesOf((a) => (a.parameters.properties.order_number = { type: 'object' } as never))).toEqual([
        'parameters.properties.order_number: fills {order_number} in request.url, so it must be a string, number or boolean',
      ]);
    });

    it('refuses, for a GET, a parameter the request never sends', () => {
      expect(issuesOf((a) => ((a.parameters.properties as Record<string, unknown>).reason = { type: 'string' }))).toEqual([
        'parameters.properties.reason: is never sent: a GET passes arguments only through {placeholders} in request.url',
      ]);
    });
  });

  describe('request', () => {
    it('wants sideEffects: true for any method but GET', () => {
      expect(issuesOf((a) => (a.request.method = 'POST'))).toEqual([
        'request.method: POST may change something, so the action needs sideEffects: true',
      ]);
      expect(
        issuesOf((a) => {
          a.request.method = 'DELETE';
          a.sideEffects = true;
        }),
      ).toEqual([]);
      expect(issuesOf((a) => (a.request.method = 'HEAD'))).toContainEqual(expect.stringMatching(/^request.method: must be one of GET, POST/));
    });

    it('sends arguments not in the URL in the body of a non-GET call, so they may be declared', () => {
      const sut = parse((a) => {
        a.request.method = 'POST';
        a.sideEffects = true;
        (a.parameters.properties as Record<string, unknown>).reason = { type: 'string' };
      });
      expect(sut.request.method).toBe('POST');
    });

    it.each([
      ['https://{host}/api/orders/{order_number}', /scheme, host or port/],
      ['https://shop.acme.example/api/orders/{order_number}?token=${SHOP_API_TOKEN}', /environment values go in request.headers/],
      ['https://user:pw@shop.acme.example/api/orders/{order_number}', /user or password/],
      ['http://', /not an absolute URL/],
    ])('refuses the URL %s', (url, message) => {
      expect(issuesOf((a) => (a.request.url = url))).toEqual([expect.stringMatching(new RegExp(`^request.url: .*${message.source}`))]);
    });

    it('checks header names, refuses framing headers and a fixed Idempotency-Key', () => {
      const issues = issuesOf(
        (a) =>
          (a.request.headers = {
            Authorization: 'Bearer ${SHOP_API_TOKEN}',
            'Bad Name': 'x',
            Host: 'evil.example',
            'content-length': '3',
            'Transfer-Encoding': 'chunked',
            Connection: 'close',
            'Idempotency-Key': 'fixed',
            authorization: 'again',
          } as never),
      );
      expect(issues).toEqual([
        'request.headers.Bad Name: is not a valid header name',
        'request.headers.Host: is set by the bridge and may not be set here',
        'request.headers.content-length: is set by the bridge and may not be set here',
        'request.headers.Transfer-Encoding: is set by the bridge and may not be set here',
        'request.headers.Connection: is set by the bridge and may not be set here',
        'request.headers.Idempotency-Key: is set by the bridge and may not be set here',
        'request.headers.authorization: is set twice (header names ignore case)',
      ]);
    });

    it('refuses a malformed ${…} and a multi-line header value', () => {
      expect(issuesOf((a) => (a.request.headers = { Authorization: 'Bearer ${shop-token}' }))).toEqual([
        expect.stringMatching(/^request.headers.Authorization: has a malformed \$\{…\}/),
      ]);
      expect(issuesOf((a) => (a.request.headers = { 'X-A': 'a\r\nX-B: b' } as never))).toEqual(['request.headers.X-A: must be one line']);
    });

    it('accepts a number as a header value', () => {
      expect(parse((a) => (a.request.headers = { 'X-Api-Version': 2 } as never)).request.headers).toEqual({ 'X-Api-Version': '2' });
    });

    it('holds the timeout between 100ms and 30s', () => {
      expect(issuesOf((a) => (a.request.timeout = '50ms'))).toEqual(['request.timeout: must be at least 100ms']);
      expect(issuesOf((a) => (a.request.timeout = '31s'))).toEqual(['request.timeout: must be at most 30s']);
      expect(issuesOf((a) => (a.request.timeout = 'soon'))).toEqual([expect.stringMatching(/^request.timeout: "soon" is not a duration/)]);
      expect(parse((a) => (a.request.timeout = '30s')).request.timeout).toBe(30_000);
    });
  });

  describe('response', () => {
    it('needs at least one field, each a name or dot path', () => {
      expect(issuesOf((a) => (a.response.fields = []))).toEqual([
        'response.fields: must list at least one field: only listed fields reach the LLM',
      ]);
      expect(issuesOf((a) => (a.response.fields = ['shipment.eta', 'items.0.sku', 'a..b', '$.x']))).toEqual([
        'response.fields.2: must be a field name or dot path like shipment.eta',
        'response.fields.3: must be a field name or dot path like shipment.eta',
      ]);
    });

    it('holds maxBytes between 256 and 65536', () => {
      expect(issuesOf((a) => (a.response.maxBytes = 255))).toHaveLength(1);
      expect(issuesOf((a) => (a.response.maxBytes = 65_537))).toHaveLength(1);
      expect(issuesOf((a) => (a.response.maxBytes = 1000.5))).toHaveLength(1);
    });
  });

  it('wants requires to be contact attribute keys', () => {
    expect(issuesOf((a) => (a.requires = ['order-number']))).toEqual(['requires.0: must be a contact attribute key']);
  });
});

describe(envReferences.name, () => {
  it('lists each variable the headers reference once', () => {
    const sut = parse(
      (a) =>
        (a.request.headers = {
          Authorization: 'Bearer ${SHOP_API_TOKEN}',
          'X-Tenant': '${TENANT}-${SHOP_API_TOKEN}',
          'X-Plain': 'a$b',
        } as never),
    );
    expect(envReferences(sut)).toEqual(['SHOP_API_TOKEN', 'TENANT']);
  });
});

describe(compileArguments.name, () => {
  const sut = compileArguments(parse());

  it('accepts valid arguments and returns a copy', () => {
    const args = { order_number: 'A-12345' };
    const result = sut(args);
    expect(result).toEqual({ ok: true, value: { order_number: 'A-12345' } });
    expect(result.ok && result.value).not.toBe(args);
  });

  it('caches the validator per action', () => {
    const action = parse();
    expect(compileArguments(action)).toBe(compileArguments(action));
  });

  it.each([
    [{ order_number: 'B-1' }, 'order_number must match pattern "^A-[0-9]{5}$"'],
    [{}, 'order_number is required'],
    [{ order_number: 'A-12345', extra: 1 }, 'extra is not a declared parameter'],
    [{ order_number: 12345 }, 'order_number must be string'],
    [[], 'arguments must be a JSON object'],
    ['A-12345', 'arguments must be a JSON object'],
    [null, 'arguments must be a JSON object'],
  ])('refuses %j with one readable line', (args, error) => {
    expect(sut(args)).toEqual({ ok: false, error });
  });

  it('never echoes what the LLM sent, however long', () => {
    const long = 'x'.repeat(10_000);
    const result = sut({ order_number: 'A-12345', [long]: long });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.length).toBeLessThanOrEqual(200);
    expect(!result.ok && result.error).toMatch(/^x{39}… is not a declared parameter$/);
  });

  it('names nested paths and lists allowed values', () => {
    const nested = compileArguments(
      ActionSchema.parse({
        ...orderStatus(),
        request: { method: 'POST', url: 'https://shop.acme.example/api/orders/{order_number}/notes' },
        sideEffects: true,
        parameters: {
          type: 'object',
          required: ['order_number', 'note'],
          properties: {
            order_number: { type: 'string' },
            note: { type: 'object', properties: { kind: { enum: ['delay', 'damage'] } } },
          },
        },
      }),
    );
    expect(nested({ order_number: 'A-1', note: { kind: 'other' } })).toEqual({
      ok: false,
      error: 'note.kind must be one of ["delay","damage"]',
    });
  });

  it('fills declared defaults', () => {
    const withDefault = compileArguments(
      ActionSchema.parse({
        ...orderStatus(),
        request: { url: 'https://shop.acme.example/api/orders/{order_number}?lang={lang}' },
        parameters: {
          type: 'object',
          required: ['order_number'],
          properties: { order_number: { type: 'string' }, lang: { type: 'string', default: 'en' } },
        },
      }),
    );
    expect(withDefault({ order_number: 'A-1' })).toEqual({ ok: true, value: { order_number: 'A-1', lang: 'en' } });
  });

  it('lets undeclared arguments through only when the file says so', () => {
    const open = compileArguments(parse((a) => ((a.parameters as Record<string, unknown>).additionalProperties = true)));
    expect(open({ order_number: 'A-12345', extra: 1 }).ok).toBe(true);
  });
});

describe(toolDefinition.name, () => {
  it('is an OpenAI function tool whose parameters refuse undeclared arguments, without strict mode', () => {
    const action = parse();
    expect(toolDefinition(action)).toEqual({
      type: 'function',
      function: {
        name: 'order_status',
        description: 'Look up the shipping status of one order by its number.',
        parameters: { ...orderStatus().parameters, additionalProperties: false },
      },
    });
    expect(action.parameters).not.toHaveProperty('additionalProperties');
  });
});
