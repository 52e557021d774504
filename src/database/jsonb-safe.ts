// PostgreSQL refuses `\u0000` in jsonb and NUL in text, and an unpaired surrogate is invalid JSON
// to it: one such character in a payload would fail every redelivery. Without the `u` flag the
// classes below match UTF-16 code units, so a lone half of a pair is found and a whole pair is not.
const UNSAFE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');
const REPLACEMENT = '\ufffd';

/**
 * JSON-like data with NUL and lone surrogates replaced by U+FFFD in every string and key.
 * Returns the input itself (`changed: false`) when nothing needed replacing; copies only what changed.
 */
export function toJsonbSafe<T>(value: T): { value: T; changed: boolean } {
  const safe = walk(value) as T;
  return { value: safe, changed: !Object.is(safe, value) };
}

/** One string with NUL and lone surrogates replaced by U+FFFD. */
export function textSafe(s: string): string;
export function textSafe(s: string | null | undefined): string | null | undefined;
export function textSafe(s: string | null | undefined): string | null | undefined {
  return typeof s === 'string' ? clean(s) : s;
}

function clean(s: string): string {
  return UNSAFE.test(s) ? s.replace(UNSAFE_ALL, REPLACEMENT) : s;
}

function walk(value: unknown): unknown {
  if (typeof value === 'string') return clean(value);
  if (Array.isArray(value)) return walkArray(value);
  if (isPlainObject(value)) return walkObject(value);
  return value;
}

function walkArray(array: unknown[]): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < array.length; i++) {
    const item = walk(array[i]);
    if (!out && !Object.is(item, array[i])) out = array.slice(0, i);
    out?.push(item);
  }
  return out ?? array;
}

function walkObject(object: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(object);
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const safeKey = clean(key);
    const item = walk(object[key]);
    if (!out && (safeKey !== key || !Object.is(item, object[key]))) {
      out = {};
      for (let j = 0; j < i; j++) define(out, keys[j], object[keys[j]]);
    }
    // Two keys that differ only in what was replaced collapse into one; the later wins, as in JSON.parse.
    if (out) define(out, safeKey, item);
  }
  return out ?? object;
}

// JSON.parse makes `__proto__` an own key; plain assignment would set the prototype instead.
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
