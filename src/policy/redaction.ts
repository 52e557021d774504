// PII redaction before the LLM (issue 15, docs/redaction.md). Written by hand: the maintained
// libraries were evaluated (November 2026) and neither fits.
// - @arcjet/redact 1.12.0 declares node >=22.21 (this service supports Node 20), has no IBAN
//   detector, gives the same card two placeholders when it appears twice (#0, #1), misses a card
//   written with dashes (it tokenises on whitespace), and its custom `detect` sees one token at a
//   time, so a pattern spanning a space cannot be added.
// - openredaction 1.1.5 pulls express, react and a server package into production dependencies,
//   missed plain addresses such as jo@example.com and dashed cards in our probe, flagged "1234567"
//   as a Twitter id and "on card" as an emergency contact, and its placeholders are hashes
//   ([CREDIT_CARD_3849]), not numbered by first appearance.
// What we need is small: four validated detectors, custom regexes, stable numbering, and restore
// rules of our own (cards never in clear). That is this file, pure and tested beside it.
import { BUILTIN_DETECTORS, type BuiltinDetector, type RedactionConfig } from './redaction.schema.js';

/** A value found in a text: where, what, and the key two spellings of one value share. */
interface Found {
  start: number;
  end: number;
  label: string;
  value: string;
  key: string;
}

type Finder = (text: string) => Array<Omit<Found, 'label'>>;

const LABELS: Record<BuiltinDetector, string> = { email: 'EMAIL', phone: 'PHONE', card: 'CARD', iban: 'IBAN' };
export const CARD_LABEL = LABELS.card;
/** Any placeholder the bridge writes, or an LLM imitates: `[EMAIL_1]`, `[ORDER_REF_12]`. */
const PLACEHOLDER = /\[([A-Z][A-Z0-9_]*)_([1-9]\d{0,5})\]/g;

/** The Luhn checksum of a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** ISO 13616: move the first four characters to the end, letters to numbers, the whole mod 97 is 1. */
export function ibanValid(compact: string): boolean {
  const iban = compact.toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  let rest = 0;
  for (const ch of iban.slice(4) + iban.slice(0, 4)) {
    const n = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    rest = n > 9 ? (rest * 100 + n) % 97 : (rest * 10 + n) % 97;
  }
  return rest === 1;
}

/**
 * A card number is 13 to 19 digits, starting 2 to 6 (the networks' ranges: Visa, Mastercard, Amex,
 * Discover, JCB, UnionPay, Diners), passing Luhn. The digits may be grouped, the groups separated
 * by one or two of: whitespace (a no-break space U+00A0 or U+202F from a phone's copy-paste, a line
 * break, two spaces), ".", "/" or "-". A run of digit groups longer than a card ("card 4242 4242
 * 4242 4242 2027") is searched for the card inside it, on group boundaries. Not a run written after
 * "+" (a phone number: no card starts at its first group), nor glued to a letter ("A-4242…",
 * "4242x": a reference).
 */
export function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && /^[2-6]/.test(digits) && !/^(\d)\1+$/.test(digits) && luhnValid(digits);
}

/** Groups of digits; between two groups one or two of: whitespace (incl. U+00A0, U+202F), ".", "/", "-". */
const DIGIT_RUN = /(?<![\p{L}\p{N}+]-?)\+?\d+(?:[\s\u00A0\u202F./-]{1,2}\d+)*(?![\p{L}\p{N}])/gu;

