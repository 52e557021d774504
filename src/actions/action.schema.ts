import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { z } from 'zod';
import { clip } from '../common/clip.js';
import { duration } from '../config/duration.js';
import { parseUrlTemplate } from './url-template.js';

// ajv-formats is CommonJS. Under NodeNext its default import is `module.exports`, which holds the
// plugin as `.default`; under jest's bundler resolution it is the plugin itself.
type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: FormatsPlugin }).default ??
  addFormatsModule) as unknown as FormatsPlugin;

// strictSchema turns an unknown keyword (`requried: [...]`) or format into a config error instead
// of a check that silently never runs. addUsedSchema off: two actions may reuse the same `$id`.
const ajv = addFormats(
  new Ajv({
    strictSchema: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    useDefaults: true,
    addUsedSchema: false,
    logger: false,
  }),
);

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
// Same rule as contact attribute keys in agents.schema.ts; not imported, because that file imports
// this one and a cycle would evaluate one of them half-initialised.
const ATTRIBUTE_KEY = /^[a-zA-Z0-9_]+$/;
const FIELD_PATH = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What an HTTP header value may hold (tab, printable ASCII, Latin-1): fetch throws on anything else. */
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** `${NAME}` in a header value. Global: use with replace and matchAll, never test. */
export const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
// Framing and hop-by-hop headers belong to the HTTP client; a fixed Idempotency-Key would make an
// API replay its first answer to every later call.
const REFUSED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'idempotency-key',
]);

const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 30_000;

type Issue = (path: (string | number)[], message: string) => void;
const issuer =
  (ctx: z.RefinementCtx): Issue =>
  (path, message) =>
    ctx.addIssue({ code: 'custom', path, message });

const ParametersSchema = z
  .record(z.string(), z.unknown())
  .default(() => ({ type: 'object', properties: {} }))
  .superRefine((schema, ctx) => {
    const issue = issuer(ctx);
    if (schema.type !== 'object') issue(['type'], 'must be "object": the arguments are one JSON object');
    if (schema.$async !== undefined) issue(['$async'], 'is not supported: arguments are checked synchronously');
    if (schema.type !== 'object' || schema.$async !== undefined) return;
    const compiled = compileSchema(schema);
    if (!compiled.ok) issue([], `is not a valid JSON Schema: ${clip(compiled.error, 300)}`);
  });

const HeadersSchema = z
  .record(z.string(), z.union([z.string(), z.number()]).transform(String))
  .default({})
  .superRefine((headers, ctx) => {
    const issue = issuer(ctx);
    const seen = new Set<string>();
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name)) issue([name], 'is not a valid header name');
      else if (REFUSED_HEADERS.has(lower)) issue([name], 'is set by the bridge and may not be set here');
      else if (seen.has(lower)) issue([name], 'is set twice (header names ignore case)');
      seen.add(lower);
      if (/[\r\n\0]/.test(value)) issue([name], 'must be one line');
      else if (!HEADER_VALUE.test(value)) issue([name], 'holds characters an HTTP header cannot carry');
      if (value.replace(ENV_REFERENCE, '').includes('${'))
        issue([name], 'has a malformed ${…}: write ${NAME} with a letter or _ first, then letters, digits or _');
    }
  });

const RequestSchema = z
  .object({
    method: z.enum(METHODS, { message: `must be one of ${METHODS.join(', ')}` }).default('GET'),
    url: z.string().superRefine((url, ctx) => {
      const parsed = parseUrlTemplate(url);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
    }),
    headers: HeadersSchema,
    timeout: duration()
      .pipe(z.number().min(MIN_TIMEOUT_MS, 'must be at least 100ms').max(MAX_TIMEOUT_MS, 'must be at most 30s'))
      .default(3000),
  })
  .strict();

const ResponseSchema = z
  .object({
    fields: z
      .array(z.string().regex(FIELD_PATH, 'must be a field name or dot path like shipment.eta'))
      .min(1, 'must list at least one field: only listed fields reach the LLM'),
    maxBytes: z.number().int().min(256).max(65_536).default(4096),
  })
  .strict();

/** One `actions:` entry of an agent: an HTTP lookup the LLM may call as a tool. */
export const ActionSchema = z
  .object({
    name: z.string().regex(NAME, 'must be 1 to 64 letters, digits, _ or - (the OpenAI function name rule)'),
    description: z.string().trim().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
    parameters: ParametersSchema,
    request: RequestSchema,
    response: ResponseSchema,
    requires: z.array(z.string().regex(ATTRIBUTE_KEY, 'must be a contact attribute key')).default([]),
    sideEffects: z.boolean().default(false),
  })
  .strict()
  .superRefine((action, ctx) => checkCrossFields(action, issuer(ctx)));

export type ActionConfig = z.infer<typeof ActionSchema>;

