import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { DecisionEngine } from '../agent/decision.engine.js';
import { DecisionRepository } from '../agent/decision.repository.js';
import { planFold } from '../agent/memory.js';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { InboxClient } from '../inbox/inbox.client.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { ConversationLostError } from '../inbox/inbox.errors.js';
import { TurnQueue } from '../scheduler/turn-queue.js';
import { ActionRepository } from './action.repository.js';
import { ActionRunner } from './action.runner.js';
import { contextFor, toEntry } from './context.js';
import { ConversationRepository, type ConversationRow } from './conversation.repository.js';
import { decisionCall } from './decision-body.js';

/** This process, as a lease owner. */
export const PROCESS_ID = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;

/** How soon to try again when another process holds the conversation's lease. */
const BUSY_RETRY_MS = 1000;

/** Leaves time for the handover call itself when the LLM runs up to the VA deadline. */
const DECISION_DEADLINE_SLACK_MS = 2000;

@Injectable()
export class TurnService {
  private readonly logger = new Logger(TurnService.name);

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly conversations: ConversationRepository,
    private readonly actions: ActionRepository,
    private readonly runner: ActionRunner,
    private readonly decisions: DecisionRepository,
    private readonly engine: DecisionEngine,
    private readonly inbox: InboxClient,
    private readonly turns: TurnQueue,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * One turn: answer every pending contact message of the conversation together (or ask a
   * delegated conversation's opening question). Runs under the conversation's lease; if another
   * process holds it, that process picks up whatever is pending when it finishes.
   */
  async run(conversationId: string): Promise<void> {
    const leaseMs = this.config.env.TURN_LEASE;
    const claimed = await this.conversations.claimLease(conversationId, PROCESS_ID, leaseMs);
    if (!claimed) {
      // Another process holds the lease. A live owner picks up what is pending when it finishes;
      // a dead one's lease expires. Either way, look again shortly rather than trust it.
      await this.turns.requestTurn(conversationId, BUSY_RETRY_MS);
      return;
    }
    const renew = setInterval(() => void this.conversations.renewLease(conversationId, PROCESS_ID, leaseMs).catch(() => undefined), leaseMs / 3);
    let after: Awaited<ReturnType<ConversationRepository['releaseLease']>>;
    try {
      await this.turn(claimed);
    } finally {
      // Released even when the turn fails, so that any process can retry it at once.
      clearInterval(renew);
      after = await this.conversations.releaseLease(conversationId, PROCESS_ID);
    }
    // Released and checked in one statement: a message stored meanwhile is never left without a turn.
    if (after?.state === 'active' && after.pending) await this.turns.requestTurn(conversationId, 0);
  }

  private async turn(claimed: ConversationRow): Promise<void> {
    const agent = this.config.agent(claimed.agent_id);
    if (!agent) {
      this.logger.error({ conversationId: claimed.id, agentId: claimed.agent_id, msg: 'no such agent in the agents file any more; not answering' });
      return;
    }
    const log = { agentId: agent.id, conversationId: claimed.id };

    // A crashed or failed earlier attempt left calls recorded but not made: make them first.
    const conversation = await this.runner.replayPlanned(claimed);
    if (conversation?.state !== 'active') return;

    // One read gives the transcript, what is pending, and whether the agent has spoken this session
    // (a summary exists only after a delivered reply).
    const transcript = await this.conversations.transcript(conversation.id, conversation.session, conversation.summarized_through);
    const pending = transcript.filter((m) => m.direction === 'inbound' && m.handled_at === null);
    const outboundThisSession = conversation.summarized_through !== null || transcript.some((m) => m.direction === 'outbound');
    const opening = conversation.mode === 'delegation' && !outboundThisSession && pending.length === 0;
    if (pending.length === 0 && !opening) return;
    if (opening && conversation.first_question_at === null) return; // the greeting already went out

    if (agent.typingIndicator) {
      try {
        await this.inbox.manipulateConversation(conversation.inbox_conversation_id, { indicateTyping: 'START' });
      } catch (err) {
        if (err instanceof ConversationLostError) {
          await this.runner.markLost(conversation);
          return;
        }
        this.logger.warn({ ...log, err: (err as Error).message, msg: 'typing indicator failed; deciding anyway' });
      }
    }

    const ctx = contextFor(agent, conversation, transcript);
    const due = opening ? conversation.first_question_at : conversation.va_deadline_at;
    const deadline = due ? due.getTime() - DECISION_DEADLINE_SLACK_MS : undefined;
    const outcome = await this.engine.decide(agent, ctx, { kind: opening ? 'opening' : 'turn', deadline });
    this.logger.log({ ...log, action: outcome.decision.action, failure: outcome.failure, guardrails: outcome.guardrails, latencyMs: outcome.latencyMs, msg: 'decided' });
    this.metrics.decisions.inc({ agent: agent.id, action: outcome.decision.action, cause: outcome.failure ? 'llm_failure' : outcome.forcedHandover ? 'guardrail' : 'llm' });
    this.metrics.llmLatency.observe({ agent: agent.id }, outcome.latencyMs / 1000);

    const call = decisionCall(agent, conversation, outcome, (why, llmNote) => this.engine.handoverNote(agent, ctx, why, llmNote));
    const action = await this.dataSource.transaction(async (db) => {
      // Nothing is recorded if a timer handed the conversation over, or it was started again, meanwhile.
      if (!(await this.conversations.countTurn(db, conversation.id, conversation.session, opening ? 0 : 1))) return undefined;
      const decisionId = await this.decisions.insert(db, conversation.id, conversation.session, outcome);
      await this.conversations.markHandled(db, pending.map((m) => m.id), decisionId);
      return this.actions.plan(db, { conversationId: conversation.id, session: conversation.session, decisionId, ...call });
    });
    if (!action) return;

    const result = await this.runner.execute(conversation, action);
    // With the reply added, can the window have overflowed? Only then is a summary step worth a read.
    if (result === 'done' && transcript.length + 1 > agent.limits.historyWindow) {
      await this.compactMemory(agent, conversation.id).catch((err) => this.logger.warn({ ...log, err: (err as Error).message, msg: 'summary step failed' }));
    }
  }

  /** Folds older messages into the running summary, off the contact's critical path. */
  private async compactMemory(agent: AgentConfig, conversationId: string): Promise<void> {
    const conversation = await this.conversations.load(conversationId);
    if (!conversation) return;
    const transcript = await this.conversations.transcript(conversation.id, conversation.session, conversation.summarized_through);
    // Never fold a message no turn has answered yet: it must stay pending, in the transcript.
    const firstPending = transcript.findIndex((m) => m.direction === 'inbound' && m.handled_at === null);
    const { fold } = planFold((firstPending < 0 ? transcript : transcript.slice(0, firstPending)).map(toEntry), agent.limits.historyWindow);
    if (fold.length === 0) return;
    const { summary } = await this.engine.summarize(agent, conversation.summary, fold, Date.now() + this.config.env.OPENAI_TIMEOUT);
    await this.conversations.saveSummary(conversation.id, conversation.summarized_through, summary, fold.at(-1)!.id);
  }
}
