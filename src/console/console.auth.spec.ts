import fc from 'fast-check';
import { passwordMatches, safeNext, sessionSecret } from './console.auth.js';

describe(passwordMatches.name, () => {
  it('accepts the password and nothing else', () => {
    expect(passwordMatches('correct horse battery', 'correct horse battery')).toBe(true);
    expect(passwordMatches('correct horse batter', 'correct horse battery')).toBe(false);
    expect(passwordMatches('', 'correct horse battery')).toBe(false);
    expect(passwordMatches(undefined, 'correct horse battery')).toBe(false);
    expect(passwordMatches(['correct horse battery'], 'correct horse battery')).toBe(false);
  });
});

describe(sessionSecret.name, () => {
  it('derives the same key from the same password, and another from another', () => {
    const sut = sessionSecret({ CONSOLE_PASSWORD: 'correct horse battery' });
    expect(sut).toMatch(/^[0-9a-f]{64}$/);
    expect(sessionSecret({ CONSOLE_PASSWORD: 'correct horse battery' })).toBe(sut);
    expect(sessionSecret({ CONSOLE_PASSWORD: 'correct horse battery!' })).not.toBe(sut);
    expect(sut).not.toContain('correct');
  });

  it('prefers CONSOLE_SESSION_SECRET when set', () => {
    expect(sessionSecret({ CONSOLE_PASSWORD: 'correct horse battery', CONSOLE_SESSION_SECRET: 'x'.repeat(40) })).toBe('x'.repeat(40));
  });
});

describe(safeNext.name, () => {
  it.each([
    ['/console/overview?window=7d', '/console/overview?window=7d'],
    ['/console', '/console'],
    ['/console/conversations/abc#decision-1', '/console/conversations/abc'],
  ])('keeps a console path: %s', (next, expected) => {
    expect(safeNext(next)).toBe(expected);
  });

  it.each(['//evil.example', '/\\evil.example', 'https://evil.example/console', '/other', '/consoles', '/console/../webhooks/x', '/console/login', '', 'javascript:alert(1)', undefined, ['/console']])(
    'replaces %p with the conversations',
    (next) => {
      expect(safeNext(next)).toBe('/console/conversations');
    },
  );

  it('only ever answers a path of the console itself', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl(), fc.string().map((s) => `/console/${s}`), fc.string().map((s) => `//${s}`)), (next) => {
        const sut = safeNext(next);
        expect(sut === '/console' || sut.startsWith('/console/')).toBe(true);
        expect(new URL(sut, 'https://bridge.example').origin).toBe('https://bridge.example');
      }),
    );
  });
});
