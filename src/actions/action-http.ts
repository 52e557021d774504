import { clip } from '../common/clip.js';
import type { PreparedCall } from './action-request.js';

export type CallStatus = 'ok' | 'http_error' | 'timeout' | 'failed' | 'too_large' | 'invalid_response';

export interface CallOutcome {
  status: CallStatus;
  /** The response's status, when one arrived. */
  httpStatus: number | null;
  /** The picked fields, keyed by their dot path; only when status is `ok`. */
  result: Record<string, unknown> | null;
  /** One redacted line; set whenever status is not `ok`. */
  error: string | null;
  latencyMs: number;
  /** UTF-8 size of `JSON.stringify(result)`, 0 without a result. */
  resultBytes: number;
}

export interface CallOptions {
  timeoutMs: number;
  fields: string[];
  maxBytes: number;
  secrets: string[];
  signal?: AbortSignal;
}

/** Bytes read from any response at most; a lookup's answer is far smaller. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
// An error body is read only for its message.
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_ERROR_DETAIL = 200;
const MIN_SECRET_LENGTH = 4;
const MAX_LINE = 300;
const MAX_VALUE = 80;
const REDACTED = '[redacted]';

type Finish = (status: CallStatus, fields?: Partial<Omit<CallOutcome, 'status' | 'latencyMs'>>) => CallOutcome;

/**
 * Sends one prepared call and reduces the answer to the declared fields. Never throws: every
 * failure is an outcome. The timeout covers the whole exchange, body included; redirects are
 * refused rather than followed, so a call never leaves the host the agents file names; every
 * string that comes back passes through redaction, so an API echoing its token cannot leak it.
 */
export async function performCall(call: PreparedCall, o: CallOptions): Promise<CallOutcome> {
  const started = performance.now();
  const redact = redactor(o.secrets);
  const finish: Finish = (status, fields = {}) => ({
    status,
    httpStatus: fields.httpStatus ?? null,
    result: fields.result ?? null,
    error: fields.error == null ? null : redact(fields.error),
    latencyMs: Math.round(performance.now() - started),
    resultBytes: fields.resultBytes ?? 0,
  });
  const timeoutMs = validTimeout(o.timeoutMs);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = o.signal ? AbortSignal.any([timeout, o.signal]) : timeout;
  let httpStatus: number | null = null;
  try {
    const response = await fetch(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      redirect: 'manual',
      signal,
    });
    httpStatus = response.status;
    return await readOutcome(response, o, redact, finish);
  } catch (err) {
    if (timeout.aborted) return finish('timeout', { httpStatus, error: `no answer within ${timeoutMs} ms` });
    if (o.signal?.aborted) return finish('failed', { httpStatus, error: 'cancelled' });
    return finish('failed', { httpStatus, error: describeFailure(err, redact) });
  }
}

/** AbortSignal.timeout throws on a fraction, a negative or NaN (a deadline already past). */
function validTimeout(ms: number): number {
  return Number.isFinite(ms) ? Math.min(Math.max(1, Math.ceil(ms)), 2 ** 31 - 1) : 1;
}

async function readOutcome(response: Response, o: CallOptions, redact: Redact, finish: Finish): Promise<CallOutcome> {
  const httpStatus = response.status;
  if (response.type === 'opaqueredirect' || (httpStatus >= 300 && httpStatus < 400)) {
    discard(response);
    return finish('http_error', { httpStatus, error: `HTTP ${httpStatus}: redirects are not followed` });
  }
  if (httpStatus < 200 || httpStatus >= 300) return finish('http_error', { httpStatus, error: await httpError(response, redact) });

  if (Number(response.headers.get('content-length')) > MAX_RESPONSE_BYTES) {
    discard(response);
    return finish('too_large', { httpStatus, error: 'the response is over 1 MiB' });
  }
  const body = await readCapped(response, MAX_RESPONSE_BYTES);
  if (body === null) return finish('too_large', { httpStatus, error: 'the response is over 1 MiB' });
  // A 204, or a side effect acknowledged with an empty 200, has simply nothing to report.
  const parsed = body.toString().trim() === '' ? {} : parseJson(body);
  if (parsed === undefined) return finish('invalid_response', { httpStatus, error: 'the response is not JSON' });
  if (!isPlainObject(parsed)) return finish('invalid_response', { httpStatus, error: 'the response is not a JSON object' });

  const result = redact.deep(pickFields(parsed, o.fields)) as Record<string, unknown>;
  const resultBytes = Buffer.byteLength(JSON.stringify(result));
  if (resultBytes > o.maxBytes)
    return finish('too_large', { httpStatus, error: `the selected fields are ${resultBytes} bytes, over the limit of ${o.maxBytes}` });
  return finish('ok', { httpStatus, result, resultBytes });
}

