/** A `{name}` in a request URL template, filled from a validated argument at call time. */
export interface Placeholder {
  name: string;
  start: number;
  end: number;
  inQuery: boolean;
}

/** What a template promises about every URL built from it: the origin and path prefix are literal. */
export interface UrlTemplate {
  placeholders: Placeholder[];
  origin: string;
  /** The normalised path before the first placeholder; the whole path when no placeholder is in it. */
  pathPrefix: string;
  /** No placeholder in the path, so a built URL's path must equal `pathPrefix`. */
  pathIsLiteral: boolean;
}

export type TemplateResult = { ok: true; template: UrlTemplate } | { ok: false; error: string };

const PLACEHOLDER = /\{([^{}]*)\}/g;
const PLACEHOLDER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Backslashes are read as `/` in http(s) URLs and whitespace is silently dropped by the parser:
// either would make the text a reader sees differ from the URL that is called.
const UNSAFE_CHARS = /[\s\\\x00-\x1f\x7f]/;
// The scheme and the whole authority, ended by the start of the path or query: the origin is literal.
const LITERAL_ORIGIN = /^https?:\/\/[^/?#{}]+[/?]/i;

/**
 * The WHATWG URL parser resolves `.` and `..` segments, also written `%2e` in any case, so a
 * segment like that moves the request to another path.
 */
export function isDotSegment(segment: string): boolean {
  return /^(?:\.|%2e){1,2}$/i.test(segment);
}

/**
 * Checks a request URL template: an absolute http(s) URL with `{name}` placeholders in the path
 * and in query values only, never in the scheme, host or port, so no argument can send the call
 * to a host the agents file does not name.
 */
export function parseUrlTemplate(text: string): TemplateResult {
  const fail = (error: string): TemplateResult => ({ ok: false, error });
  if (!/^https?:\/\//i.test(text)) return fail('must be an absolute URL starting with http:// or https://');
  if (UNSAFE_CHARS.test(text)) return fail('must not contain spaces, backslashes or control characters');
  if (text.includes('${')) return fail('must not use ${…}: environment values go in request.headers only');
  if (text.includes('#')) return fail('must not have a #fragment');

  const placeholders = findPlaceholders(text);
  const badName = placeholders.find((p) => !PLACEHOLDER_NAME.test(p.name));
  if (badName) return fail(`has a placeholder {${badName.name}}: names are 1 to 64 letters, digits, _ or -`);
  if (/[{}]/.test(text.replace(PLACEHOLDER, ''))) return fail('has a { or } that is not part of a {name} placeholder');
  // Per literal part: "%2{a}" would let a value finish an escape (a=F gives %2F, a slash).
  if (text.split(PLACEHOLDER).some((part, i) => i % 2 === 0 && /%(?![0-9a-f]{2})/i.test(part))) return fail('has a % that does not start a %XX escape');
  const first = placeholders[0];
  if (first && !LITERAL_ORIGIN.test(text.slice(0, first.start)))
    return fail(`has {${first.name}} in its scheme, host or port: only the path and query values may have placeholders`);

  let url: URL;
  try {
    url = new URL(text.replace(PLACEHOLDER, 'x'));
  } catch {
    return fail('is not an absolute URL');
  }
  if (url.username || url.password) return fail('must not carry a user or password: put credentials in request.headers');

  const inQueryKey = placeholders.find((p) => p.inQuery && !followsEquals(text, p.start));
  if (inQueryKey) return fail(`has {${inQueryKey.name}} in a query parameter name: only query values may have placeholders`);
  if (rawPath(text).split('/').some(isDotSegment)) return fail('must not contain . or .. path segments');

  const firstInPath = placeholders.find((p) => !p.inQuery);
  return {
    ok: true,
    template: {
      placeholders,
      origin: url.origin,
      pathPrefix: firstInPath ? new URL(text.slice(0, firstInPath.start)).pathname : url.pathname,
      pathIsLiteral: !firstInPath,
    },
  };
}

function findPlaceholders(text: string): Placeholder[] {
  const query = text.indexOf('?');
  return [...text.matchAll(PLACEHOLDER)].map((m) => ({
    name: m[1],
    start: m.index,
    end: m.index + m[0].length,
    inQuery: query >= 0 && m.index > query,
  }));
}

/** Whether the query parameter holding `index` has its `=` before it, i.e. `index` is in a value. */
function followsEquals(text: string, index: number): boolean {
  const parameterStart = Math.max(text.lastIndexOf('&', index), text.lastIndexOf('?', index));
  const equals = text.indexOf('=', parameterStart);
  return equals >= 0 && equals < index;
}

/** The path as written, between the authority and the query, of a URL starting `http(s)://`. */
export function rawPath(text: string): string {
  const afterScheme = text.slice(text.indexOf('//') + 2);
  const pathStart = afterScheme.search(/[/?]/);
  if (pathStart < 0 || afterScheme[pathStart] === '?') return '';
  const path = afterScheme.slice(pathStart);
  const query = path.indexOf('?');
  return query < 0 ? path : path.slice(0, query);
}
