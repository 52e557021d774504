import fc from 'fast-check';
import { RedactionSchema } from './redaction.schema.js';
import { Redactor, ibanValid, isCardNumber, isPhoneNumber, luhnValid, maskCards, maskCardsJson } from './redaction.js';

const all = RedactionSchema.parse({ detect: ['email', 'phone', 'card', 'iban'], custom: [{ name: 'ORDER_REF', pattern: 'ORD-\\d{6}' }] });

describe('luhnValid', () => {
  it.each(['4242424242424242', '4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '3530111333300000'])('accepts the test card %s', (n) => {
    expect(luhnValid(n)).toBe(true);
  });

  it('rejects a number with one digit changed', () => {
    expect(luhnValid('4242424242424241')).toBe(false);
  });

  it('catches every single-digit change of a valid number (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 9 }), (at, delta) => {
        const digits = '4242424242424242'.split('').map(Number);
        digits[at] = (digits[at] + delta) % 10;
        return !luhnValid(digits.join(''));
      }),
    );
  });
});

describe('ibanValid', () => {
  it.each(['DE89370400440532013000', 'GB82WEST12345698765432', 'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'de89370400440532013000'])('accepts %s', (iban) => {
    expect(ibanValid(iban)).toBe(true);
  });

  it.each(['DE89370400440532013001', 'GB82WEST1234569876543', 'XX00', 'DE8937040044'])('rejects %s', (iban) => {
    expect(ibanValid(iban)).toBe(false);
  });
});

describe('isCardNumber and isPhoneNumber', () => {
  it('takes only 13 to 19 digits in the networks\' ranges, never a run of one digit', () => {
    expect(isCardNumber('4242424242424242')).toBe(true);
    expect(isCardNumber('0000000000000000')).toBe(false);
    expect(isCardNumber('1234567890123452')).toBe(false); // passes Luhn, but no network starts with 1
    expect(isCardNumber('424242424242')).toBe(false);
  });

  it('takes a number written as a phone number, not a date or a bare reference', () => {
    expect(isPhoneNumber('+49 30 1234567')).toBe(true);
    expect(isPhoneNumber('0044 20 7946 0958')).toBe(true);
    expect(isPhoneNumber('030 1234567')).toBe(true);
    expect(isPhoneNumber('(555) 123-4567')).toBe(true);
    expect(isPhoneNumber('2024-03-05')).toBe(false);
    expect(isPhoneNumber('05.03.2024')).toBe(false);
    expect(isPhoneNumber('1234567890')).toBe(false);
  });
});

