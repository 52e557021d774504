import { Injectable, Logger } from '@nestjs/common';
import { ActionCallRepository } from '../actions/action-calls.repository.js';
import { ActionsService } from '../actions/actions.service.js';
import { snapshotOf, type IdentifiedContext } from '../agent/context-snapshot.js';
import { DecisionEngine, type DecisionOutcome } from '../agent/decision.engine.js';
import type { PolicyHandover } from '../policy/policy-handover.js';
import { BudgetsService } from '../policy/budgets.service.js';
import type { Spend } from '../policy/budgets.js';
import { availabilityAt, availabilityHandover } from '../policy/availability.js';
import { PresenceService } from '../policy/presence.service.js';
import { DecisionRepository } from '../agent/decision.repository.js';
import { planFold } from '../agent/memory.js';
import { safeError } from '../common/safe-error.js';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { InboxClient } from '../inbox/inbox.client.js';
import { ConversationLostError } from '../inbox/inbox.errors.js';
import { KnowledgeService } from '../knowledge/knowledge.service.js';
import { retrievalQuery } from '../knowledge/retrieval.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TurnQueue } from '../scheduler/turn-queue.js';
import { ActionRepository } from './action.repository.js';
import { ActionRunner } from './action.runner.js';
import { contextFor, toEntry } from './context.js';
import { ConversationRepository } from './conversation.repository.js';
import type { Conversation } from './conversation.types.js';
import { decisionCall } from './decision-body.js';
import { LeaseService, type Lease } from './lease.service.js';

/** How soon to try again when another job holds the conversation's lease. */
const BUSY_RETRY_MS = 1000;

/** Leaves time for the handover call itself when the LLM runs up to the VA deadline. */
export const DECISION_DEADLINE_SLACK_MS = 2000;

@Injectable()
export class TurnService {
  private readonly logger = new Logger(TurnService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly leases: LeaseService,
    private readonly conversations: ConversationRepository,
    private readonly actions: ActionRepository,
    private readonly runner: ActionRunner,
    private readonly decisions: DecisionRepository,
    private readonly engine: DecisionEngine,
    private readonly inbox: InboxClient,
    private readonly turns: TurnQueue,
    private readonly metrics: MetricsService,
    private readonly knowledge: KnowledgeService,
    private readonly actionCalls: ActionsService,
    private readonly callRecords: ActionCallRepository,
    private readonly budgets: BudgetsService,
    private readonly presence: PresenceService,
  ) {}

  /**
   * One turn: answer every pending contact message of the conversation together (or ask a
   * delegated conversation's opening question), under the conversation's lease.
   */
  async run(conversationId: string): Promise<void> {
    const outcome = await this.leases.withLease(conversationId, (lease, conversation) => this.turn(lease, conversation));
    if (outcome.kind === 'missing') {
      this.logger.warn({ conversationId, msg: 'turn for a conversation that no longer exists; dropped' });
      return;
    }
    if (outcome.kind === 'busy') {
      // Another job holds the lease. It looks for pending messages when it finishes, and a dead
      // one's lease expires; either way, look again shortly rather than trust it.
      await this.turns.requestTurn(conversationId, BUSY_RETRY_MS);
      return;
    }
    // Released and checked in one statement: a message stored meanwhile is never left without a turn.
    // Only after a turn that got somewhere: one that could not (its agent is gone) would loop.
    const { progressed, compact: agent } = outcome.value;
    if (progressed && outcome.released?.state === 'active' && outcome.released.pending) await this.turns.requestTurn(conversationId, 0);
    // Off the critical path: outside the lease, and after this job has ended (the next turn job of
    // the conversation waits for this one to finish), so a message arriving now is not kept waiting.
    if (agent) {
      void this.compactMemory(agent, conversationId).catch((err) =>
        this.logger.warn({ agentId: agent.id, conversationId, err: safeError(err), msg: 'summary step failed' }),
      );
    }
  }

