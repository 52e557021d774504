import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { AgentConfig } from '../config/agents.schema.js';
import { safeError } from '../common/safe-error.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { performCall, type CallOutcome } from './action-http.js';
import { prepareCall } from './action-request.js';
import { ActionCallRepository, type ActionCallRow } from './action-calls.repository.js';
import { canonicalArgs, noAnswer, reportedOutcome, type ActionCallOutcome, type ActionCallRequest, type ActionPort } from './action.port.js';
import type { ActionConfig } from './action.schema.js';

/** Which turn a port serves: its calls are recorded under it, and a side-effect call's key derives from it. */
export interface TurnRef {
  conversationId: string;
  session: number;
  /** The first contact message the turn answers: the same when a crashed turn is tried again. */
  turnKey: string;
  /** Checked just before a side-effect request: false when this worker lost the conversation's lease (or the conversation moved on). */
  stillOwned?: () => Promise<boolean>;
}

/**
 * The live turn's action port: each call is recorded, then made, then finished, and counted in the
 * metrics. A side-effect call carries an idempotency key made of the turn and its arguments: an
 * attempt that finds the key recorded does not call again (the outbox rule), it reuses the recorded
 * outcome or, when the earlier attempt never finished, reports the outcome as unknown.
 */
@Injectable()
export class ActionsService {
  private readonly logger = new Logger(ActionsService.name);

  constructor(
    private readonly calls: ActionCallRepository,
    private readonly metrics: MetricsService,
  ) {}

  forTurn(turn: TurnRef): ActionPort & { recorded: string[] } {
    const recorded: string[] = [];
    return {
      recorded,
      call: async (agent, request) => {
        const { outcome, id } = await this.call(agent, turn, request);
        if (id) recorded.push(id);
        return outcome;
      },
    };
  }

  private async call(agent: AgentConfig, turn: TurnRef, request: ActionCallRequest): Promise<{ outcome: ActionCallOutcome; id?: string }> {
    const { action } = request;
    const log = { agentId: agent.id, conversationId: turn.conversationId, action: action.name };
    const base = { conversationId: turn.conversationId, session: turn.session, agentId: agent.id, action: action.name, args: request.args, method: action.request.method, sideEffects: action.sideEffects };
    const idempotencyKey = action.sideEffects && request.args ? keyOf(turn, action, request.args) : null;
    const prepared = request.refused ? undefined : prepareCall(action, request.args ?? {}, agent.actionEnv, idempotencyKey ? { idempotencyKey } : {});
    const budgetMs = request.deadline - Date.now();
    // Too little time left to get an answer: a lookup would only time out, and a side effect would go
    // out with no chance of learning whether it happened.
    const refusal =
      request.refused ??
      (prepared && !prepared.ok ? prepared.error : null) ??
      (budgetMs < MIN_CALL_BUDGET_MS ? 'not made: too little time is left in this turn; answer without it' : null) ??
      (action.sideEffects && turn.stillOwned && !(await turn.stillOwned()) ? 'not made: this worker no longer owns the conversation' : null);
    if (refusal !== null || !prepared?.ok) {
      const { id } = await this.calls.start({ ...base, rawArguments: request.args ? null : request.rawArguments, url: null, idempotencyKey: null }, 'refused', refusal);
      this.count(agent, action.name, 'refused');
      // The reason can quote the model's arguments (the contact's data): the row and the model get it, the log does not.
      this.logger.warn({ ...log, msg: 'action call refused; no request made' });
      return { outcome: noAnswer('refused', refusal), id };
    }

    const { id, earlier } = await this.calls.start({ ...base, rawArguments: null, url: prepared.call.url, idempotencyKey }, 'started');
    if (earlier) {
      this.logger.warn({ ...log, status: earlier.status, msg: 'side-effect call already recorded for this turn: not made again' });
      this.count(agent, action.name, earlier.status === 'started' ? 'unknown' : 'reused');
      return { outcome: earlier.status === 'started' ? noAnswer('unknown', 'an earlier attempt of this turn started this call and its outcome is unknown; it was not made again') : reportedOutcome(action, fromRow(earlier)), id };
    }
    let outcome: CallOutcome;
    try {
      outcome = await performCall(prepared.call, { timeoutMs: Math.max(1, request.deadline - Date.now()), fields: action.response.fields, maxBytes: action.response.maxBytes, secrets: prepared.secrets });
    } catch (err) {
      // performCall reports what it can as an outcome; anything else is a bug, said as a failure.
      this.logger.error({ ...log, err: safeError(err), msg: 'action call threw' });
      outcome = { ...noAnswer('failed', 'the call failed unexpectedly'), status: 'failed' };
    }
    await this.calls.finish(id, outcome);
    this.count(agent, action.name, outcome.status);
    this.metrics.actionLatency.observe({ agent: agent.id, action: action.name }, outcome.latencyMs / 1000);
    this.logger.log({ ...log, status: outcome.status, httpStatus: outcome.httpStatus, latencyMs: outcome.latencyMs, resultBytes: outcome.resultBytes, msg: 'action call made' });
    // Recorded as it ended (a timeout stays a timeout in action_calls); reported as the rule says.
    return { outcome: reportedOutcome(action, outcome), id };
  }

  private count(agent: AgentConfig, action: string, result: string): void {
    this.metrics.actionCalls.inc({ agent: agent.id, action, result });
  }
}

/**
 * The idempotency key of a side-effect call: the turn, the action, and the arguments that identify
 * what it acts on (those named in `requires`, when the action takes them; else all of them), so a
 * retried turn whose model words a free-text argument differently still finds the first call.
 */
function keyOf(turn: TurnRef, action: ActionConfig, args: Record<string, unknown>): string {
  const identifying = action.requires.filter((name) => args[name] !== undefined);
  const keyArgs = identifying.length ? Object.fromEntries(identifying.map((name) => [name, args[name]])) : args;
  return createHash('sha256').update(JSON.stringify([turn.conversationId, turn.session, turn.turnKey, action.name, canonicalArgs(keyArgs)])).digest('hex');
}

/** Under this, a call is not started: the 100 ms floor of an action's own timeout. */
const MIN_CALL_BUDGET_MS = 100;



function fromRow(row: ActionCallRow): ActionCallOutcome {
  return { status: row.status as ActionCallOutcome['status'], httpStatus: row.http_status, result: row.result, error: row.error, latencyMs: 0, resultBytes: row.result_bytes };
}
