import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { InboxClient } from '../inbox/inbox.client.js';
import { ConversationLostError, InboxRequestError, InvalidInboxRequestError } from '../inbox/inbox.errors.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TimerQueue } from '../scheduler/timer-queue.js';
import { TurnQueue } from '../scheduler/turn-queue.js';
import { ActionRepository, type ActionRow } from './action.repository.js';
import { ConversationRepository, type ConversationRow, type DeadlineDurations } from './conversation.repository.js';
import { transition, type Input } from './state-machine.js';

export type ActionResult = 'done' | 'lost' | 'failed';

export function durationsFor(agent: AgentConfig): DeadlineDurations {
  const t = agent.timeouts;
  return {
    vaDeadline: t.virtualAgent - t.virtualAgentMargin,
    firstQuestion: t.firstQuestion,
    contactNudge: t.contactNudge,
    contactDeadline: t.contact,
  };
}

export function machineConfig(agent: AgentConfig) {
  return { hasNudge: agent.timeouts.contactNudge !== undefined, onContactTimeout: agent.timeouts.onContactTimeout };
}

/**
 * Executes one recorded REST call and records what came of it: record, act, record. A delivered
 * call feeds the state machine; a 404 marks the conversation lost; a transient failure leaves the
 * call planned for the retried job, and a permanent one marks it failed (the VA deadline still
 * stands, so the conversation still ends with a human).
 */
@Injectable()
export class ActionRunner {
  private readonly logger = new Logger(ActionRunner.name);

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly inbox: InboxClient,
    private readonly actions: ActionRepository,
    private readonly conversations: ConversationRepository,
    private readonly turns: TurnQueue,
    private readonly timers: TimerQueue,
    private readonly metrics: MetricsService,
  ) {}

  async execute(conversation: ConversationRow, action: ActionRow): Promise<ActionResult> {
    const agent = this.config.agent(conversation.agent_id)!;
    const log = { agentId: agent.id, conversationId: conversation.id, actionId: action.id, kind: action.kind };
    try {
      await this.inbox.manipulateConversation(conversation.inbox_conversation_id, action.body);
    } catch (err) {
      if (err instanceof ConversationLostError && !(err.afterAmbiguousAttempt && action.body.complete)) {
        this.logger.warn({ ...log, msg: 'conversation lost (404): a human or the platform has it now' });
        this.metrics.inboxActions.inc({ kind: action.kind, result: 'lost' });
        await this.markLost(conversation, action.id);
        return 'lost';
      }
      if (err instanceof ConversationLostError) {
        // Our earlier attempt most likely completed it and only the answer was lost.
        this.logger.warn({ ...log, msg: '404 after an ambiguous attempt of a completing call: taken as delivered' });
      } else if (err instanceof InboxRequestError || err instanceof InvalidInboxRequestError) {
        this.logger.error({ ...log, err: err.message, msg: 'the platform refused the call; the VA deadline will hand over' });
        await this.actions.finish(this.dataSource.manager, action.id, 'failed', err.message);
        this.metrics.inboxActions.inc({ kind: action.kind, result: 'failed' });
        return 'failed';
      } else {
        await this.actions.countAttempt(action.id, (err as Error).message);
        this.metrics.inboxActions.inc({ kind: action.kind, result: 'retry' });
        throw err;
      }
    }
    await this.delivered(conversation, agent, action);
    this.metrics.inboxActions.inc({ kind: action.kind, result: 'done' });
    this.logger.log({ ...log, msg: 'action delivered' });
    return 'done';
  }

  /**
   * Makes the calls an earlier attempt recorded but did not make (a crash, a failed job), oldest
   * first. Returns the conversation as it now is, or undefined if it was lost on the way.
   */
  async replayPlanned(conversation: ConversationRow): Promise<ConversationRow | undefined> {
    const planned = await this.actions.planned(conversation.id);
    for (const action of planned) {
      if ((await this.execute(conversation, action)) === 'lost') return undefined;
    }
    return planned.length ? this.conversations.load(conversation.id) : conversation;
  }

  async markLost(conversation: ConversationRow, actionId?: string): Promise<void> {
    const agent = this.config.agent(conversation.agent_id)!;
    await this.dataSource.transaction(async (db) => {
      if (actionId) await this.actions.finish(db, actionId, 'lost', '404: conversation no longer assigned to this agent');
      await this.actions.supersede(db, conversation.id);
      await this.conversations.applyTransition(db, conversation.id, transition(conversation.state, { type: 'lost' }, machineConfig(agent)), durationsFor(agent));
    });
  }

  private async delivered(conversation: ConversationRow, agent: AgentConfig, action: ActionRow): Promise<void> {
    const texts = [action.body.sendMessage, ...(action.body.sendMessages ?? [])].map((m) => m?.text).filter((t): t is string => !!t);
    const result = await this.dataSource.transaction(async (db) => {
      await this.actions.finish(db, action.id, 'done');
      for (const text of texts) {
        await this.conversations.insertOutbound(db, { conversationId: conversation.id, session: action.session, text, decisionId: action.decision_id, actionId: action.id });
      }
      const current = await this.conversations.loadWithPending(db, conversation.id);
      // A call delivered for an older session (the conversation was started again since) changes nothing now.
      if (!current || current.session !== action.session) return { nextDeadline: null, requestTurn: false };
      const input: Input = { type: 'delivered', what: action.kind, pendingInbound: current.pending };
      const t = transition(current.state, input, machineConfig(agent));
      const applied = await this.conversations.applyTransition(db, conversation.id, t, durationsFor(agent));
      return { nextDeadline: applied.nextDeadline, requestTurn: t.effects.some((e) => e.type === 'requestTurn') };
    });
    await this.afterCommit(conversation.id, result.nextDeadline, result.requestTurn ? 0 : undefined);
  }

  /** Redis is only the trigger: a lost job is re-armed from Postgres by the scheduler's sweep. */
  async afterCommit(conversationId: string, nextDeadline: Date | null, turnDelay?: number): Promise<void> {
    try {
      if (nextDeadline) await this.timers.arm(conversationId, nextDeadline);
      if (turnDelay !== undefined) await this.turns.requestTurn(conversationId, turnDelay);
    } catch (err) {
      this.logger.error({ conversationId, err: (err as Error).message, msg: 'could not enqueue; the sweep will re-arm from Postgres' });
    }
  }
}
