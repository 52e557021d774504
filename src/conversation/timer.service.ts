import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { DecisionEngine } from '../agent/decision.engine.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TimerQueue } from '../scheduler/timer-queue.js';
import { ActionRepository } from './action.repository.js';
import { ActionRunner, durationsFor, machineConfig } from './action.runner.js';
import { contextFor } from './context.js';
import { ConversationRepository, type ClaimedConversation, type ConversationRow } from './conversation.repository.js';
import { cannedCall } from './decision-body.js';
import { transition, type TimerName } from './state-machine.js';
import { PROCESS_ID } from './turn.service.js';

/** The order in which due deadlines are handled when several are due at once. */
const PRIORITY: Array<[TimerName, keyof ConversationRow]> = [
  ['firstQuestion', 'first_question_at'],
  ['vaDeadline', 'va_deadline_at'],
  ['contactDeadline', 'contact_deadline_at'],
  ['contactNudge', 'nudge_at'],
];

/** How soon to look again when the conversation is busy with a turn. */
const BUSY_RETRY_MS = 1000;

@Injectable()
export class TimerService {
  private readonly logger = new Logger(TimerService.name);

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly conversations: ConversationRepository,
    private readonly actions: ActionRepository,
    private readonly runner: ActionRunner,
    private readonly engine: DecisionEngine,
    private readonly timers: TimerQueue,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * A timer job woke us: the row says what is due. A job armed for a deadline that has since moved
   * finds nothing due and only re-arms the current one.
   */
  async fire(conversationId: string): Promise<void> {
    const claimed = await this.conversations.claimLease(conversationId, PROCESS_ID, this.config.env.TURN_LEASE);
    if (!claimed) {
      // A turn is running; it bounds its own LLM call by the VA deadline. Look again shortly.
      await this.timers.arm(conversationId, new Date(Date.now() + BUSY_RETRY_MS));
      return;
    }
    try {
      await this.handleDue(claimed);
    } finally {
      const after = await this.conversations.releaseLease(conversationId, PROCESS_ID);
      if (after?.state === 'active' && after.next_deadline_at) await this.timers.arm(conversationId, after.next_deadline_at);
    }
  }

  private async handleDue(claimed: ClaimedConversation): Promise<void> {
    const agent = this.config.agent(claimed.agent_id);
    if (!agent || claimed.state !== 'active') return;
    const conversation = await this.runner.replayPlanned(claimed);
    if (conversation?.state !== 'active') return;
    const now = claimed.db_now;

    for (const [timer, column] of PRIORITY) {
      const due = conversation[column] as Date | null;
      if (!due || due > now) continue;
      const exchange = await this.conversations.exchange(conversation.id, conversation.session);
      const t = transition(conversation.state, { type: 'timer', timer, ...exchange }, machineConfig(agent));
      const send = t.effects.find((e) => e.type === 'send');
      const log = { agentId: agent.id, conversationId: conversation.id, timer };
      if (!send) {
        await this.conversations.applyTransition(this.dataSource.manager, conversation.id, t, durationsFor(agent));
        this.logger.debug({ ...log, msg: 'deadline passed with nothing to do' });
        continue;
      }
      const transcript = await this.conversations.transcript(conversation.id, conversation.session, conversation.summarized_through);
      const ctx = contextFor(agent, conversation, transcript);
      const call = cannedCall(agent, send.send, (why) => this.engine.handoverNote(agent, ctx, why));
      const action = await this.dataSource.transaction(async (db) => {
        if (call.body.complete) {
          // Ending the conversation answers whatever is pending, and replaces any call not yet made.
          await this.actions.supersede(db, conversation.id);
          await this.conversations.markAllPendingHandled(db, conversation.id);
        }
        await this.conversations.applyTransition(db, conversation.id, t, durationsFor(agent));
        return this.actions.plan(db, { conversationId: conversation.id, session: conversation.session, decisionId: null, ...call });
      });
      this.logger.log({ ...log, send: send.send.what, msg: 'deadline passed: acting' });
      this.metrics.timerActions.inc({ agent: agent.id, what: send.send.what });
      await this.runner.execute(conversation, action);
      return; // one action per wake; the next deadline gets its own job
    }
  }
}