/** `HTTP 404 (order not found)`: a 4xx often says what was wrong, which helps the LLM answer. */
async function httpError(response: Response, redact: Redact): Promise<string> {
  const status = `HTTP ${response.status}`;
  if (response.status >= 500) {
    discard(response);
    return status;
  }
  const body = await readCapped(response, MAX_ERROR_BODY_BYTES);
  const detail = body === null ? undefined : errorDetail(parseJson(body), redact);
  return detail ? `${status} (${detail})` : status;
}

function errorDetail(body: unknown, redact: Redact): string | undefined {
  if (!isPlainObject(body)) return undefined;
  const nested = isPlainObject(body.error) ? body.error.message : undefined;
  const text = [body.message, body.error, nested, body.detail, body.title].find(
    (v): v is string => typeof v === 'string' && v.trim() !== '',
  );
  // Redacted before clipping, so a cut cannot leave part of a secret.
  return text === undefined ? undefined : clip(oneLine(redact(text)), MAX_ERROR_DETAIL);
}

/** The body, or null when it is over `cap` bytes (the rest is never downloaded). */
async function readCapped(response: Response, cap: number): Promise<Buffer | null> {
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    size += value.byteLength;
    if (size > cap) {
      reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
}

/** Frees the connection without reading a body we will not use. */
function discard(response: Response): void {
  response.body?.cancel().catch(() => undefined);
}

function parseJson(body: Buffer): unknown {
  try {
    // TextDecoder drops a UTF-8 byte order mark, which JSON.parse would reject.
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}

/**
 * The declared fields, keyed by their dot path (`{ "shipment.eta": "Thursday" }`) so the LLM reads
 * each fact with its full name. A missing field is left out; a numeric segment indexes an array.
 */
export function pickFields(body: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  for (const field of fields) {
    const value = field.split('.').reduce<unknown>((node, key) => child(node, key), body);
    if (value !== undefined) entries.push([field, value]);
  }
  // fromEntries defines own properties, so a field named __proto__ cannot set a prototype.
  return Object.fromEntries(entries);
}

function child(node: unknown, key: string): unknown {
  if (Array.isArray(node)) return /^\d+$/.test(key) ? node[Number(key)] : undefined;
  return isPlainObject(node) && Object.hasOwn(node, key) ? node[key] : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short cause (`ECONNREFUSED`) for a call that got no response; never the request's headers. */
function describeFailure(err: unknown, redact: Redact): string {
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = errorCode(cause) ?? errorCode(err);
  if (code) return `connection failed: ${code}`;
  const message = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
  return `request failed: ${clip(oneLine(redact(message)), 120)}`;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, errors } = err as { code?: unknown; errors?: unknown };
  if (typeof code === 'string') return code;
  // Node reports a host with several addresses as an AggregateError of per-address errors.
  return Array.isArray(errors) ? errorCode(errors[0]) : undefined;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

type Redact = ((text: string) => string) & { deep: (value: unknown) => unknown };

/** Replaces each secret (and its URL-encoded form) with `[redacted]`; short ones would hit ordinary words. */
function redactor(secrets: string[]): Redact {
  // The encoded form in both cases of hex (%2F and %2f): an API may echo either.
  const encoded = (s: string) => [encodeURIComponent(s), encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())];
  const needles = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH).flatMap((s) => [s, ...encoded(s)]))].sort(
    (a, b) => b.length - a.length,
  );
  const redact = (text: string) => needles.reduce((out, needle) => out.split(needle).join(REDACTED), text);
  const deep = (value: unknown): unknown => {
    if (typeof value === 'string') return redact(value);
    if (Array.isArray(value)) return value.map(deep);
    if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), deep(v)]));
    return value;
  };
  return Object.assign(redact, { deep });
}

/**
 * One line for the human's handover note:
 * `order_status(order_number=A-12345): status=in transit, carrier=DHL` or
 * `order_status(order_number=A-99999) failed: HTTP 404 (order not found)`.
 */
export function describeResult(name: string, args: Record<string, unknown>, outcome: CallOutcome): string {
  const call = `${name}(${pairs(args)})`;
  if (outcome.status !== 'ok') return clip(`${call} failed: ${outcome.error ?? outcome.status}`, MAX_LINE);
  const found = pairs(outcome.result ?? {});
  return clip(found ? `${call}: ${found}` : `${call}: no fields in the answer`, MAX_LINE);
}

function pairs(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}=${clip(oneLine(typeof value === 'string' ? value : String(JSON.stringify(value))), MAX_VALUE)}`)
    .join(', ');
}
