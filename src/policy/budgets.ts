import type { LlmUsage } from '../llm/llm.client.js';
import { costOf, type PriceTable } from '../llm/pricing.js';
import type { BudgetsConfig } from './budgets.schema.js';

/** What one step (a decision, a summary) spent, as the budgets count it. */
export interface Spend {
  /** Prompt plus completion tokens (cached prompt tokens included: they are prompt tokens). */
  tokens: number;
  /** Chat completion requests. */
  llmCalls: number;
  /** Estimated USD; 0 for a model the price table does not know. */
  costUsd: number;
}

/** What a conversation session has used so far. */
export type SessionUsage = Pick<Spend, 'tokens' | 'llmCalls'>;
/** What an agent has used on one UTC day. */
export type DailyUsage = Spend;

export type SessionBudget = 'tokens' | 'llmCalls';
export type DailyBudget = 'tokens' | 'costUsd';

/** A budget used up: which, how much was used, and its limit. */
export interface Spent<B extends string> {
  budget: B;
  used: number;
  limit: number;
}

export const NOTHING: Spend = { tokens: 0, llmCalls: 0, costUsd: 0 };

/** The UTC day a spend counts toward, as the `agent_daily_usage.day` key: `2026-11-25`. */
export function utcDay(at: Date | number = Date.now()): string {
  return new Date(at).toISOString().slice(0, 10);
}

/**
 * The spend of LLM usage. The cost is the reported model's price (a dated variant finds its base
 * name), else the configured model's, else 0: the agents file refuses a cost budget for an agent
 * whose configured model is unpriced, so 0 only happens for budgets on tokens.
 */
export function spendOf(usage: LlmUsage, llmCalls: number, prices: PriceTable, model: string, configuredModel = model): Spend {
  return {
    tokens: Math.max(0, usage.promptTokens) + Math.max(0, usage.completionTokens),
    llmCalls,
    costUsd: costOf(model, usage, prices) ?? costOf(configuredModel, usage, prices) ?? 0,
  };
}

export function addSpend(a: Spend, b: Spend): Spend {
  return { tokens: a.tokens + b.tokens, llmCalls: a.llmCalls + b.llmCalls, costUsd: a.costUsd + b.costUsd };
}

export const isNothing = (s: Spend) => s.tokens === 0 && s.llmCalls === 0 && s.costUsd === 0;

/** The first of the session's budgets used up (`used >= limit`), if any. */
export function sessionSpent(budgets: BudgetsConfig | undefined, used: SessionUsage): Spent<SessionBudget> | undefined {
  const limits = budgets?.conversation;
  if (!limits) return undefined;
  if (limits.llmCalls !== undefined && used.llmCalls >= limits.llmCalls) return { budget: 'llmCalls', used: used.llmCalls, limit: limits.llmCalls };
  if (limits.tokens !== undefined && used.tokens >= limits.tokens) return { budget: 'tokens', used: used.tokens, limit: limits.tokens };
  return undefined;
}

/** Each of the agent's daily budgets used up (`used >= limit`). */
export function dailySpent(budgets: BudgetsConfig | undefined, used: DailyUsage): Spent<DailyBudget>[] {
  const limits = budgets?.daily;
  const spent: Spent<DailyBudget>[] = [];
  if (!limits) return spent;
  if (limits.tokens !== undefined && used.tokens >= limits.tokens) spent.push({ budget: 'tokens', used: used.tokens, limit: limits.tokens });
  if (limits.costUsd !== undefined && used.costUsd >= limits.costUsd) spent.push({ budget: 'costUsd', used: used.costUsd, limit: limits.costUsd });
  return spent;
}

/** "12 of 10 LLM calls", "50400 of 50000 tokens", "$2.0113 of $2.00 (estimated)". */
export function describeSpent(s: Spent<SessionBudget | DailyBudget>): string {
  switch (s.budget) {
    case 'llmCalls':
      return `${s.used} of ${s.limit} LLM calls`;
    case 'tokens':
      return `${s.used} of ${s.limit} tokens`;
    case 'costUsd':
      return `$${s.used.toFixed(4)} of $${s.limit.toFixed(2)} (estimated)`;
  }
}

/** The guardrail line and the note's first line for a session whose budget is used up. */
export function sessionSpentWhy(s: Spent<SessionBudget>): string {
  return `usage limit: this conversation's budget is spent (${describeSpent(s)} this session), so it is handed over without asking the LLM again`;
}

/** The same for a new conversation of an agent whose daily budget is used up. */
export function dailySpentWhy(spent: Spent<DailyBudget>[], day: string): string {
  return `usage limit: the agent's daily budget is spent (${spent.map(describeSpent).join(', ')} on ${day}, UTC), so new conversations are handed over at once until midnight UTC`;
}

/** The playground's line: the session's usage against its budget. */
export function sessionUsageLine(budgets: BudgetsConfig, used: SessionUsage): string {
  const limits = budgets.conversation;
  const parts = [
    `${used.tokens}${limits?.tokens !== undefined ? `/${limits.tokens}` : ''} tokens`,
    `${used.llmCalls}${limits?.llmCalls !== undefined ? `/${limits.llmCalls}` : ''} LLM calls`,
  ];
  const spent = sessionSpent(budgets, used);
  return `${parts.join(', ')} this conversation${limits ? '' : ' (no conversation budget)'}${spent ? ' — spent: the next turn hands over' : ''}`;
}