describe(Redactor.name, () => {
  it('replaces each detected value with a placeholder numbered by first appearance, the same value the same everywhere', () => {
    const sut = new Redactor(all);
    expect(sut.redact('Mail jo@example.com or ann@example.org, card 4242 4242 4242 4242')).toBe('Mail [EMAIL_1] or [EMAIL_2], card [CARD_1]');
    // Another message of the same prompt: the same values, spelled otherwise, keep their placeholders.
    expect(sut.redact('again JO@Example.com and 4242-4242-4242-4242, then 4242424242424242')).toBe('again [EMAIL_1] and [CARD_1], then [CARD_1]');
    expect(sut.placeholders).toEqual(['[EMAIL_1]', '[EMAIL_2]', '[CARD_1]']);
  });

  it('finds cards with spaces or dashes, IBANs grouped or not, and a custom pattern', () => {
    const sut = new Redactor(all);
    expect(sut.redact('IBAN DE89 3704 0044 0532 0130 00 please, or gb82west12345698765432. Ref ORD-123456.')).toBe('IBAN [IBAN_1] please, or [IBAN_2]. Ref [ORDER_REF_1].');
    expect(sut.redact('card 4111-1111-1111-1111 exp 12/27')).toBe('card [CARD_1] exp 12/27');
    // A run longer than a card: the card inside it, on group boundaries.
    expect(sut.redact('card 5555 5555 5555 4444 2027')).toBe('card [CARD_2] 2027');
    expect(sut.redact('call +49 30 1234567 or (555) 123-4567')).toBe('call [PHONE_1] or [PHONE_2]');
  });

  it('leaves order numbers, dates, amounts and near-misses alone', () => {
    const sut = new Redactor(all);
    const text = [
      'Order A-12345 of 2024-03-05 (05.03.2024), 249.99 EUR, tracking 1Z999AA10123456784,',
      'invoice 1234567890123, order 9876543210, card 4242 4242 4242 4241, ref A-4242424242424242,',
      'IBAN DE88 3704 0044 0532 0130 00, user@localhost, at 10:30, 3 x 4 items',
    ].join(' ');
    expect(sut.redact(text)).toBe(text);
    expect(sut.size).toBe(0);
  });

  it('redacts cards and IBANs by default, e-mail and phone only when asked', () => {
    const sut = new Redactor(RedactionSchema.parse({}));
    expect(sut.redact('4242424242424242 DE89370400440532013000 jo@example.com +49 30 1234567')).toBe('[CARD_1] [IBAN_1] jo@example.com +49 30 1234567');
  });

  it('redacts nothing for an agent that turns every detector off', () => {
    const sut = new Redactor({ detect: [], custom: [] });
    expect(sut.redact('4242424242424242')).toBe('4242424242424242');
  });

  it('restores what the LLM writes: values back, cards masked, invented placeholders left and reported', () => {
    const sut = new Redactor(all);
    sut.redact('jo@example.com 4242 4242 4242 4242 DE89370400440532013000');
    expect(sut.restore('Noted [EMAIL_1]; card [CARD_1]; IBAN [IBAN_1]; [EMAIL_7] [NOT_A_LABEL_1]')).toEqual({
      text: 'Noted jo@example.com; card •••• 4242; IBAN DE89370400440532013000; [EMAIL_7] [NOT_A_LABEL_1]',
      unknown: ['[EMAIL_7]'],
      cards: 1,
    });
  });

  it('never restores a card into an attribute or a call argument', () => {
    const sut = new Redactor(all);
    sut.redact('jo@example.com 4242 4242 4242 4242');
    expect(sut.restoreAttribute('[EMAIL_1]')).toEqual({ value: 'jo@example.com' });
    expect(sut.restoreAttribute('[CARD_1]')).toEqual({ dropped: expect.stringMatching(/payment card/) });
    expect(sut.restoreAttribute('[EMAIL_2]')).toEqual({ dropped: expect.stringMatching(/\[EMAIL_2\]/) });
    expect(sut.restoreJson({ email: '[EMAIL_1]', cards: ['[CARD_1]'], n: 3 })).toEqual({ email: 'jo@example.com', cards: ['[CARD_1]'], n: 3 });
  });

  it('round-trips any text without a placeholder-like token (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('jo@example.com', '4242 4242 4242 4242', 'DE89 3704 0044 0532 0130 00', '+33 6 12 34 56 78', 'ORD-654321'), (noise, value) => {
        fc.pre(!noise.includes('['));
        const sut = new Redactor(all);
        // Apart from the noise by a full stop: a digit written right beside a card, with only a space, may be read as part of it.
        const text = `${noise}. ${value} .${noise}`;
        const redacted = sut.redact(text);
        return !redacted.includes(value) && sut.restore(redacted).text === (value.startsWith('4242') ? text.replaceAll(value, '•••• 4242') : text);
      }),
    );
  });
});

describe('maskCards', () => {
  it('masks every card number, whatever the detectors, and nothing else', () => {
    expect(maskCards('Charged on 4242 4242 4242 4242 and 5555-5555-5555-4444; order A-12345, 1234567890123')).toBe(
      'Charged on •••• 4242 and •••• 4444; order A-12345, 1234567890123',
    );
  });
});

