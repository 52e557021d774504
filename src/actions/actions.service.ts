import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { AgentConfig } from '../config/agents.schema.js';
import { safeError } from '../common/safe-error.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { performCall, type CallOutcome } from './action-http.js';
import { prepareCall } from './action-request.js';
import { ActionCallRepository, type ActionCallRow } from './action-calls.repository.js';
import { reportedOutcome, type ActionCallOutcome, type ActionCallRequest, type ActionPort } from './action.port.js';

/** Which turn a port serves: its calls are recorded under it, and a side-effect call's key derives from it. */
export interface TurnRef {
  conversationId: string;
  session: number;
  /** The first contact message the turn answers: the same when a crashed turn is tried again. */
  turnKey: string;
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
    const idempotencyKey = action.sideEffects && request.args ? keyOf(turn, action.name, request.args) : null;
    const prepared = request.refused ? undefined : prepareCall(action, request.args ?? {}, agent.actionEnv, idempotencyKey ? { idempotencyKey } : {});
    const refusal = request.refused ?? (prepared && !prepared.ok ? prepared.error : null);
    if (refusal !== null || !prepared?.ok) {
      const { id } = await this.calls.start({ ...base, rawArguments: request.args ? null : request.rawArguments, url: null, idempotencyKey: null }, 'refused', refusal);
      this.count(agent, action.name, 'refused');
      this.logger.warn({ ...log, why: refusal, msg: 'action call refused; no request made' });
      return { outcome: blank('refused', refusal), id };
    }

    const { id, earlier } = await this.calls.start({ ...base, rawArguments: null, url: prepared.call.url, idempotencyKey }, 'started');
    if (earlier) {
      this.logger.warn({ ...log, status: earlier.status, msg: 'side-effect call already recorded for this turn: not made again' });
      this.count(agent, action.name, earlier.status === 'started' ? 'unknown' : 'reused');
      return { outcome: earlier.status === 'started' ? blank('unknown', 'an earlier attempt of this turn started this call and its outcome is unknown; it was not made again') : fromRow(earlier), id };
    }
    let outcome: CallOutcome;
    try {
      outcome = await performCall(prepared.call, { timeoutMs: Math.max(1, request.deadline - Date.now()), fields: action.response.fields, maxBytes: action.response.maxBytes, secrets: prepared.secrets });
    } catch (err) {
      // performCall reports what it can as an outcome; anything else is a bug, said as a failure.
      this.logger.error({ ...log, err: safeError(err), msg: 'action call threw' });
      outcome = { ...blank('failed', 'the call failed unexpectedly'), status: 'failed' };
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

function keyOf(turn: TurnRef, action: string, args: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify([turn.conversationId, turn.session, turn.turnKey, action, canonical(args)])).digest('hex');
}

/** Key order must not make two identical calls look different. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  return value;
}

function blank(status: ActionCallOutcome['status'], error: string | null): ActionCallOutcome {
  return { status, httpStatus: null, result: null, error, latencyMs: 0, resultBytes: 0 };
}

function fromRow(row: ActionCallRow): ActionCallOutcome {
  return { status: row.status as ActionCallOutcome['status'], httpStatus: row.http_status, result: row.result, error: row.error, latencyMs: 0, resultBytes: row.result_bytes };
}
