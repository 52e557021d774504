import { Injectable, Logger } from '@nestjs/common';
import { DecisionEngine } from '../agent/decision.engine.js';
import { safeError } from '../common/safe-error.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { textSafe } from '../database/jsonb-safe.js';
import { InboxClient } from '../inbox/inbox.client.js';
import { ConversationLostError, InboxRequestError, InvalidInboxRequestError } from '../inbox/inbox.errors.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { ActionRepository, type Action } from './action.repository.js';
import { contextFor } from './context.js';
import { ConversationRepository, LeaseLostError } from './conversation.repository.js';
import type { Conversation } from './conversation.types.js';
import { cannedCall } from './decision-body.js';
import type { Lease } from './lease.service.js';
import { requestsTurn, sendOf, transition } from './state-machine.js';
import { durationsFor, machineConfig } from './timing.js';
import { WakeUpService } from './wake-up.service.js';

export type ActionResult = 'done' | 'lost' | 'failed' | 'superseded';

/**
 * Executes one recorded REST call and records what came of it: record, act, record. The lease is
 * checked (and extended to cover the call) just before sending, so a worker that lost it sends
 * nothing; what a call did is recorded whoever holds the lease by then. A delivered call feeds the
 * state machine; a 404 marks the session lost; a transient failure leaves the call planned for the
 * retried job; a permanent refusal is fed to the state machine, which hands over.
 */
@Injectable()
export class ActionRunner {
  private readonly logger = new Logger(ActionRunner.name);

  constructor(
    private readonly inbox: InboxClient,
    private readonly actions: ActionRepository,
    private readonly conversations: ConversationRepository,
    private readonly engine: DecisionEngine,
    private readonly wakeUp: WakeUpService,
    private readonly metrics: MetricsService,
  ) {}

  async execute(lease: Lease, agent: AgentConfig, conversation: Conversation, action: Action): Promise<ActionResult> {
    const log = { agentId: agent.id, conversationId: conversation.id, actionId: action.id, kind: action.kind };
    // Checked before every attempt, the client's own retries included: a session opened meanwhile
    // supersedes the call, and a retry must never carry it into the new session.
    const beforeAttempt = async () => {
      if (!(await lease.checkSend(action.id, action.session))) throw new CallSupersededError();
    };
    try {
      await this.inbox.forAgent(agent).manipulateConversation(conversation.inboxConversationId, action.body, { beforeAttempt });
    } catch (err) {
      if (err instanceof CallSupersededError) {
        this.logger.log({ ...log, msg: 'call superseded before it was sent (the session ended or a new one opened): not sent' });
        return 'superseded';
      }
      if (err instanceof ConversationLostError && !(err.afterAmbiguousAttempt && action.body.complete)) {
        this.logger.warn({ ...log, msg: 'conversation lost (404): a human or the platform has it now' });
        this.metrics.inboxActions.inc({ kind: action.kind, result: 'lost' });
        await this.markLost(conversation.id, action.session, action.id);
        return 'lost';
      }
      if (err instanceof ConversationLostError) {
        // Our earlier attempt most likely completed it and only the answer was lost.
        this.logger.warn({ ...log, msg: '404 after an ambiguous attempt of a completing call: taken as delivered' });
      } else if (err instanceof InboxRequestError || err instanceof InvalidInboxRequestError) {
        const status = err instanceof InboxRequestError ? err.status : 'invalid';
        this.logger.error({ ...log, status, msg: 'the platform refused the call; handing over' });
        this.metrics.inboxActions.inc({ kind: action.kind, result: 'failed' });
        await this.refused(lease, agent, action, err instanceof InboxRequestError ? `${err.status}` : 'invalid request');
        return 'failed';
      } else if (action.attempts + 1 >= MAX_CALL_ATTEMPTS && !(err instanceof LeaseLostError)) {
        // The platform keeps failing this call: stop retrying it and hand over instead of staying silent.
        this.logger.error({ ...log, attempts: action.attempts + 1, err: safeError(err), msg: 'the call kept failing; handing over' });
        this.metrics.inboxActions.inc({ kind: action.kind, result: 'failed' });
        await this.refused(lease, agent, action, `it failed ${action.attempts + 1} times`);
        return 'failed';
      } else {
        if (!(err instanceof LeaseLostError)) await this.actions.countAttempt(action.id, textSafe((err as Error).message).slice(0, 500));
        this.metrics.inboxActions.inc({ kind: action.kind, result: 'retry' });
        throw err;
      }
    }
    await this.delivered(agent, conversation, action);
    this.metrics.inboxActions.inc({ kind: action.kind, result: 'done' });
    this.logger.log({ ...log, msg: 'action delivered' });
    return 'done';
  }