const findCards: Finder = (text) => {
  const found: Array<Omit<Found, 'label'>> = [];
  for (const run of text.matchAll(DIGIT_RUN)) {
    const groups = [...run[0].matchAll(/\d+/g)].map((g) => ({ start: run.index + g.index, end: run.index + g.index + g[0].length, digits: g[0] }));
    // Every card the groups can make. A run written after "+" is a phone number: no card starts at its first group.
    const candidates: Array<{ i: number; j: number; digits: string; score: number }> = [];
    for (let i = run[0].startsWith('+') ? 1 : 0; i < groups.length; i++) {
      let digits = '';
      for (let j = i; j < groups.length && digits.length < 19; j++) {
        digits += groups[j].digits;
        if (!isCardNumber(digits)) continue;
        const separators = new Set(groups.slice(i + 1, j + 1).map((g, n) => text.slice(groups[i + n].end, g.start)));
        // Where the groups could make more than one card ("item 5. 4242 4242 4242 4242 .5"), the
        // likeliest: written with one separator throughout, then starting with four digits or
        // written in one, then the longest.
        const score = (separators.size <= 1 ? 4 : 0) + (i === j || groups[i].digits.length === 4 ? 2 : 0);
        candidates.push({ i, j, digits, score });
      }
    }
    candidates.sort((a, b) => b.score - a.score || b.digits.length - a.digits.length || a.i - b.i);
    const taken: typeof candidates = [];
    const used = new Uint8Array(groups.length);
    for (const c of candidates) {
      if (used.subarray(c.i, c.j + 1).some((u) => u === 1)) continue;
      used.fill(1, c.i, c.j + 1);
      taken.push(c);
    }
    for (const c of taken.sort((a, b) => a.i - b.i)) {
      const start = groups[c.i].start;
      const end = groups[c.j].end;
      found.push({ start, end, value: text.slice(start, end), key: c.digits });
    }
  }
  return found;
};

/**
 * Two letters, two check digits, then groups of letters and digits: the longest prefix on group
 * boundaries that passes mod 97. Every group of a run of alphanumeric groups (separated by one space
 * or dash) that starts with two letters and two digits is tried as a start ("order PO1234 refund to
 * DE89 3704…", "to DE89… or to GB82…"); after a hit the search goes on after it.
 */
const ALNUM_RUN = /(?<![\p{L}\p{N}])[A-Za-z0-9]+(?:[ -][A-Za-z0-9]+)*/gu;
const IBAN_START = /^[A-Za-z]{2}\d{2}/;

const findIbans: Finder = (text) => {
  const found: Array<Omit<Found, 'label'>> = [];
  for (const run of text.matchAll(ALNUM_RUN)) {
    const groups = [...run[0].matchAll(/[A-Za-z0-9]+/g)].map((g) => ({ start: run.index + g.index, end: run.index + g.index + g[0].length, chars: g[0] }));
    /** The last group of the longest IBAN starting at group i, if any. */
    const ibanFrom = (i: number): number | undefined => {
      if (!IBAN_START.test(groups[i].chars) || /[\p{L}\p{N}]/u.test(text.charAt(groups[i].start - 1))) return undefined;
      let compact = '';
      let last: number | undefined;
      for (let j = i; j < groups.length; j++) {
        compact += groups[j].chars;
        if (compact.length > 34) break;
        if (compact.length >= 15 && ibanValid(compact) && !/[\p{L}\p{N}]/u.test(text.charAt(groups[j].end))) last = j;
      }
      return last;
    };
    let i = 0;
    while (i < groups.length) {
      let j = ibanFrom(i);
      if (j === undefined) {
        i++;
        continue;
      }
      // Words before an IBAN can pass mod 97 by chance together with its first groups: an IBAN that
      // starts inside this one and ends after it is hidden with it, as one value, never left half in clear.
      for (let k = i + 1; k <= j; k++) {
        const later = ibanFrom(k);
        if (later !== undefined && later > j) j = later;
      }
      const { start } = groups[i];
      const { end } = groups[j];
      found.push({ start, end, value: text.slice(start, end), key: text.slice(start, end).replace(/[^A-Za-z0-9]/g, '').toUpperCase() });
      i = j + 1;
    }
  }
  return found;
};

/**
 * An e-mail address: a local part of RFC 5322 atext (letters of any script, digits and
 * ! # $ % & ' * + - / = ? ^ _ ` { | } ~) and dots, starting with a letter, a digit or one of _ % + -
 * (so a quote, brace or other mark written around an address is not taken as part of it), then a
 * domain whose last label is 2+ letters. "jo@example.com-thanks" is jo@example.com. A local part
 * is at most 64 characters (RFC 5321), which also keeps the search linear.
 */