  /**
   * `progressed`: the turn recorded or sent something. `compact`: the agent, when the transcript
   * may have outgrown its window (a summary step is worth a read).
   */
  private async turn(lease: Lease, claimed: Conversation): Promise<{ progressed: boolean; compact?: AgentConfig }> {
    const agent = this.config.agent(claimed.agentId);
    if (!agent) {
      this.logger.error({ conversationId: claimed.id, agentId: claimed.agentId, msg: 'no such agent in the agents file any more; not answering' });
      return { progressed: false };
    }
    const log = { agentId: agent.id, conversationId: claimed.id };
    if (claimed.state !== 'active') return { progressed: false };

    // A crashed or failed earlier attempt left calls recorded but not made: make them first.
    const conversation = await this.runner.replayPlanned(lease, agent, claimed);
    if (conversation?.state !== 'active') return { progressed: true };

    // One read gives the transcript, what is pending, and whether the agent has spoken this session
    // (a summary exists only after a delivered reply).
    const transcript = await this.conversations.transcript(conversation.id, conversation.session, conversation.summarizedThrough);
    const outboundThisSession = conversation.summarizedThrough !== null || transcript.some((m) => m.direction === 'outbound');
    const hasPending = transcript.some((m) => m.direction === 'inbound' && m.handledAt === null);
    const opening = conversation.mode === 'delegation' && !outboundThisSession && !hasPending;
    if (!hasPending && !opening) return { progressed: false };
    if (opening && conversation.firstQuestionAt === null) return { progressed: false }; // the greeting already went out

    if (agent.typingIndicator) {
      try {
        await this.inbox.forAgent(agent).manipulateConversation(conversation.inboxConversationId, { indicateTyping: 'START' });
      } catch (err) {
        if (err instanceof ConversationLostError) {
          await this.runner.markLost(conversation.id, conversation.session);
          return { progressed: true };
        }
        this.logger.warn({ ...log, err: safeError(err), msg: 'typing indicator failed; deciding anyway' });
      }
    }

    const ctx = contextFor(agent, conversation, transcript);
    // Exactly the messages the LLM (and the human-request guardrail) saw are the ones this turn answers.
    const answered = ctx.transcript.filter((e) => e.direction === 'inbound' && e.pending).map((e) => e.id);
    const due = opening ? conversation.firstQuestionAt : conversation.vaDeadlineAt;
    const deadline = due ? due.getTime() - DECISION_DEADLINE_SLACK_MS : undefined;
    const kind = opening ? 'opening' : 'turn';
    // Policies that decide a turn without the LLM (src/policy/), before anything is spent on it.
    // Availability is an input of the decision (the prompt says it); presence is read from cache, never awaited.
    const availability = availabilityAt(agent.businessHours, new Date(), this.presence.current(agent));
    if (availability) ctx.availability = availability;
    // A delegated conversation's opening is asked all the same: a person just handed it over.
    const preempted: PolicyHandover | undefined = (await this.budgets.preempt(agent, conversation)) ?? (opening ? undefined : availabilityHandover(agent, availability, ctx.language));
    if (preempted) return this.act(lease, agent, conversation, ctx, answered, opening, transcript.length, this.engine.preempted(agent, ctx, kind, preempted));
    let embeddingTokens = 0;
    if (agent.knowledge && !opening) {
      const found = await this.knowledge.retrieve(agent, retrievalQuery(ctx), deadline);
      embeddingTokens = found.tokens;
      ctx.knowledge = found.chunks;
      if (found.failure) ctx.knowledgeFailure = found.failure;
    }
    const actions = this.actionCalls.forTurn({
      conversationId: conversation.id,
      session: conversation.session,
      turnKey: answered[0] ?? 'opening',
      // A side effect is a send like any other: only while this worker still holds the conversation, and it is still ours.
      stillOwned: () => lease.locked(async (c) => c.conversation.state === 'active' && c.conversation.session === conversation.session).catch(() => false),
    });
    const outcome = await this.engine.decide(agent, ctx, { kind, deadline, actions });
    // Counted as soon as the LLM work is done, in its own statement, before the decision is
    // recorded: a turn whose decision never commits (lease lost, a person took the conversation, a
    // crash or a throw before the commit) is retried and asks the LLM again, so its spend must
    // already be in (OWASP LLM10). The decision's transaction does not add it again.
    await this.countSpend(agent, conversation, this.budgets.decisionSpend(agent, outcome, embeddingTokens));
    return this.act(lease, agent, conversation, ctx, answered, opening, transcript.length, outcome, actions.recorded);
  }