// Runs even when fields failed their own checks (zod keeps going), so nothing here trusts a type.
function checkCrossFields(action: Record<string, unknown>, issue: Issue): void {
  const request = asRecord(action.request);
  const parameters = asRecord(action.parameters);
  const method = request.method ?? 'GET';
  if (method !== 'GET' && action.sideEffects !== true)
    issue(['request', 'method'], `${String(method)} may change something, so the action needs sideEffects: true`);
  if (typeof request.url !== 'string') return;
  const parsed = parseUrlTemplate(request.url);
  if (!parsed.ok) return;
  const properties = asRecord(parameters.properties);
  const used = new Set(parsed.template.placeholders.map((p) => p.name));
  for (const name of used) {
    const property = properties[name];
    if (property === undefined) issue(['request', 'url'], `has {${name}}, which parameters.properties does not declare`);
    else if (isContainerType(property))
      issue(['parameters', 'properties', name], `fills {${name}} in request.url, so it must be a string, number or boolean`);
  }
  if (method === 'GET')
    for (const name of Object.keys(properties))
      if (!used.has(name))
        issue(['parameters', 'properties', name], 'is never sent: a GET passes arguments only through {placeholders} in request.url');
}

function isContainerType(property: unknown): boolean {
  const type = asRecord(property).type;
  const types = Array.isArray(type) ? type : [type];
  return types.length > 0 && types.every((t) => t === 'object' || t === 'array');
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Environment variables named by `${…}` in header values, each once. */
export function envReferences(action: ActionConfig): string[] {
  const names = Object.values(action.request.headers).flatMap((value) =>
    [...value.matchAll(ENV_REFERENCE)].map((m) => m[1]),
  );
  return [...new Set(names)];
}

/**
 * The schema as enforced and as shown to the LLM. Without `additionalProperties` JSON Schema
 * allows any extra argument; here an undeclared argument is refused unless the file opts in.
 */
function closedSchema(parameters: Record<string, unknown>): Record<string, unknown> {
  return parameters.additionalProperties === undefined ? { ...parameters, additionalProperties: false } : parameters;
}

function compileSchema(
  parameters: Record<string, unknown>,
): { ok: true; validate: ValidateFunction } | { ok: false; error: string } {
  const schema = closedSchema(parameters);
  try {
    return { ok: true, validate: ajv.compile(schema) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    // Keeps the shared instance from holding every schema it ever checked (config reloads).
    ajv.removeSchema(schema);
  }
}

export type ArgumentsResult = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };
export type ArgumentsValidator = (args: unknown) => ArgumentsResult;

const validators = new WeakMap<ActionConfig, ArgumentsValidator>();

/**
 * Checks the LLM's arguments against `parameters`, filling declared defaults into a copy. The
 * error is one short line the LLM can act on, quoting the schema but never the value it sent.
 */
export function compileArguments(action: ActionConfig): ArgumentsValidator {
  const cached = validators.get(action);
  if (cached) return cached;
  const compiled = compileSchema(action.parameters);
  // ActionSchema compiled this schema already, so this only fails for an unparsed action.
  if (!compiled.ok) throw new Error(`action ${action.name}: ${compiled.error}`);
  const validator = toValidator(compiled.validate);
  validators.set(action, validator);
  return validator;
}

function toValidator(validate: ValidateFunction): ArgumentsValidator {
  return (args) => {
    let copy: unknown;
    try {
      copy = structuredClone(args);
    } catch {
      return { ok: false, error: 'arguments must be JSON' };
    }
    if (validate(copy)) return { ok: true, value: copy as Record<string, unknown> };
    const [first] = validate.errors ?? [];
    return { ok: false, error: first ? clip(describeError(first), 200) : 'arguments are invalid' };
  };
}

function describeError(e: ErrorObject): string {
  const where = pointerToPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${join(where, String(params.missingProperty))} is required`;
    case 'additionalProperties':
      return `${join(where, String(params.additionalProperty))} is not a declared parameter`;
    case 'enum':
      return `${where || 'arguments'} must be one of ${clip(JSON.stringify(params.allowedValues), 100)}`;
    case 'type':
      return where ? `${where} must be ${String(params.type)}` : 'arguments must be a JSON object';
    default:
      return `${where || 'arguments'} ${e.message ?? 'is invalid'}`;
  }
}

/** `/shipment/items/0` → `shipment.items.0`; each part clipped, since the LLM chose the names. */
function pointerToPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .slice(1)
    .split('/')
    .map((part) => printable(part.replace(/~1/g, '/').replace(/~0/g, '~')))
    .join('.');
}

function join(path: string, key: string): string {
  return path ? `${path}.${printable(key)}` : printable(key);
}

function printable(text: string): string {
  return clip(text.replace(/[\x00-\x1f\x7f]/g, ' '), 40);
}

/** What the OpenAI Chat Completions `tools` array takes for one function. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/**
 * The tool as offered to the LLM. Not `strict: true`: OpenAI's strict mode demands every property
 * be required and rejects many keywords, which user schemas need not meet; compileArguments is
 * what enforces the schema.
 */
export function toolDefinition(action: ActionConfig): ToolDefinition {
  return {
    type: 'function',
    function: { name: action.name, description: action.description, parameters: closedSchema(action.parameters) },
  };
}
