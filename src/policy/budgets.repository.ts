import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { DailyUsage, SessionUsage, Spend } from './budgets.js';

/** A day's figures with when the agent's daily budget was first reached that day, if it was. */
export interface DailyRow extends DailyUsage {
  reachedAt: Date | null;
}

type UsageRow = { tokens: string | null; llm_calls: number | null; cost_usd?: string | null; reached_at?: Date | null };

/** The budgets' counters (migration 1764000000008): per agent per UTC day, and per conversation session. */
@Injectable()
export class BudgetsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** A session's usage and its agent's usage on `day`, in one round trip (two primary-key reads). */
  async usage(conversationId: string, session: number, agentId: string, day: string, db: EntityManager = this.dataSource.manager): Promise<{ session: SessionUsage; daily: DailyUsage }> {
    const [row]: Array<{ s_tokens: string | null; s_calls: number | null; d_tokens: string | null; d_calls: number | null; d_cost: string | null }> = await db.query(
      `SELECT s.tokens AS s_tokens, s.llm_calls AS s_calls, d.tokens AS d_tokens, d.llm_calls AS d_calls, d.cost_usd AS d_cost
         FROM (SELECT 1) one
         LEFT JOIN session_usage s ON s.conversation_id = $1 AND s.session = $2
         LEFT JOIN agent_daily_usage d ON d.agent_id = $3 AND d.day = $4::date`,
      [conversationId, session, agentId, day],
    );
    return {
      session: { tokens: Number(row.s_tokens ?? 0), llmCalls: row.s_calls ?? 0 },
      daily: { tokens: Number(row.d_tokens ?? 0), llmCalls: row.d_calls ?? 0, costUsd: Number(row.d_cost ?? 0) },
    };
  }

  /**
   * Adds one step's spend to the session and to its agent's day, atomically (concurrent turns of
   * other conversations add to the same day row); returns the day's totals after it.
   */
  async add(agentId: string, day: string, conversation: { id: string; session: number }, spend: Spend): Promise<DailyRow> {
    const [row]: UsageRow[] = await this.dataSource.query(
      `WITH session_row AS (
         INSERT INTO session_usage AS u (conversation_id, session, tokens, llm_calls) VALUES ($3, $4, $5, $6)
         ON CONFLICT (conversation_id, session) DO UPDATE SET tokens = u.tokens + excluded.tokens, llm_calls = u.llm_calls + excluded.llm_calls
       )
       INSERT INTO agent_daily_usage AS a (agent_id, day, tokens, llm_calls, cost_usd) VALUES ($1, $2::date, $5, $6, $7)
       ON CONFLICT (agent_id, day) DO UPDATE
         SET tokens = a.tokens + excluded.tokens, llm_calls = a.llm_calls + excluded.llm_calls, cost_usd = a.cost_usd + excluded.cost_usd
       RETURNING a.tokens, a.llm_calls, a.cost_usd, a.reached_at`,
      [agentId, day, conversation.id, conversation.session, spend.tokens, spend.llmCalls, spend.costUsd],
    );
    return toDaily(row);
  }

  /** Marks the day's budget reached; true only for the one caller that marked it (across replicas). */
  async markReached(agentId: string, day: string): Promise<boolean> {
    // Counted in a SELECT: TypeORM answers an UPDATE … RETURNING with [rows, count], never an empty list.
    const [{ marked }]: Array<{ marked: number }> = await this.dataSource.query(
      `WITH marked AS (UPDATE agent_daily_usage SET reached_at = now() WHERE agent_id = $1 AND day = $2::date AND reached_at IS NULL RETURNING 1)
       SELECT count(*)::int AS marked FROM marked`,
      [agentId, day],
    );
    return marked > 0;
  }

  /** The agents' figures on `day` (agents with no row have spent nothing). */
  async daily(agentIds: readonly string[], day: string, db: EntityManager = this.dataSource.manager): Promise<Map<string, DailyRow>> {
    if (agentIds.length === 0) return new Map();
    const rows: Array<UsageRow & { agent_id: string }> = await db.query(
      `SELECT agent_id, tokens, llm_calls, cost_usd, reached_at FROM agent_daily_usage WHERE agent_id = ANY ($1::text[]) AND day = $2::date`,
      [agentIds, day],
    );
    return new Map(rows.map((r) => [r.agent_id, toDaily(r)]));
  }
}

function toDaily(row: UsageRow | undefined): DailyRow {
  return { tokens: Number(row?.tokens ?? 0), llmCalls: row?.llm_calls ?? 0, costUsd: Number(row?.cost_usd ?? 0), reachedAt: row?.reached_at ?? null };
}
