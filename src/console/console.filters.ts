import { z } from 'zod';
import { parseDuration } from '../config/duration.js';

/** Beyond ten years a date is not one PostgreSQL takes, and nobody means it. */
const MAX_SINCE_MS = 3650 * 86_400_000;
export const PAGE_SIZE = 50;
/** LIMIT/OFFSET gets slower with the offset: past this page, narrow the filters instead. */
export const MAX_PAGE = 200;

export const STATES = ['active', 'handed_over', 'resolved', 'lost'] as const;
export const MODES = ['inception', 'delegation'] as const;
export const WINDOWS = { '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type WindowName = keyof typeof WINDOWS;

/** What the "since" select offers; any other duration or date typed into the URL works too. */
export const SINCE_CHOICES = ['1h', '24h', '7d', '30d'] as const;

const agentId = z.string().regex(/^[a-z0-9-]{1,100}$/, 'must be an agent id (lower-case letters, digits and -)');

/** `24h`, `7d` … back from now, or a date (`2026-11-01`) or time (`2026-11-01T08:00:00Z`). */
const since = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms !== undefined && ms <= MAX_SINCE_MS) return { text, at: new Date(Date.now() - ms) };
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const at = new Date(text.length === 10 ? `${text}T00:00:00Z` : text);
    if (!Number.isNaN(at.getTime()) && Math.abs(Date.now() - at.getTime()) <= MAX_SINCE_MS) return { text, at };
  }
  ctx.addIssue({ code: 'custom', message: `"${text}" is neither a duration up to 3650d (like 24h or 7d) nor a date (like 2026-11-01)` });
  return z.NEVER;
});

const page = z
  .string()
  .regex(/^\d{1,4}$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be at least 1').max(MAX_PAGE, `must be at most ${MAX_PAGE}: narrow the filters instead`));

const oneOf = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `must be one of ${values.join(', ')}` });

export const ListFilterSchema = z
  .object({
    agent: agentId.optional(),
    mode: oneOf(MODES).optional(),
    state: oneOf(STATES).optional(),
    since: since.optional(),
    q: z.string().trim().max(200, 'must be at most 200 characters').optional(),
    page: page.default(1),
  })
  .strict();
export type ListFilter = z.infer<typeof ListFilterSchema>;

export const OverviewFilterSchema = z
  .object({
    window: z.enum(Object.keys(WINDOWS) as [WindowName, ...WindowName[]], { error: 'must be 24h or 7d' }).default('24h'),
    agent: agentId.optional(),
  })
  .strict();
export type OverviewFilter = z.infer<typeof OverviewFilterSchema>;

export const ConversationIdSchema = z.uuid();

/** Thrown for a query string that does not validate: the console answers 400 with these reasons. */
export class BadFilterError extends Error {
  override name = 'BadFilterError';
  constructor(readonly problems: string[]) {
    super(`bad filter: ${problems.join('; ')}`);
  }
}

/**
 * Validates a query string. An empty value (a select left on "any") is no filter; a parameter
 * given twice, or one the page does not know, is refused rather than guessed at.
 */
export function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, unknown>): z.infer<S> {
  const problems: string[] = [];
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (Array.isArray(value)) problems.push(`${key}: given more than once`);
    else if (typeof value !== 'string') problems.push(`${key}: is not a plain value`);
    else if (value.trim() !== '') cleaned[key] = value;
  }
  if (problems.length) throw new BadFilterError(problems);
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new BadFilterError(
      result.error.issues.map((issue) =>
        issue.code === 'unrecognized_keys' ? `unknown filter ${issue.keys.map((k) => `"${k}"`).join(', ')}` : `${issue.path.join('.') || 'query'}: ${issue.message}`,
      ),
    );
  }
  return result.data;
}

/** The query string of a filter, to link to another page of the same list (values as typed). */
export function filterQuery(filter: Partial<ListFilter>, overrides: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  const values: Record<string, string | number | undefined> = {
    agent: filter.agent,
    mode: filter.mode,
    state: filter.state,
    since: filter.since?.text,
    q: filter.q || undefined,
    page: filter.page && filter.page > 1 ? filter.page : undefined,
    ...overrides,
  };
  for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A LIKE pattern that matches `text` literally, anywhere (with `ESCAPE '\'`). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