describe('cards written with other separators (review)', () => {
  const cards = ['4242424242424242', '5555555555554444', '4111111111111111', '378282246310005', '6011111111111117'];
  /** A card in groups of four, each gap one of the given separators. */
  const grouped = (digits: string, gaps: string[]) => digits.match(/.{1,4}/g)!.map((g, i) => (i ? gaps[(i - 1) % gaps.length] : '') + g).join('');

  it.each([
    ['a no-break space', '4242\u00A04242\u00A04242\u00A04242'],
    ['a narrow no-break space', '4242\u202F4242\u202F4242\u202F4242'],
    ['line breaks', '4242\n4242\r\n4242\n4242'],
    ['double spaces', '4242  4242  4242  4242'],
    ['dots', '4242.4242.4242.4242'],
    ['slashes', '4242/4242/4242/4242'],
    ['a tab and mixed marks', '4242\t4242 -4242. 4242'],
  ])('finds a card written with %s, redacts it and masks it', (_, card) => {
    const sut = new Redactor(all);
    expect(sut.redact(`pay with ${card} today`)).toBe('pay with [CARD_1] today');
    expect(sut.redact('and 4242424242424242')).toBe('and [CARD_1]'); // one card, one placeholder
    expect(maskCards(`card: ${card}.`)).toBe('card: •••• 4242.');
  });

  it('finds any card with any one or two separators between its groups, and masks it the same way (property)', () => {
    const sep = fc.constantFrom(' ', '\u00A0', '\u202F', '\n', '\t', '.', '/', '-');
    const gap = fc.oneof(sep, fc.tuple(sep, sep).map(([a, b]) => a + b));
    fc.assert(
      fc.property(fc.constantFrom(...cards), fc.array(gap, { minLength: 1, maxLength: 4 }), fc.constantFrom('', 'card ', 'Card: ', '(', 'paid with\n'), (digits, gaps, before) => {
        const card = grouped(digits, gaps);
        const text = `${before}${card} thanks`;
        const sut = new Redactor(all);
        const redacted = sut.redact(text);
        return redacted === `${before}[CARD_1] thanks` && maskCards(text) === `${before}•••• ${digits.slice(-4)} thanks` && sut.restoreAttribute(redacted).hasOwnProperty('dropped');
      }),
    );
  });

  it('still leaves dates, amounts, phone numbers with + and near-misses alone', () => {
    const sut = new Redactor(RedactionSchema.parse({}));
    const text = [
      'on 2024/03/05 or 05/03/2024 or 2024.03.05, 249.99 EUR, 1.234.567,89 EUR, at 10:30,',
      // +49 3012 3456 786: its digits pass Luhn, but a number after + is a phone number.
      'call +49 3012 3456 786 or +44 7911 123456 or +49 30 1234567, card 4242\u00A04242\u00A04242\u00A04241, 4242/4242/4242',
    ].join('\n');
    expect(sut.redact(text)).toBe(text);
    expect(maskCards(text)).toBe(text);
  });

  it('takes the card, not a number written just before or after it, where both could pass Luhn', () => {
    // "59" + the card and the card + "6" pass Luhn too; the card is the one written in one style, starting with four digits.
    expect([luhnValid('594242424242424242'), luhnValid('42424242424242426')]).toEqual([true, true]);
    expect(maskCards('item 59. 4242 4242 4242 4242 .6')).toBe('item 59. •••• 4242 .6');
    expect(maskCards('qty 59 4242 4242 4242 4242')).toBe('qty 59 •••• 4242');
  });

  it('does not join groups across more than two separators', () => {
    expect(maskCards('4242   4242 4242 4242')).toBe('4242   4242 4242 4242');
  });
});

describe('IBANs after something that starts like one (review)', () => {
  it.each([
    ['Refund to DE89370400440532013000 or to GB82WEST12345698765432', 'Refund to [IBAN_1] or to [IBAN_2]'],
    ['Order PO1234 refund to DE89 3704 0044 0532 0130 00 please', 'Order PO1234 refund to [IBAN_1] please'],
    ['I moved to SW19 5AE my iban is GB82 WEST 1234 5698 7654 32', 'I moved to SW19 5AE my iban is [IBAN_1]'],
    ['ab12 DE89370400440532013000', 'ab12 [IBAN_1]'],
    ['DE89 3704 0044 0532 0130 00 GB82 WEST 1234 5698 7654 32', '[IBAN_1] [IBAN_2]'],
  ])('%s', (text, redacted) => {
    expect(new Redactor(RedactionSchema.parse({})).redact(text)).toBe(redacted);
  });

  it('finds an IBAN after any words that look like the start of one (property)', () => {
    const lookalike = fc.tuple(fc.stringMatching(/^[A-Z]{2}\d{2}[A-Z0-9]{0,6}$/), fc.constantFrom(' ', '-')).map(([w, s]) => w + s);
    fc.assert(
      fc.property(fc.array(lookalike, { maxLength: 4 }), fc.constantFrom('DE89370400440532013000', 'GB82 WEST 1234 5698 7654 32', 'NL91ABNA0417164300'), (before, iban) => {
        const redacted = new Redactor(RedactionSchema.parse({})).redact(`${before.join('')}${iban} thanks`);
        // The words around may pass mod 97 by chance with it (hidden with it: one in 97 per length
        // tried); the IBAN is always hidden, neither its head nor its tail left in clear.
        return /\[IBAN_\d\]/.test(redacted) && !redacted.includes(iban.slice(0, 6)) && !redacted.includes(iban.slice(-6));
      }),
    );
  });
});

