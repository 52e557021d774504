import fc from 'fast-check';
import { isValidSignature, signBody } from './signature.js';

const secretArb = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a));
const bodyArb = fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((a) => Buffer.from(a));

describe(isValidSignature.name, () => {
  it('matches HMAC-SHA256 keyed by the hex-decoded secret, in lowercase hex (vector from openssl)', () => {
    // printf '{"a":1}' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0123456789abcdef
    const expected = 'ac115e0934c954ab8a9f90c0f7e5f320c5089e423fad7e9e24583a493fda2f7e';
    const secret = Buffer.from('0123456789abcdef', 'hex');
    expect(signBody(secret, '{"a":1}')).toBe(expected);
    expect(isValidSignature(secret, Buffer.from('{"a":1}'), expected)).toBe(true);
  });

  it('accepts any body signed with its secret, in lower or upper case hex', () => {
    fc.assert(
      fc.property(secretArb, bodyArb, (secret, body) => {
        const signature = signBody(secret, body);
        return isValidSignature(secret, body, signature) && isValidSignature(secret, body, signature.toUpperCase());
      }),
    );
  });

  it('refuses the body once any byte changes', () => {
    fc.assert(
      fc.property(secretArb, bodyArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (secret, body, at, delta) => {
        const signature = signBody(secret, body);
        const changed = Buffer.from(body);
        const i = at % changed.length;
        changed[i] = (changed[i] + delta) % 256;
        return !isValidSignature(secret, changed, signature);
      }),
    );
  });

  it('refuses a signature made with another secret', () => {
    fc.assert(
      fc.property(secretArb, secretArb, bodyArb, (secret, other, body) => {
        fc.pre(!secret.equals(other));
        return !isValidSignature(secret, body, signBody(other, body));
      }),
    );
  });

  it('refuses a signature with any hex digit changed, cut or extended', () => {
    fc.assert(
      fc.property(secretArb, bodyArb, fc.nat(63), fc.integer({ min: 1, max: 15 }), (secret, body, at, delta) => {
        const signature = signBody(secret, body);
        const digit = ((parseInt(signature[at], 16) + delta) % 16).toString(16);
        const changed = signature.slice(0, at) + digit + signature.slice(at + 1);
        return (
          !isValidSignature(secret, body, changed) &&
          !isValidSignature(secret, body, signature.slice(0, 63)) &&
          !isValidSignature(secret, body, `${signature}0`)
        );
      }),
    );
  });

  it('refuses a missing or empty header', () => {
    expect(isValidSignature(Buffer.from('aa', 'hex'), Buffer.from('x'), undefined)).toBe(false);
    expect(isValidSignature(Buffer.from('aa', 'hex'), Buffer.from('x'), '')).toBe(false);
  });
});