const EMAIL = /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}_%+-][\p{L}\p{N}.!#$%&'*+/=?^_`{|}~-]{0,63}@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}(?![\p{L}\p{N}])/gu;

const findEmails: Finder = (text) => [...text.matchAll(EMAIL)].map((m) => ({ start: m.index, end: m.index + m[0].length, value: m[0], key: m[0].toLowerCase() }));

/**
 * A phone number is written as one: with an international prefix (+ or 00) and 7 to 15 digits, a
 * national trunk 0 and 9 to 12 digits, or the North American (555) 123-4567 / 555-123-4567. A bare
 * run of digits ("order 1234567890") or a date is not one: too many references look alike.
 */
const PHONE = /(?<![\p{L}\p{N}+])(?:\+|00)?(?:\(\d{1,5}\)|\d)(?:[ .-]?(?:\(\d{1,5}\)|\d)){5,17}(?![\p{L}\p{N}])/gu;
const DATE = /^(?:\d{4}[.-]\d{1,2}[.-]\d{1,2}|\d{1,2}[.-]\d{1,2}[.-]\d{2,4})$/;

export function isPhoneNumber(value: string): boolean {
  const digits = value.replace(/\D/g, '');
  if (DATE.test(value)) return false;
  if (/^(?:\+|00)/.test(value)) {
    const n = digits.length - (value.startsWith('00') ? 2 : 0);
    return n >= 7 && n <= 15;
  }
  if (/^0/.test(value)) return digits.length >= 9 && digits.length <= 12;
  return /^(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}$/.test(value);
}

const findPhones: Finder = (text) =>
  [...text.matchAll(PHONE)].filter((m) => isPhoneNumber(m[0])).map((m) => ({ start: m.index, end: m.index + m[0].length, value: m[0], key: m[0].replace(/\D/g, '').replace(/^00/, '') }));

function customFinder(pattern: string): Finder {
  const re = new RegExp(pattern, 'gu');
  return (text) => [...text.matchAll(re)].filter((m) => m[0].length > 0).map((m) => ({ start: m.index, end: m.index + m[0].length, value: m[0], key: m[0] }));
}

const BUILTIN_FINDERS: Record<BuiltinDetector, Finder> = { card: findCards, iban: findIbans, email: findEmails, phone: findPhones };
/**
 * Which detector wins where two overlap: an IBAN first (mod 97 is the stronger check: the digits of
 * an IBAN pass Luhn one time in ten), then a card, an e-mail, the custom patterns, a phone last.
 */
const PRIORITY: BuiltinDetector[] = ['iban', 'card', 'email'];

/** Every payment card number in `text` as `•••• 4242`, whatever the agent's detectors: what a person, a note or a stored row may show. */
export function maskCards(text: string): string {
  let out = '';
  let at = 0;
  for (const f of findCards(text)) {
    out += text.slice(at, f.start) + maskedCard(f.key);
    at = f.end;
  }
  return out + text.slice(at);
}

export const maskedCard = (digits: string) => `•••• ${digits.slice(-4)}`;

/** Every card number in the strings and the object keys of a JSON value masked (a stored row's JSON columns, an exported case). */
export function maskCardsJson(value: unknown): unknown {
  return mapJson(value, maskCards);
}

/**
 * A JSON value with `f` applied to every string, object keys included (a lookup may key its result
 * by e-mail address or card number). Two keys that become the same ("4242 4242…" and "4242-4242…"
 * both `[CARD_1]`) are both kept, the second as `[CARD_1] (2)`: no value is lost, the JSON stays valid.
 */
function mapJson(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapJson(v, f));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const base = f(k);
      let key = base;
      for (let n = 2; Object.hasOwn(out, key); n++) key = `${base} (${n})`;
      // defineProperty, not assignment: a key named __proto__ stays a key.
      Object.defineProperty(out, key, { value: mapJson(v, f), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** What became of one placeholder the LLM wrote when it was put back. */
export interface RestoreResult {
  text: string;
  /** Placeholders that stand for no value of this prompt (the LLM made them up, or copied a label). */
  unknown: string[];
  /** Card placeholders, each shown masked. */
  cards: number;
}

/**
 * One agent's redactor for one prompt (or one summary step): the same value gets the same
 * placeholder however often and however spelled ("4242 4242…" and "4242-4242…"), numbered per
 * label by first appearance. It remembers what each placeholder stands for, to put the values
 * back in what the LLM answers; a card is never put back in clear.
 */
export class Redactor {
  private readonly finders: Array<{ label: string; find: Finder }>;
  private readonly labels: Set<string>;
  private readonly byKey = new Map<string, string>();
  private readonly values = new Map<string, { label: string; value: string; key: string }>();
  private readonly counts = new Map<string, number>();

  constructor(config: RedactionConfig) {
    const on = new Set(config.detect);
    this.finders = [
      ...PRIORITY.filter((d) => on.has(d)).map((d) => ({ label: LABELS[d], find: BUILTIN_FINDERS[d] })),
      ...config.custom.map((c) => ({ label: c.name, find: customFinder(c.pattern) })),
      ...(on.has('phone') ? [{ label: LABELS.phone, find: findPhones }] : []),
    ];
    this.labels = new Set([...BUILTIN_DETECTORS.map((d) => LABELS[d]), ...config.custom.map((c) => c.name)]);
  }

  /** How many distinct values were replaced so far. */
  get size(): number {
    return this.values.size;
  }

  /** The placeholders given so far, in order. */
  get placeholders(): string[] {
    return [...this.values.keys()];
  }

  redact(text: string): string;
  redact(text: string | null): string | null;
  redact(text: string | null): string | null {
    if (!text || this.finders.length === 0) return text;
    const taken: Found[] = [];
    for (const { label, find } of this.finders) {
      for (const f of find(text)) {
        if (!taken.some((t) => f.start < t.end && t.start < f.end)) taken.push({ ...f, label });
      }
    }
    if (taken.length === 0) return text;
    taken.sort((a, b) => a.start - b.start);
    let out = '';
    let at = 0;
    for (const f of taken) {
      out += text.slice(at, f.start) + this.placeholderFor(f);
      at = f.end;
    }
    return out + text.slice(at);
  }

  private placeholderFor(f: Found): string {
    const id = `${f.label}\u0000${f.key}`;
    let placeholder = this.byKey.get(id);
    if (!placeholder) {
      const n = (this.counts.get(f.label) ?? 0) + 1;
      this.counts.set(f.label, n);
      placeholder = `[${f.label}_${n}]`;
      this.byKey.set(id, placeholder);
      this.values.set(placeholder, { label: f.label, value: f.value, key: f.key });
    }
    return placeholder;
  }

  /** The values back in a text the LLM wrote; a card as `•••• 4242`; a placeholder that stands for nothing stays as written. */
  restore(text: string): RestoreResult {
    const unknown: string[] = [];
    let cards = 0;
    const restored = text.replace(PLACEHOLDER, (placeholder, label: string) => {
      const known = this.values.get(placeholder);
      if (!known) {
        if (this.labels.has(label)) unknown.push(placeholder);
        return placeholder;
      }
      if (known.label === CARD_LABEL) {
        cards++;
        return maskedCard(known.key);
      }
      return known.value;
    });
    return { text: restored, unknown, cards };
  }

  /** Whether a text holds a placeholder of this redactor, or one that looks like one: for the attribute rule. */
  restoreAttribute(value: string): { value: string } | { dropped: string } {
    const r = this.restore(value);
    if (r.cards > 0) return { dropped: 'it holds a payment card number, which is never stored in clear' };
    if (r.unknown.length > 0) return { dropped: `it holds ${r.unknown.join(', ')}, which stands for no value the contact gave` };
    return { value: r.text };
  }

  /**
   * Redacts every string of a JSON value (an action's result, before the model reads it), object
   * keys included: a lookup may return a map keyed by e-mail address or card number. Two keys that
   * get one placeholder are both kept, the second as `[CARD_1] (2)`.
   */
  redactJson(value: unknown): unknown {
    return mapJson(value, (s) => this.redact(s));
  }

  /** Restores every string of a JSON value (a tool call's arguments), cards left as their placeholder. */
  restoreJson(value: unknown): unknown {
    if (typeof value === 'string') {
      return value.replace(PLACEHOLDER, (placeholder) => {
        const known = this.values.get(placeholder);
        return known && known.label !== CARD_LABEL ? known.value : placeholder;
      });
    }
    if (Array.isArray(value)) return value.map((v) => this.restoreJson(v));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.restoreJson(v)]));
    return value;
  }
}