describe('e-mail addresses with RFC 5322 characters (review)', () => {
  const email = RedactionSchema.parse({ detect: ['email'] });

  it.each([
    ["o'brien@example.ie", "o'brien@example.ie"],
    ['a!b#c$d%e&f*g+h=i?j^k_l`m{n|o}p~q/r@example.com', 'a!b#c$d%e&f*g+h=i?j^k_l`m{n|o}p~q/r@example.com'],
  ])('takes %s whole and restores it whole', (address) => {
    const sut = new Redactor(email);
    expect(sut.redact(`mail ${address} please`)).toBe('mail [EMAIL_1] please');
    expect(sut.restoreAttribute('[EMAIL_1]')).toEqual({ value: address });
  });

  it.each([
    ['jo@example.com-thanks', '[EMAIL_1]-thanks'],
    ['("jo@example.com")', '("[EMAIL_1]")'],
    ["'jo@example.com'", "'[EMAIL_1]'"],
    ['`jo@example.com`', '`[EMAIL_1]`'],
    ['{jo@example.com}', '{[EMAIL_1]}'],
    ['*jo@example.com*', '*[EMAIL_1]*'],
    ['<jo@example.com>, [jo@example.com]', '<[EMAIL_1]>, [[EMAIL_1]]'],
    ['mail:jo@example.com.', 'mail:[EMAIL_1].'],
    ['jo@mail.example-shop.org', '[EMAIL_1]'],
  ])('%s gives %s', (text, redacted) => {
    expect(new Redactor(email).redact(text)).toBe(redacted);
  });
});

describe('JSON keys (review)', () => {
  it('redacts object keys too, keeping both of two keys that get one placeholder', () => {
    const sut = new Redactor(all);
    const result = sut.redactJson({ 'jo@example.com': { card: '4242 4242 4242 4242' }, '4242-4242-4242-4242': 'visa', '4242424242424242': 'again', list: [{ 'ann@example.org': 1 }] });
    expect(result).toEqual({ '[EMAIL_1]': { card: '[CARD_1]' }, '[CARD_1]': 'visa', '[CARD_1] (2)': 'again', list: [{ '[EMAIL_2]': 1 }] });
    expect(JSON.stringify(result)).not.toMatch(/example|4242/);
  });

  it('masks card numbers in keys for a stored row, and keeps a __proto__ key a key', () => {
    const masked = maskCardsJson(JSON.parse('{"4242 4242 4242 4242":"a","4242\u00a04242\u00a04242\u00a04242":"b","__proto__":{"5555555555554444":1}}'));
    expect(JSON.stringify(masked)).toBe('{"•••• 4242":"a","•••• 4242 (2)":"b","__proto__":{"•••• 4444":1}}');
  });
});

describe('RedactionSchema', () => {
  it('defaults to cards and IBANs, no custom pattern', () => {
    expect(RedactionSchema.parse({})).toEqual({ detect: ['card', 'iban'], custom: [] });
  });

  it.each([
    [{ custom: [{ name: 'CARD', pattern: 'x' }] }, /built-in detector's label/],
    [{ custom: [{ name: 'REF', pattern: 'a' }, { name: 'REF', pattern: 'b' }] }, /REF is used twice/],
    [{ custom: [{ name: 'REF', pattern: '(' }] }, /not a valid regular expression/],
    [{ custom: [{ name: 'ref', pattern: 'a' }] }, /A-Z/],
    [{ detect: ['passport'] }, /.+/],
  ])('rejects %j', (config, message) => {
    const result = RedactionSchema.safeParse(config);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toMatch(message);
  });
});
