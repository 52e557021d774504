import { isDotSegment, parseUrlTemplate } from './url-template.js';

const errorOf = (text: string) => {
  const sut = parseUrlTemplate(text);
  return sut.ok ? undefined : sut.error;
};

describe(parseUrlTemplate.name, () => {
  it('finds placeholders in the path and in query values, and keeps the literal origin and path prefix', () => {
    const sut = parseUrlTemplate('https://shop.acme.example/api/orders/{order_number}?lang={lang}');
    expect(sut).toEqual({
      ok: true,
      template: {
        placeholders: [
          { name: 'order_number', start: 37, end: 51, inQuery: false },
          { name: 'lang', start: 57, end: 63, inQuery: true },
        ],
        origin: 'https://shop.acme.example',
        pathPrefix: '/api/orders/',
        pathIsLiteral: false,
      },
    });
  });

  it('takes the whole path as literal when placeholders are only in the query', () => {
    const sut = parseUrlTemplate('http://127.0.0.1:8080/search?q={q}');
    expect(sut.ok && sut.template).toMatchObject({ origin: 'http://127.0.0.1:8080', pathPrefix: '/search', pathIsLiteral: true });
  });

  it('normalises the literal prefix the way built URLs will be', () => {
    const sut = parseUrlTemplate('https://h.example/café/{id}');
    expect(sut.ok && sut.template.pathPrefix).toBe('/caf%C3%A9/');
  });

  it.each([
    ['https://{tenant}.acme.example/orders', /scheme, host or port/],
    ['https://acme.example:{port}/orders', /scheme, host or port/],
    ['{scheme}://acme.example/orders', /starting with http/],
    ['https://acme.example{path}', /scheme, host or port/],
    ['https://{user}@acme.example/orders', /scheme, host or port/],
    ['https://user:pass@acme.example/orders', /user or password/],
    ['https://acme.example/orders?{key}=1', /query parameter name/],
    ['https://acme.example/orders?a=1&{key}', /query parameter name/],
    ['https://acme.example/orders#{frag}', /fragment/],
    ['https://acme.example/${TOKEN}/orders', /environment values/],
    ['https://acme.example/orders/{order.number}', /placeholder/],
    ['https://acme.example/orders/{}', /placeholder/],
    ['https://acme.example/orders/{a', /not part of a \{name\}/],
    ['https://acme.example/orders/a}', /not part of a \{name\}/],
    ['ftp://acme.example/orders', /starting with http/],
    ['/api/orders/{id}', /starting with http/],
    ['https:acme.example/orders', /starting with http/],
    ['https://acme.example\\orders/{id}', /backslashes/],
    ['https://acme.example/orders/{id} ', /spaces/],
    ['https://acme.example/a/../{id}', /\. or \.\. path segments/],
    ['https://acme.example/a/%2E/{id}', /\. or \.\. path segments/],
    ['https://', /not an absolute URL/],
  ])('refuses %s', (text, message) => {
    expect(errorOf(text)).toMatch(message);
  });

  it('accepts placeholders inside a segment and in several query values', () => {
    expect(errorOf('https://acme.example/orders/A-{n}.json?a={x}&b=pre-{y}')).toBeUndefined();
  });
});

describe(isDotSegment.name, () => {
  it('knows every spelling the URL parser resolves', () => {
    for (const s of ['.', '..', '%2e', '%2E', '.%2e', '%2e.', '%2E%2e']) expect(isDotSegment(s)).toBe(true);
    for (const s of ['', '...', 'a.', '.a', '%2e%2e%2e', '%252e']) expect(isDotSegment(s)).toBe(false);
  });
});
