import { QueryFailedError } from 'typeorm';

const MAX_MESSAGE = 300;
const MAX_FRAMES = 8;
const MAX_CAUSES = 3;

type ErrorLike = Error & Record<string, unknown>;

/**
 * What may be logged about an error. A database error's message, detail, `where`, query and
 * parameters can quote the row it failed on (a contact's message), so only its codes and names
 * are kept. Pass the result as `err` rather than the error: pino's serializer copies every
 * enumerable property, and QueryFailedError carries the whole payload in `parameters`.
 */
export function safeError(err: unknown): Record<string, unknown> {
  return summarize(err, 0);
}

function summarize(e: unknown, depth: number): Record<string, unknown> {
  if (!isError(e)) return { type: e === null ? 'null' : typeof e };
  const stack = frames(e);
  if (isDatabaseError(e)) {
    const db = isError(e.driverError) ? e.driverError : e;
    return {
      type: 'database',
      name: String(e.name),
      ...pick(db, ['code', 'constraint', 'table', 'column', 'routine']),
      ...(stack ? { stack } : {}),
    };
  }
  return {
    name: String(e.name),
    message: clip(String(e.message), MAX_MESSAGE),
    ...(typeof e.code === 'string' || typeof e.code === 'number' ? { code: clip(String(e.code), 40) } : {}),
    ...(stack ? { stack } : {}),
    ...(e.cause !== undefined && depth < MAX_CAUSES ? { cause: summarize(e.cause, depth + 1) } : {}),
  };
}

// Errors from another realm (Node's own, under jest's VM) fail `instanceof Error`.
function isError(err: unknown): err is ErrorLike {
  return err instanceof Error || Object.prototype.toString.call(err) === '[object Error]';
}

function isDatabaseError(e: ErrorLike): boolean {
  if (e instanceof QueryFailedError || 'driverError' in e) return true;
  // pg's DatabaseError: a five-character SQLSTATE and a severity.
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}

/** The stack's frames without its header, which repeats the message. */
function frames(e: Error): string | undefined {
  const { stack } = e;
  const message = String(e.message ?? '');
  if (typeof stack !== 'string') return undefined;
  // The header is "name: message" and may span lines; when the message was changed after the
  // stack was taken it cannot be cut out reliably, so no stack is better than a leak.
  const end = message ? stack.indexOf(message) : stack.indexOf('\n');
  if (end < 0) return undefined;
  const rest = stack.slice(message ? end + message.length : end);
  const lines = rest.split('\n').filter((line) => /^\s+at /.test(line));
  return lines.length ? lines.slice(0, MAX_FRAMES).map((line) => line.trim()).join('\n') : undefined;
}

function pick(source: Record<string, unknown>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keys) if (typeof source[key] === 'string') out[key] = clip(source[key], 100);
  return out;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
