import { ENV_REFERENCE, HEADER_VALUE, type ActionConfig } from './action.schema.js';
import { isDotSegment, parseUrlTemplate, rawPath, type Placeholder, type UrlTemplate } from './url-template.js';

/** An HTTP request ready to send: URL filled and checked, secrets resolved. */
export interface PreparedCall {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export type PrepareResult = { ok: true; call: PreparedCall; secrets: string[] } | { ok: false; error: string };
type Failure = { ok: false; error: string };

const USER_AGENT = 'inbox-va-bridge';
// Far above any real lookup; past it servers answer 414 or drop the connection.
const MAX_URL_LENGTH = 8192;
// A header whose whole value is a credential even when the file wrote it literally.
const SECRET_HEADER = /^(?:authorization|proxy-authorization|cookie)$|api[-_]?key|token|secret|password|auth|session|signature/i;
// What fetch accepts in a header value; anything else makes it throw with the value in the message.
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Builds the request for one call of `action` with arguments compileArguments accepted. Refuses
 * (never throws) when an argument would change the URL's origin or path prefix, or a header's
 * environment variable is unset. `secrets` lists every resolved credential, longest first, for
 * the caller to redact from whatever the call returns; no error quotes one.
 */
export function prepareCall(
  action: ActionConfig,
  args: Record<string, unknown>,
  env: Record<string, string | undefined>,
  opts: { idempotencyKey?: string } = {},
): PrepareResult {
  const url = buildUrl(action.request.url, args);
  if (!url.ok) return url;
  const resolved = resolveHeaders(action.request.headers, env);
  if (!resolved.ok) return resolved;

  const { method } = action.request;
  const sendsBody = method !== 'GET';
  const headers = withDefaults(resolved.headers, {
    accept: 'application/json',
    'user-agent': USER_AGENT,
    ...(sendsBody ? { 'content-type': 'application/json' } : {}),
  });
  if (sendsBody && opts.idempotencyKey !== undefined) {
    if (!IDEMPOTENCY_KEY.test(opts.idempotencyKey)) return fail('the idempotency key is not a valid header value');
    // Lets an API that supports it apply a retried side effect once.
    headers['idempotency-key'] = opts.idempotencyKey;
  }
  const call: PreparedCall = { method, url: url.url, headers, ...(sendsBody ? { body: JSON.stringify(args) } : {}) };
  return { ok: true, call, secrets: resolved.secrets };
}

function fail(error: string): Failure {
  return { ok: false, error };
}

function buildUrl(text: string, args: Record<string, unknown>): { ok: true; url: string } | Failure {
  const parsed = parseUrlTemplate(text);
  if (!parsed.ok) return fail(`request.url ${parsed.error}`);
  let built = '';
  let copied = 0;
  for (const placeholder of parsed.template.placeholders) {
    const value = Object.hasOwn(args, placeholder.name) ? args[placeholder.name] : undefined;
    const encoded = encodePlaceholder(placeholder, value);
    if (!encoded.ok) return encoded;
    built += text.slice(copied, placeholder.start) + encoded.text;
    copied = placeholder.end;
  }
  return verifyUrl(built + text.slice(copied), parsed.template);
}

function encodePlaceholder(p: Placeholder, value: unknown): { ok: true; text: string } | Failure {
  if (value === undefined) return fail(`${p.name} is missing`);
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
    return fail(`${p.name} must be a string, number or boolean`);
  const text = String(value);
  if (text === '') return fail(`${p.name} is empty`);
  // encodeURIComponent leaves dots alone, and `..` (or `%2e%2e`, once servers decode it) climbs the path.
  if (isDotSegment(text)) return fail(`${p.name} must not be . or ..`);
  try {
    return { ok: true, text: encodeURIComponent(text) };
  } catch {
    return fail(`${p.name} is not valid text`); // a lone UTF-16 surrogate
  }
}

/** Defence in depth: whatever the encoding missed, the URL must keep the template's origin and path prefix. */
function verifyUrl(built: string, template: UrlTemplate): { ok: true; url: string } | Failure {
  if (built.length > MAX_URL_LENGTH) return fail(`the URL would be over ${MAX_URL_LENGTH} characters`);
  if (rawPath(built).split('/').some(isDotSegment)) return fail('the arguments would make a . or .. path segment');
  let url: URL;
  try {
    url = new URL(built);
  } catch {
    return fail('the arguments do not make a valid URL');
  }
  if (url.origin !== template.origin || url.username || url.password || url.hash)
    return fail('the arguments would change the host the URL points to');
  const pathKept = template.pathIsLiteral ? url.pathname === template.pathPrefix : url.pathname.startsWith(template.pathPrefix);
  if (!pathKept) return fail('the arguments would change the path the URL points to');
  return { ok: true, url: url.href };
}

function resolveHeaders(
  templates: Record<string, string>,
  env: Record<string, string | undefined>,
): { ok: true; headers: Record<string, string>; secrets: string[] } | Failure {
  const headers: Record<string, string> = {};
  const secrets = new Set<string>();
  for (const [name, template] of Object.entries(templates)) {
    let problem: string | undefined;
    const value = template.replace(ENV_REFERENCE, (_, ref: string) => {
      const resolved = env[ref];
      if (!resolved) problem ??= `environment variable ${ref} is not set`;
      else if (!HEADER_VALUE.test(resolved)) problem ??= `environment variable ${ref} holds characters an HTTP header cannot carry`;
      else secrets.add(resolved);
      return resolved ?? '';
    });
    if (problem) return fail(problem);
    headers[name] = value;
    if (SECRET_HEADER.test(name) && value) secrets.add(value);
  }
  return { ok: true, headers, secrets: [...secrets].sort((a, b) => b.length - a.length) };
}

function withDefaults(headers: Record<string, string>, defaults: Record<string, string>): Record<string, string> {
  const present = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  const added = Object.entries(defaults).filter(([name]) => !present.has(name));
  return { ...headers, ...Object.fromEntries(added) };
}
