import { pickFields } from '../actions/action-http.js';
import { canonicalArgs, noAnswer, offeredActions, reportedOutcome, type ActionCallOutcome, type ActionCallStatus, type ActionCallSummary, type ActionPort } from '../actions/action.port.js';
import type { ActionConfig } from '../actions/action.schema.js';
import type { AgentConfig } from '../config/agents.schema.js';
import type { LoadedCase, LoadedCaseFile } from './case.loader.js';
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
      if (request.refused !== null) return noAnswer('refused', request.refused);
      const entries = Object.hasOwn(fixtures, request.action.name) ? fixtures[request.action.name] : undefined;
      if (!entries) return noAnswer('skipped', NO_FIXTURE);
      const entry = entries.find((f) => !f.when || argsInclude(request.args ?? {}, f.when));
      if (!entry) return noAnswer('skipped', `${NO_FIXTURE} for these arguments`);
      return reportedOutcome(request.action, fixtureOutcome(request.action, entry));
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
      return { ...noAnswer('too_large', `the selected fields are ${resultBytes} bytes, over the limit of ${action.response.maxBytes}`), httpStatus };
    return { status: 'ok', httpStatus, result, error: null, latencyMs: 0, resultBytes };
  }
  const status = f.status ?? 'http_error';
  const stated = status === 'http_error' ? Number(/^HTTP (\d{3})\b/.exec(f.error ?? '')?.[1]) || null : null;
  const httpStatus = f.httpStatus ?? stated;
  return { ...noAnswer(status, f.error ?? defaultError(status, action, httpStatus)), httpStatus };
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
  return JSON.stringify(canonicalArgs(value ?? null));
}

/**
 * What a case file says about actions that its agent does not have: a fixture (the file's own or a
 * case's), an expected call or a `when` naming an action the agent does not offer, or an argument
 * the action does not take. Each problem names the file, the line and the field (and the case),
 * like the loader's; a fixture of the file is named once, not in every case that uses it.
 */
export function caseFileActionProblems(file: LoadedCaseFile, agent: AgentConfig): string[] {
  const check = actionChecks(agent);
  const problems = Object.entries(file.actions ?? {}).flatMap(([name, entries]) =>
    check.fixtures(name, entries).map((problem) => `${file.file}:${file.fieldLines?.[`actions.${name}`] ?? 1}: field actions.${name}: ${problem}`),
  );
  return [...problems, ...file.cases.flatMap((c) => caseActionProblems(c, agent))];
}

/** The problems of one case (see caseFileActionProblems), less those of the fixtures it takes from its file. */
export function caseActionProblems(c: LoadedCase, agent: AgentConfig): string[] {
  const check = actionChecks(agent);
  const at = (field: string, problems: string[]) => problems.map((problem) => `${c.file}:${c.fieldLines?.[field] ?? c.line}: case "${c.id}" field ${field}: ${problem}`);
  return [
    ...Object.entries(c.actions ?? {})
      .filter(([name]) => !c.fileFixtures?.includes(name))
      .flatMap(([name, entries]) => at(`actions.${name}`, check.fixtures(name, entries))),
    ...(c.expect.calls ?? []).flatMap((name) => at('expect.calls', check.offered(name))),
    ...Object.entries(c.expect.callArgs ?? {}).flatMap(([name, args]) => at(`expect.callArgs.${name}`, check.callArgs(name, args))),
  ];
}

/** What is wrong with naming an action, its fixtures or its arguments, for an agent; without where it is written. */
function actionChecks(agent: AgentConfig) {
  const offered = new Map(offeredActions(agent).map((a) => [a.name, a]));
  const has = offered.size ? `it has: ${[...offered.keys()].join(', ')}` : 'it has none';
  const offeredProblems = (name: string): string[] => {
    if (offered.has(name)) return [];
    const declared = agent.actions.find((a) => a.name === name);
    return [
      declared
        ? `action "${name}" has side effects and agent "${agent.id}" does not set allowSideEffects: it is never offered`
        : `agent "${agent.id}" has no action "${name}" (${has})`,
    ];
  };
  const argProblems = (action: ActionConfig, args: Record<string, unknown>, what: string): string[] => {
    const names = Object.keys((action.parameters as { properties?: Record<string, unknown> }).properties ?? {});
    return Object.keys(args)
      .filter((key) => !names.includes(key))
      .map((key) => `${what}${key} is not a parameter of ${action.name} (${names.length ? `it takes: ${names.join(', ')}` : 'it takes none'})`);
  };
  return {
    offered: offeredProblems,
    fixtures: (name: string, entries: readonly ActionFixture[]) =>
      offered.has(name) ? entries.flatMap((f) => argProblems(offered.get(name)!, f.when ?? {}, 'when.')) : offeredProblems(name),
    callArgs: (name: string, args: Record<string, unknown>) => (offered.has(name) ? argProblems(offered.get(name)!, args, '') : offeredProblems(name)),
  };
}

