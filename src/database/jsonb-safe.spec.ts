import fc from 'fast-check';
import { textSafe, toJsonbSafe } from './jsonb-safe.js';

// JSON.stringify escapes NUL and lone surrogates (never a whole pair); an even run of backslashes
// before the escape keeps a literal "\u0000" typed by a contact from counting.
const UNSAFE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;
const hasUnsafe = (v: unknown) => UNSAFE_ESCAPE.test(JSON.stringify(v) ?? '');

// The characters that break Postgres, mixed with ordinary ones and whole pairs, so most strings hold some.
const nastyUnit = fc.constantFrom('\u0000', '\ud83d', '\ude00', '😀', 'a', 'é', '\\', 'u');
const anyJson = fc.oneof(fc.jsonValue({ stringUnit: 'binary' }), fc.jsonValue({ stringUnit: nastyUnit }));
const anyText = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: nastyUnit }));

// Node's own well-formedness fix, as the reference (the project's lib is es2023, so no typings).
const reference = (s: string) => (s as unknown as { toWellFormed(): string }).toWellFormed().replaceAll('\u0000', '\ufffd');

describe(toJsonbSafe.name, () => {
  it('replaces NUL and both halves of a broken pair in values and keys', () => {
    const input = { 'a\u0000': ['x \u0000 y', 'half \ud83d', 'other half \ude00', 'whole 😀'], contact: { 'name\udfff': 'Zoë' } };

    const sut = toJsonbSafe(input);

    expect(sut.changed).toBe(true);
    expect(sut.value).toEqual({
      'a\ufffd': ['x \ufffd y', 'half \ufffd', 'other half \ufffd', 'whole 😀'],
      contact: { 'name\ufffd': 'Zoë' },
    });
    expect(input['a\u0000'][0]).toBe('x \u0000 y');
  });

  it('replaces a reversed pair as two lone halves', () => {
    expect(toJsonbSafe('\ude00\ud83d').value).toBe('\ufffd\ufffd');
  });

  it('returns well-formed input itself, unchanged', () => {
    const input = { text: 'hello 😀', n: 1.5, ok: true, none: null, list: [{ a: 'b' }] };

    const sut = toJsonbSafe(input);

    expect(sut).toEqual({ value: input, changed: false });
    expect(sut.value).toBe(input);
  });

  it('keeps untouched branches shared and the changed one copied', () => {
    const clean = { a: 'b' };
    const input = { clean, dirty: ['\u0000'] };

    const sut = toJsonbSafe(input).value;

    expect(sut).not.toBe(input);
    expect(sut.clean).toBe(clean);
    expect(input.dirty[0]).toBe('\u0000');
  });

  it('keeps a "__proto__" key as an own key', () => {
    const input = JSON.parse('{"__proto__": {"polluted": "\\u0000"}, "x": "\\u0000"}') as Record<string, unknown>;

    const sut = toJsonbSafe(input).value;

    expect(Object.keys(sut)).toEqual(['__proto__', 'x']);
    expect(Object.getPrototypeOf(sut)).toBe(Object.prototype);
    expect(JSON.stringify(sut)).toBe('{"__proto__":{"polluted":"\ufffd"},"x":"\ufffd"}');
  });

  it('passes numbers, booleans, null and undefined through', () => {
    for (const v of [0, -0, NaN, 1e308, true, false, null, undefined]) {
      expect(toJsonbSafe(v)).toEqual({ value: v, changed: false });
    }
  });

  it('leaves nothing Postgres refuses, for any JSON value', () => {
    fc.assert(
      fc.property(anyJson, (input) => {
        const sut = toJsonbSafe(input);
        expect(hasUnsafe(sut.value)).toBe(false);
        expect(JSON.stringify(sut.value)).not.toContain('\u0000');
        expect(sut.changed).toBe(hasUnsafe(input));
        expect(toJsonbSafe(sut.value).changed).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('returns well-formed JSON values as they are', () => {
    fc.assert(
      fc.property(anyJson, (input) => {
        fc.pre(!hasUnsafe(input));
        expect(toJsonbSafe(input)).toEqual({ value: input, changed: false });
        expect(toJsonbSafe(input).value).toBe(input);
      }),
    );
  });

  it('changes nothing but the unsafe characters', () => {
    fc.assert(
      fc.property(fc.dictionary(anyText, anyText), (input) => {
        const expected = Object.fromEntries(Object.entries(input).map(([k, v]) => [reference(k), reference(v)]));
        expect(toJsonbSafe(input).value).toEqual(expected);
      }),
    );
  });
});

describe(textSafe.name, () => {
  it('agrees with toWellFormed plus NUL replacement, for any string', () => {
    fc.assert(fc.property(anyText, (s) => textSafe(s) === reference(s)));
  });

  it('returns the same string when it is well formed', () => {
    const s = 'plain text, and a pair 😀';
    expect(textSafe(s)).toBe(s);
  });

  it('passes null and undefined through', () => {
    expect(textSafe(null)).toBeNull();
    expect(textSafe(undefined)).toBeUndefined();
  });
});
