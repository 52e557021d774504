import { pickFields } from '../actions/action-http.js';
import { offeredActions, type ActionCallOutcome, type ActionCallStatus, type ActionCallSummary, type ActionPort } from '../actions/action.port.js';
import type { ActionConfig } from '../actions/action.schema.js';
import type { AgentConfig } from '../config/agents.schema.js';
import type { LoadedCase } from './case.loader.js';
import type { ActionFixture, CaseFixtures } from './case.schema.js';

/** What the model reads for a call its case gave no answer for; the run then fails on it (see score.ts). */
export const NO_FIXTURE = 'no fixture in this case';

/**
 * The port of an eval run: each call is answered from the case's `actions:` fixtures, never from
 * the team's systems. A fixture's body is reduced as a live answer is (action-http.ts: only the
 * listed fields, within `maxBytes`), so a fixture with more fields proves the model never sees them.
 * A call the case has no fixture for is `skipped`, said so to the model, and reported.
 */
export function fixturePort(fixtures: CaseFixtures = {}): ActionPort {
  return {
    call: async (_agent, request) => {
      if (request.refused !== null) return blank('refused', request.refused);
      const entries = Object.hasOwn(fixtures, request.action.name) ? fixtures[request.action.name] : undefined;
      if (!entries) return blank('skipped', NO_FIXTURE);
      const entry = entries.find((f) => !f.when || argsInclude(request.args ?? {}, f.when));
      if (!entry) return blank('skipped', `${NO_FIXTURE} for these arguments`);
      return asLivePortReports(request.action, fixtureOutcome(request.action, entry));
    },
  };
}

/** The outcome a fixture stands for, as the live call would have produced it. */
export function fixtureOutcome(action: ActionConfig, f: ActionFixture): ActionCallOutcome {
  if (f.result) {
    const result = pickFields(f.result, action.response.fields);
    const resultBytes = Buffer.byteLength(JSON.stringify(result));
    const httpStatus = f.httpStatus ?? 200;
    if (resultBytes > action.response.maxBytes)
      return { ...blank('too_large', `the selected fields are ${resultBytes} bytes, over the limit of ${action.response.maxBytes}`), httpStatus };
    return { status: 'ok', httpStatus, result, error: null, latencyMs: 0, resultBytes };
  }
  const status = f.status ?? 'http_error';
  const stated = status === 'http_error' ? Number(/^HTTP (\d{3})\b/.exec(f.error ?? '')?.[1]) || null : null;
  const httpStatus = f.httpStatus ?? stated;
  return { ...blank(status, f.error ?? defaultError(status, action, httpStatus)), httpStatus };
}

/** The errors a live call reports (action-http.ts), for a fixture that names only its status. */
function defaultError(status: ActionCallStatus, action: ActionConfig, httpStatus: number | null): string {
  switch (status) {
    case 'http_error':
      return `HTTP ${httpStatus ?? 500}`;
    case 'timeout':
      return `no answer within ${action.request.timeout} ms`;
    case 'failed':
      return 'connection failed: ECONNREFUSED';
    case 'too_large':
      return 'the response is over 1 MiB';
    case 'invalid_response':
      return 'the response is not JSON';
    default:
      return 'the outcome is unknown';
  }
}

/**
 * What the live port reports for an outcome (actions.service.ts): a side-effect call that timed
 * out may have been carried out, so it is `unknown`, never a failure the model may retry.
 */
export function asLivePortReports(action: ActionConfig, outcome: ActionCallOutcome): ActionCallOutcome {
  if (!action.sideEffects || outcome.status !== 'timeout') return outcome;
  return { ...outcome, status: 'unknown', error: `${outcome.error}; it may have been carried out` };
}

/** A call the bridge made (or, offline, would have made): every one the engine did not refuse. */
export function madeCall(c: Pick<ActionCallSummary, 'status'>): boolean {
  return c.status !== 'refused';
}

/** A call an eval answered with "no fixture in this case": the case needs one. */
export function unfixturedCall(c: Pick<ActionCallSummary, 'status' | 'error'>): boolean {
  return c.status === 'skipped' && (c.error ?? '').startsWith(NO_FIXTURE);
}

/** `order_status(order_number=A-12345)`: a call as a person reads it, without its outcome. */
export function callText(c: Pick<ActionCallSummary, 'name' | 'args'>): string {
  const args = Object.entries(c.args ?? {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${c.name}(${args.join(', ')})`;
}

/** Every key of `partial` is in `args` with an equal value (see sameValue). */
export function argsInclude(args: Record<string, unknown>, partial: Record<string, unknown>): boolean {
  return Object.entries(partial).every(([key, want]) => Object.hasOwn(args, key) && sameValue(args[key], want));
}

/**
 * Equal as JSON, key order ignored; a number and its digits as text are equal, since YAML reads
 * `12345` as a number where the model sends "12345".
 */
export function sameValue(a: unknown, b: unknown): boolean {
  const scalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
  if (scalar(a) && scalar(b)) return String(a) === String(b);
  return canonicalJson(a) === canonicalJson(b);
}

/** JSON with object keys sorted: two calls with the same arguments in another order are the same call. */
export function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sorted(value ?? null));
}

/**
 * What a case says about actions that its agent does not have: a fixture, an expected call or a
 * `when` naming an action the agent does not offer, or an argument the action does not take. Each
 * problem names the file, the line, the case and the field, like the loader's.
 */
export function caseActionProblems(c: LoadedCase, agent: AgentConfig): string[] {
  const offered = new Map(offeredActions(agent).map((a) => [a.name, a]));
  const has = offered.size ? `it has: ${[...offered.keys()].join(', ')}` : 'it has none';
  const problems: string[] = [];
  const at = (field: string, problem: string) => problems.push(`${c.file}:${c.fieldLines?.[field] ?? c.line}: case "${c.id}" field ${field}: ${problem}`);
  const unknown = (name: string) => {
    if (offered.has(name)) return false;
    const declared = agent.actions.find((a) => a.name === name);
    return declared
      ? `action "${name}" has side effects and agent "${agent.id}" does not set allowSideEffects: it is never offered`
      : `agent "${agent.id}" has no action "${name}" (${has})`;
  };
  const parameters = (action: ActionConfig) => Object.keys((action.parameters as { properties?: Record<string, unknown> }).properties ?? {});
  const checkArgs = (field: string, action: ActionConfig, args: Record<string, unknown>, what: string) => {
    const names = parameters(action);
    for (const key of Object.keys(args)) if (!names.includes(key)) at(field, `${what}${key} is not a parameter of ${action.name} (${names.length ? `it takes: ${names.join(', ')}` : 'it takes none'})`);
  };

  for (const [name, entries] of Object.entries(c.actions ?? {})) {
    const problem = unknown(name);
    if (problem) at(`actions.${name}`, problem);
    else for (const f of entries) checkArgs(`actions.${name}`, offered.get(name)!, f.when ?? {}, 'when.');
  }
  for (const name of c.expect.calls ?? []) {
    const problem = unknown(name);
    if (problem) at('expect.calls', problem);
  }
  for (const [name, args] of Object.entries(c.expect.callArgs ?? {})) {
    const problem = unknown(name);
    if (problem) at(`expect.callArgs.${name}`, problem);
    else checkArgs(`expect.callArgs.${name}`, offered.get(name)!, args, '');
  }
  return problems;
}

function blank(status: ActionCallStatus, error: string | null): ActionCallOutcome {
  return { status, httpStatus: null, result: null, error, latencyMs: 0, resultBytes: 0 };
}
