import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { DecisionOutcome } from '../agent/decision.engine.js';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import type { LlmUsage } from '../llm/llm.client.js';
import { MetricsService } from '../metrics/metrics.service.js';
import {
  addSpend,
  dailySpent,
  dailySpentWhy,
  describeSpent,
  isNothing,
  sessionSpent,
  sessionSpentWhy,
  spendOf,
  utcDay,
  type DailyBudget,
  type SessionUsage,
  type Spend,
} from './budgets.js';
import { BudgetsRepository } from './budgets.repository.js';
import type { PolicyHandover } from './policy-handover.js';

/** A daily budget spent today, as /health reports it. */
export interface SpentDailyBudget {
  agent: string;
  budget: DailyBudget;
  used: number;
  limit: number;
  /** When it was first reached today (null when it was reached by lowering the limit in the agents file). */
  since: string | null;
  why: string;
}

export interface BudgetsStatus {
  /** The UTC day the figures are for. */
  day: string;
  /** Agents whose daily budget is spent: their new conversations are handed over at once until midnight UTC. */
  spent: SpentDailyBudget[];
}

/**
 * The budgets (docs/configuration.md, Budgets): counts what every LLM call spends, in PostgreSQL so
 * replicas share it, and decides before a turn whether it is handed over for `usage_limit`.
 */
@Injectable()
export class BudgetsService implements OnModuleInit {
  private readonly logger = new Logger(BudgetsService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly repository: BudgetsRepository,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.budgetsProbe = async () => {
      const status = await this.status();
      if (!status) return [];
      return this.config.agents.flatMap((agent) =>
        (['tokens', 'costUsd'] as const)
          .filter((budget) => agent.budgets?.daily?.[budget] !== undefined)
          .map((budget) => ({ agent: agent.id, budget, spent: status.spent.some((s) => s.agent === agent.id && s.budget === budget) })),
      );
    };
  }

  /**
   * Before a turn, before anything is spent on it: a handover when the session's budget is used
   * up, or when the agent's daily budget is and this is a new conversation (no LLM call yet this
   * session). A conversation already under way when the daily budget runs out goes on, bounded by
   * its own conversation budget. One read of two rows by primary key, none for an agent without budgets.
   */
  async preempt(agent: AgentConfig, conversation: { id: string; session: number }, at: Date = new Date()): Promise<PolicyHandover | undefined> {
    const budgets = agent.budgets;
    if (!budgets?.conversation && !budgets?.daily) return undefined;
    const day = utcDay(at);
    const used = await this.repository.usage(conversation.id, conversation.session, agent.id, day);
    const session = sessionSpent(budgets, used.session);
    if (session) {
      this.metrics.usageLimitHandovers.inc({ agent: agent.id, budget: 'conversation' });
      return { reason: 'usage_limit', why: sessionSpentWhy(session), message: agent.messages.handover };
    }
    const daily = used.session.llmCalls === 0 ? dailySpent(budgets, used.daily) : [];
    if (daily.length) {
      this.metrics.usageLimitHandovers.inc({ agent: agent.id, budget: 'daily' });
      return { reason: 'usage_limit', why: dailySpentWhy(daily, day), message: agent.messages.handover };
    }
    return undefined;
  }

  /** What a decision spent: every request it made (rejected answers, action rounds) and the turn's query embedding. */
  decisionSpend(agent: AgentConfig, outcome: Pick<DecisionOutcome, 'model' | 'usage' | 'attempts'>, embeddingTokens = 0): Spend {
    const decision = spendOf(outcome.usage, outcome.attempts, this.config.pricing, outcome.model, agent.llm.model);
    const model = agent.knowledge?.embeddings?.model;
    if (!embeddingTokens || !model) return decision;
    return addSpend(decision, spendOf({ promptTokens: embeddingTokens, completionTokens: 0, cachedTokens: 0 }, 0, this.config.pricing, model));
  }

  /** What one summary step spent: one request, whatever came of it. */
  summarySpend(agent: AgentConfig, usage: LlmUsage): Spend {
    return spendOf(usage, 1, this.config.pricing, agent.llm.model);
  }

  /**
   * Counts a spend toward the session and the agent's day, in one atomic statement of its own, as
   * soon as the LLM answered: never in the transaction that records a decision, whose rollback must
   * not take back what was spent. Says once per agent per day
   * (across replicas) when this spend used the daily budget up.
   */
  async record(agent: AgentConfig, conversation: { id: string; session: number }, spend: Spend, at: Date = new Date()): Promise<void> {
    if (isNothing(spend)) return;
    const day = utcDay(at);
    const totals = await this.repository.add(agent.id, day, conversation, spend);
    const spent = dailySpent(agent.budgets, totals);
    if (spent.length === 0 || totals.reachedAt) return;
    if (await this.repository.markReached(agent.id, day)) {
      this.logger.warn({ agentId: agent.id, day, budgets: spent.map(describeSpent), msg: 'daily budget reached: new conversations of this agent are handed over at once until midnight UTC' });
    }
  }

  /** Today's spent daily budgets of the agents served (/health, the metric); undefined when no agent has a daily budget. */
  async status(at: Date = new Date()): Promise<BudgetsStatus | undefined> {
    const day = utcDay(at);
    const agents = this.config.agents.filter((a) => a.budgets?.daily);
    if (agents.length === 0) return undefined;
    const rows = await this.repository.daily(agents.map((a) => a.id), day);
    const spent = agents.flatMap((agent) => {
      const row = rows.get(agent.id);
      if (!row) return [];
      return dailySpent(agent.budgets, row).map((s) => ({
        agent: agent.id,
        budget: s.budget,
        used: s.used,
        limit: s.limit,
        since: row.reachedAt?.toISOString() ?? null,
        why: `${describeSpent(s)} today (UTC): new conversations are handed over at once until midnight UTC`,
      }));
    });
    return { day, spent };
  }

  /** A session's usage so far (the console, tests). */
  async sessionUsage(agentId: string, conversation: { id: string; session: number }): Promise<SessionUsage> {
    return (await this.repository.usage(conversation.id, conversation.session, agentId, utcDay())).session;
  }
}
