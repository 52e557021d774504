import { ConfigError } from '../config/config.error.js';
import { parseAgentsFile } from '../config/agents.loader.js';
import { costOf } from '../llm/pricing.js';
import { dailySpent, dailySpentWhy, sessionSpent, sessionSpentWhy, sessionUsageLine, spendOf, utcDay } from './budgets.js';

const prices = { 'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 } };

describe(spendOf.name, () => {
  it('counts prompt plus completion tokens, the calls given, and the cost from the shared price table', () => {
    const usage = { promptTokens: 1_000_000, completionTokens: 500_000, cachedTokens: 200_000 };
    const sut = spendOf(usage, 3, prices, 'gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini');
    expect(sut.tokens).toBe(1_500_000);
    expect(sut.llmCalls).toBe(3);
    // 800k uncached × 0.4 + 200k cached × 0.1 + 500k × 1.6, per million: the evals' own estimate.
    expect(sut.costUsd).toBeCloseTo(0.32 + 0.02 + 0.8, 10);
    expect(sut.costUsd).toBe(costOf('gpt-4.1-mini', usage, prices));
  });

  it('prices by the configured model when the endpoint reports a name the table does not know, else counts no cost', () => {
    const usage = { promptTokens: 1_000_000, completionTokens: 0, cachedTokens: 0 };
    expect(spendOf(usage, 1, prices, 'some-alias', 'gpt-4.1-mini').costUsd).toBeCloseTo(0.4, 10);
    expect(spendOf(usage, 1, prices, 'llama-3').costUsd).toBe(0);
  });
});

describe(sessionSpent.name, () => {
  it('is spent once either limit is reached, not before', () => {
    const budgets = { conversation: { tokens: 1000, llmCalls: 3 } };
    expect(sessionSpent(budgets, { tokens: 999, llmCalls: 2 })).toBeUndefined();
    expect(sessionSpent(budgets, { tokens: 10, llmCalls: 3 })).toEqual({ budget: 'llmCalls', used: 3, limit: 3 });
    expect(sessionSpent(budgets, { tokens: 1200, llmCalls: 1 })).toEqual({ budget: 'tokens', used: 1200, limit: 1000 });
  });

  it('is never spent without a conversation budget', () => {
    expect(sessionSpent(undefined, { tokens: 1e9, llmCalls: 1e6 })).toBeUndefined();
    expect(sessionSpent({ daily: { tokens: 1 } }, { tokens: 1e9, llmCalls: 1e6 })).toBeUndefined();
  });

  it('says what was spent in the note', () => {
    expect(sessionSpentWhy({ budget: 'llmCalls', used: 4, limit: 4 })).toMatch(/^usage limit: this conversation's budget is spent \(4 of 4 LLM calls this session\)/);
  });
});

describe(dailySpent.name, () => {
  it('lists each daily budget reached', () => {
    const budgets = { daily: { tokens: 50_000, costUsd: 2 } };
    expect(dailySpent(budgets, { tokens: 49_999, llmCalls: 100, costUsd: 1.99 })).toEqual([]);
    expect(dailySpent(budgets, { tokens: 50_000, llmCalls: 100, costUsd: 2.5 })).toEqual([
      { budget: 'tokens', used: 50_000, limit: 50_000 },
      { budget: 'costUsd', used: 2.5, limit: 2 },
    ]);
    expect(dailySpent({ conversation: { llmCalls: 1 } }, { tokens: 1e9, llmCalls: 1e6, costUsd: 1e6 })).toEqual([]);
  });

  it('names the UTC day and the cost as an estimate', () => {
    expect(dailySpentWhy([{ budget: 'costUsd', used: 2.00113, limit: 2 }], '2026-11-25')).toContain('$2.0011 of $2.00 (estimated) on 2026-11-25, UTC');
  });
});

describe(utcDay.name, () => {
  it('is the UTC date, whatever the local time zone', () => {
    expect(utcDay(Date.parse('2026-11-25T23:59:59.999Z'))).toBe('2026-11-25');
    expect(utcDay(Date.parse('2026-11-26T00:30:00+02:00'))).toBe('2026-11-25');
  });
});

describe(sessionUsageLine.name, () => {
  it('shows the usage against each limit the conversation has', () => {
    expect(sessionUsageLine({ conversation: { llmCalls: 5 } }, { tokens: 1234, llmCalls: 2 })).toBe('1234 tokens, 2/5 LLM calls this conversation');
    expect(sessionUsageLine({ conversation: { tokens: 1000 } }, { tokens: 1234, llmCalls: 2 })).toMatch(/^1234\/1000 tokens, 2 LLM calls this conversation — spent/);
    expect(sessionUsageLine({ daily: { tokens: 1 } }, { tokens: 1, llmCalls: 1 })).toBe('1 tokens, 1 LLM calls this conversation (no conversation budget)');
  });
});

describe('the agents file’s budgets', () => {
  const file = (budgets: string, pricing = '') => `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: ACME_SECRET
    llm: { model: gpt-4.1-mini }
    prompt: Be kind.
    budgets: ${budgets}
${pricing}`;
  const problems = (source: string): string[] => {
    try {
      parseAgentsFile(source, { ACME_SECRET: 'a1b2c3d4' }, 'agents.yaml');
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('refuses a daily cost budget for a model the price table does not know, naming the line and field', () => {
    const [problem, ...rest] = problems(file('{ daily: { costUsd: 5 } }'));
    expect(rest).toEqual([]);
    expect(problem).toMatch(/agents\.yaml:8.*costUsd.*needs a price for the model "gpt-4\.1-mini"/);
  });

  it('accepts it when the model, or the base name of it, is priced', () => {
    expect(problems(file('{ daily: { costUsd: 5, tokens: 100000 }, conversation: { llmCalls: 6 } }', 'pricing:\n  gpt-4.1: { input: 2, output: 8 }\n  gpt-4.1-mini: { input: 0.4, output: 1.6 }'))).toEqual([]);
    expect(problems(file('{ daily: { tokens: 100000 } }'))).toEqual([]);
  });

  it('refuses a budget that names no limit', () => {
    expect(problems(file('{ conversation: {} }')).join('\n')).toMatch(/names no limit/);
  });
});