  /**
   * Adds a spend to the budgets' counters, outside any transaction. A failure to count (PostgreSQL
   * away) does not fail the turn: failing it would have it retried and the LLM asked again.
   */
  private async countSpend(agent: AgentConfig, conversation: Conversation, spend: Spend): Promise<void> {
    try {
      await this.budgets.record(agent, conversation, spend);
    } catch (err) {
      this.logger.error({ agentId: agent.id, conversationId: conversation.id, tokens: spend.tokens, llmCalls: spend.llmCalls, err: safeError(err), msg: 'could not count the LLM spend of a turn; going on without it' });
    }
  }

  /** Records a decision with the messages it answers, then makes its call: the one path for every decision of a turn. */
  private async act(
    lease: Lease,
    agent: AgentConfig,
    conversation: Conversation,
    ctx: IdentifiedContext,
    answered: string[],
    opening: boolean,
    seen: number,
    outcome: DecisionOutcome,
    recordedCalls: string[] = [],
  ): Promise<{ progressed: boolean; compact?: AgentConfig }> {
    const log = { agentId: agent.id, conversationId: conversation.id };
    // The failure's kind only: a refusal's text is the LLM's words about the contact's message.
    this.logger.log({ ...log, action: outcome.decision.action, failure: outcome.failure?.split(':')[0] ?? null, guardrails: outcome.guardrails, calls: outcome.actionCalls.map((c) => `${c.name}:${c.status}`), latencyMs: outcome.latencyMs, msg: 'decided' });
    this.metrics.decisions.inc({ agent: agent.id, action: outcome.decision.action, cause: outcome.failure ? 'llm_failure' : outcome.forcedHandover ? 'guardrail' : 'llm' });
    this.metrics.llmLatency.observe({ agent: agent.id }, outcome.latencyMs / 1000);

    const call = decisionCall(agent, conversation, outcome, (why, llmNote) => this.engine.handoverNote(agent, ctx, why, llmNote, outcome.citations, outcome.actionCalls));
    const action = await lease.locked(async (c) => {
      // Nothing is recorded if a timer handed the conversation over, or it was opened again, meanwhile.
      if (c.conversation.state !== 'active' || c.conversation.session !== conversation.session) return undefined;
      if (!opening) await c.countTurn();
      const decisionId = await this.decisions.insert(conversation.id, conversation.session, outcome, snapshotOf(ctx), c.db);
      await this.callRecords.link(decisionId, recordedCalls, c.db);
      await c.markHandled(answered, decisionId);
      return this.actions.plan({ conversationId: conversation.id, session: conversation.session, decisionId, ...call }, c.db);
    });
    if (!action) return { progressed: true };

    const result = await this.runner.execute(lease, agent, conversation, action);
    // With the reply added, can the window have overflowed? Only then is a summary step worth a read.
    return { progressed: true, compact: result === 'done' && seen + 1 > agent.limits.historyWindow ? agent : undefined };
  }

  /** Folds older messages into the running summary; optimistic, so it needs no lease. */
  private async compactMemory(agent: AgentConfig, conversationId: string): Promise<void> {
    const conversation = await this.conversations.load(conversationId);
    if (!conversation) return;
    const transcript = await this.conversations.transcript(conversation.id, conversation.session, conversation.summarizedThrough);
    // Never fold a message no turn has answered yet: it must stay pending, in the transcript.
    const firstPending = transcript.findIndex((m) => m.direction === 'inbound' && m.handledAt === null);
    const { fold } = planFold((firstPending < 0 ? transcript : transcript.slice(0, firstPending)).map(toEntry), agent.limits.historyWindow);
    if (fold.length === 0) return;
    const { summary, usage } = await this.engine.summarize(agent, conversation.summary, fold, Date.now() + this.config.env.OPENAI_TIMEOUT);
    await this.budgets.record(agent, conversation, this.budgets.summarySpend(agent, usage));
    await this.conversations.saveSummary(conversation.id, conversation.session, conversation.summarizedThrough, summary, fold.at(-1)!.id);
  }
}
