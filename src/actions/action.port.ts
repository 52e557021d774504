import type { AgentConfig } from '../config/agents.schema.js';
import { describeResult, type CallOutcome, type CallStatus } from './action-http.js';
import type { ActionConfig } from './action.schema.js';

/**
 * What became of one call the model asked for. Besides the HTTP outcomes: `refused` (the bridge
 * made no request: bad arguments, a provenance rule, the limit), `unknown` (a side-effect call an
 * earlier attempt of this turn started and never recorded an end for: it is not made again), and
 * `skipped` (a tool that must not call out, such as replay or a dry run, had no result for it).
 */
export type ActionCallStatus = CallStatus | 'refused' | 'unknown' | 'skipped';

export interface ActionCallOutcome extends Omit<CallOutcome, 'status'> {
  status: ActionCallStatus;
}

/** One call as the engine asks a port to make it: checked already, unless `refused` says why not. */
export interface ActionCallRequest {
  action: ActionConfig;
  /** The validated arguments; null when refused before validation succeeded. */
  args: Record<string, unknown> | null;
  /** What the model sent, kept for the record when it could not be used. */
  rawArguments: string;
  /** Why no request may be made; the port records the refusal and calls nothing. */
  refused: string | null;
  /** Epoch ms by which the call must be over. */
  deadline: number;
}

/**
 * Where the engine's calls go: the live turn's port makes and records them (actions.service.ts),
 * evals answer from a case's fixtures, replay from what the turn recorded, the playground calls
 * lookups and only describes side effects. The engine checks and bounds; the port acts.
 */
export interface ActionPort {
  call(agent: AgentConfig, request: ActionCallRequest): Promise<ActionCallOutcome>;
}

/** A call as the decision keeps it: for the handover note, the decisions row, metrics and reports. */
export interface ActionCallSummary {
  /** The id the model may cite in `sources` (act-1, act-2… in the order asked). */
  id: string;
  name: string;
  args: Record<string, unknown> | null;
  status: ActionCallStatus;
  httpStatus: number | null;
  result: Record<string, unknown> | null;
  error: string | null;
  latencyMs: number;
  /** One line for a person: `order_status(order_number=A-12345): status=shipped, …`. */
  line: string;
}

/** The actions an agent may use: a side-effect one only where the agent allows side effects. */
export function offeredActions(agent: Pick<AgentConfig, 'actions' | 'allowSideEffects'>): ActionConfig[] {
  return agent.actions.filter((a) => !a.sideEffects || agent.allowSideEffects);
}

/**
 * What a port reports for the outcome of a call it made, or stands in for (an eval's fixture, a
 * replayed record): a side-effect request that timed out may well have been carried out, so the
 * contact must not be told it failed, nor the model invited to try again. It is `unknown`, and a
 * person checks (the guardrail hands over).
 */
export function reportedOutcome(action: Pick<ActionConfig, 'sideEffects'>, outcome: ActionCallOutcome): ActionCallOutcome {
  if (!action.sideEffects || !mayHaveHappened(outcome)) return outcome;
  return { ...outcome, status: 'unknown', error: `${outcome.error ?? outcome.status}; it may have been carried out` };
}

/**
 * Whether a failed request may still have reached the API and been carried out: everything but a
 * failure to connect at all (refused, no such host) and a clear answer. A 502 or 504 is a gateway
 * that lost the answer, not the API saying no.
 */
function mayHaveHappened(o: ActionCallOutcome): boolean {
  if (o.status === 'timeout') return true;
  if (o.status === 'failed') return !/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/.test(o.error ?? '');
  return o.status === 'http_error' && (o.httpStatus === 502 || o.httpStatus === 504);
}

/** The outcome of a call that got no answer to report: refused, skipped, unknown, or failed before a request. */
export function noAnswer(status: ActionCallStatus, error: string | null): ActionCallOutcome {
  return { status, httpStatus: null, result: null, error, latencyMs: 0, resultBytes: 0 };
}

/** A port for callers that may not call anything: every call is refused as `skipped`, with the reason. */
export function noCallsPort(reason: string): ActionPort {
  return { call: async () => noAnswer('skipped', reason) };
}

/** The handover note's line for one call: what it returned, why it failed, or why it was not made. */
export function describeCall(c: Pick<ActionCallSummary, 'name' | 'args' | 'status' | 'error' | 'result' | 'httpStatus' | 'latencyMs'>): string {
  const args = c.args ?? {};
  if (c.status === 'refused' || c.status === 'skipped') return describeResult(c.name, args, { ...asOutcome(c), error: `not made (${c.error ?? c.status})` });
  if (c.status === 'unknown') return describeResult(c.name, args, { ...asOutcome(c), error: `outcome unknown (${c.error ?? 'not recorded'})` });
  return describeResult(c.name, args, { ...asOutcome(c), status: c.status });
}

const asOutcome = (c: Pick<ActionCallSummary, 'status' | 'error' | 'result' | 'httpStatus' | 'latencyMs'>): CallOutcome => ({
  status: 'failed',
  httpStatus: c.httpStatus,
  result: c.result,
  error: c.error,
  latencyMs: c.latencyMs,
  resultBytes: 0,
});

/** Arguments with their keys sorted, at every depth: key order must not make two identical calls look different. */
export function canonicalArgs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalArgs);
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonicalArgs((value as Record<string, unknown>)[k])]));
  return value;
}