  /**
   * Makes the calls an earlier attempt of this session recorded but did not make (a crash, a failed
   * job), oldest first. Calls of an earlier session were dropped when the new one opened. Returns the
   * conversation as it now is, or undefined if it was lost on the way.
   */
  async replayPlanned(lease: Lease, agent: AgentConfig, conversation: Conversation): Promise<Conversation | undefined> {
    const planned = await this.actions.planned(conversation.id, conversation.session);
    for (const action of planned) {
      if ((await this.execute(lease, agent, conversation, action)) === 'lost') return undefined;
    }
    return planned.length ? this.conversations.load(conversation.id) : conversation;
  }

  /** A 404 for a call of `session`: that session is lost; a newer one (started since) is not touched. */
  async markLost(conversationId: string, session: number, actionId?: string): Promise<void> {
    await this.conversations.locked(conversationId, undefined, async (c) => {
      if (actionId) await this.actions.finish(actionId, 'lost', '404: conversation no longer assigned to this agent', c.db);
      if (c.conversation.session !== session) return;
      // Losing a conversation arms nothing, so an agent removed from the file since changes nothing here.
      const t = transition(prior(c.conversation), { type: 'lost' }, { hasNudge: false, onContactTimeout: 'resolve' });
      await c.apply(t, { durations: { vaDeadline: undefined, firstQuestion: undefined, contactNudge: undefined, contactDeadline: undefined } });
    });
  }

  private async delivered(agent: AgentConfig, conversation: Conversation, action: Action): Promise<void> {
    const texts = [action.body.sendMessage, ...(action.body.sendMessages ?? [])].map((m) => m?.text).filter((t): t is string => !!t);
    // The call was made: it must be recorded, or a retried job would make it again. PostgreSQL may be
    // away just now, so keep trying here rather than fail the job.
    const wake = await untilRecorded(() => this.conversations.locked(conversation.id, undefined, async (c) => {
      await this.actions.finish(action.id, 'done', null, c.db);
      for (const text of texts) await c.insertOutbound({ session: action.session, text, decisionId: action.decisionId, actionId: action.id });
      // A call delivered for an older session (the conversation was opened again since) changes nothing now.
      if (c.conversation.session !== action.session) return undefined;
      const pendingInbound = await c.pending();
      const t = transition(prior(c.conversation), { type: 'delivered', what: action.kind, pendingInbound }, machineConfig(agent));
      const applied = await c.apply(t, { durations: durationsFor(agent), ...(action.endReason ? { ending: action.endReason } : {}) });
      return { nextDeadline: applied.nextDeadlineAt, now: applied.dbNow, turnDelay: requestsTurn(t) ? 0 : undefined };
    }), (err) => this.logger.warn({ conversationId: conversation.id, actionId: action.id, err: safeError(err), msg: 'could not record a delivered call yet; trying again' }));
    if (wake) await this.wakeUp.after(conversation.id, wake);
  }

  /** The platform refused a call for good: the state machine hands over (or, if even that is refused, lets go). */
  private async refused(lease: Lease, agent: AgentConfig, action: Action, error: string): Promise<void> {
    const fallback = await this.conversations.locked(action.conversationId, undefined, async (c) => {
      await this.actions.finish(action.id, 'failed', textSafe(error).slice(0, 500), c.db);
      if (c.conversation.session !== action.session) return undefined;
      const t = transition(prior(c.conversation), { type: 'refused', what: action.kind }, machineConfig(agent));
      await c.apply(t, { durations: durationsFor(agent) });
      const send = sendOf(t);
      if (!send) return undefined;
      const ctx = contextFor(agent, c.conversation, await c.transcript());
      const call = cannedCall(agent, send, (why) => this.engine.handoverNote(agent, ctx, why), `the platform refused a ${action.kind} call (${error.slice(0, 200)})`);
      return { conversation: c.conversation, action: await this.actions.plan({ conversationId: c.conversation.id, session: c.conversation.session, decisionId: action.decisionId, ...call }, c.db) };
    });
    if (fallback) await this.execute(lease, agent, fallback.conversation, fallback.action);
  }
}

/** How many job attempts a call gets (each with the client's own retries) before it counts as refused. */
const MAX_CALL_ATTEMPTS = 5;
/** How long a delivered call's record is retried while PostgreSQL is away. */
const RECORD_RETRY_MS = 5 * 60_000;

class CallSupersededError extends Error {
  override name = 'CallSupersededError';
}

async function untilRecorded<T>(record: () => Promise<T>, onRetry: (err: unknown) => void): Promise<T> {
  const giveUpAt = Date.now() + RECORD_RETRY_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await record();
    } catch (err) {
      if (Date.now() + wait > giveUpAt) throw err;
      onRetry(err);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

export const prior = (c: Conversation) => ({ state: c.state, openedBy: c.openedBy });
