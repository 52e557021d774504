import { clip } from '../common/clip.js';
import { performCall } from './action-http.js';
import { prepareCall } from './action-request.js';
import { noAnswer, type ActionCallOutcome, type ActionCallStatus, type ActionPort } from './action.port.js';

/** Why a side-effect call got no answer from a direct port: the model is told so, and may say it. */
export const NOT_MADE_HERE = 'not made in the playground';

/** One call as a direct port saw it end. */
export interface DirectCall {
  name: string;
  /** The validated arguments; null when the engine refused them. */
  args: Record<string, unknown> | null;
  /** What the model sent, for a call refused before its arguments were valid. */
  rawArguments: string;
  outcome: ActionCallOutcome;
  /** A side-effect call's request, which was never sent. Headers are left out: they carry the secrets. */
  wouldSend?: { method: string; url: string };
}

export interface DirectPortOptions {
  /** Where `${NAME}` in headers is read from; the agent's `actionEnv` (read at load) when absent. */
  env?: Record<string, string | undefined>;
  /** Told of every call the engine hands over, made or not, as it ends. */
  onCall: (call: DirectCall) => void;
}

/**
 * The playground's port: a lookup is made at once, as a live turn makes it, but kept nowhere (no
 * database, no metrics); a side-effect call is never made. It is answered `skipped`, and `onCall`
 * learns the method and URL it would have used, so trying a prompt never changes an order.
 */
export function directActionPort(options: DirectPortOptions): ActionPort {
  return {
    call: async (agent, request) => {
      const { action } = request;
      const report = (outcome: ActionCallOutcome, wouldSend?: DirectCall['wouldSend']): ActionCallOutcome => {
        options.onCall({ name: action.name, args: request.args, rawArguments: request.rawArguments, outcome, ...(wouldSend ? { wouldSend } : {}) });
        return outcome;
      };
      if (request.refused !== null) return report(noAnswer('refused', request.refused));
      const prepared = prepareCall(action, request.args ?? {}, options.env ?? agent.actionEnv);
      if (!prepared.ok) return report(noAnswer('refused', prepared.error));
      if (action.sideEffects) return report(noAnswer('skipped', NOT_MADE_HERE), { method: prepared.call.method, url: prepared.call.url });
      const outcome = await performCall(prepared.call, {
        timeoutMs: Math.max(1, request.deadline - Date.now()),
        fields: action.response.fields,
        maxBytes: action.response.maxBytes,
        secrets: prepared.secrets,
      });
      return report(outcome);
    },
  };
}


/** A call as a terminal shows it: a direct port's, or a row of `action_calls`. */
export interface CallLineInput {
  name: string;
  args: Record<string, unknown> | null;
  rawArguments?: string | null;
  status: ActionCallStatus | 'started';
  httpStatus: number | null;
  latencyMs: number | null;
  result: Record<string, unknown> | null;
  error: string | null;
  wouldSend?: { method: string; url: string };
}

const MAX_VALUE = 80;
const MAX_LINE = 400;

/**
 * One line for a person at a terminal, with what the handover note leaves out (the HTTP status, the
 * time taken): `order_status(order_number=A-12345) → 200 in 4 ms: status=in transit, carrier=DHL`,
 * `… → http_error 404 in 3 ms: HTTP 404 (order not found)`, `… → refused: <why>`.
 */
export function callLine(c: CallLineInput): string {
  const call = `${c.name}(${c.args ? pairs(c.args) : clip(oneLine(c.rawArguments ?? ''), MAX_VALUE)})`;
  const took = `in ${c.latencyMs ?? '?'} ms`;
  let line: string;
  if (c.status === 'ok') line = `${call} → ${c.httpStatus} ${took}: ${pairs(c.result ?? {}) || 'no fields in the answer'}`;
  else if (c.status === 'refused' || c.status === 'skipped' || c.status === 'unknown' || c.status === 'started')
    line = `${call} → ${c.status}: ${c.error ?? (c.status === 'started' ? 'no end recorded' : 'no reason recorded')}${c.wouldSend ? `; would send ${c.wouldSend.method} ${c.wouldSend.url}` : ''}`;
  else line = `${call} → ${c.status}${c.httpStatus ? ` ${c.httpStatus}` : ''} ${took}: ${c.error ?? c.status}`;
  return clip(line, MAX_LINE);
}

function pairs(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}=${clip(oneLine(typeof value === 'string' ? value : String(JSON.stringify(value))), MAX_VALUE)}`)
    .join(', ');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
