import type { TestDatabase } from './database.js';

/**
 * What the console's overview must show for a window, computed here from the tables with SQL of the
 * test's own (the oracle for the HTTP and the browser tests): `overview-<agent>-<measure>` → value,
 * as the page's `data-testid` and `data-value` attributes carry them.
 */
export async function expectedOverviewCells(db: TestDatabase, window: '24h' | '7d'): Promise<{ agents: string[]; cells: Record<string, string> }> {
  const since = `now() - interval '${window === '24h' ? '24 hours' : '7 days'}'`;
  const outcomes = await db.query<Record<string, string | number>>(`
    SELECT agent_id,
           count(*)::int AS ended,
           count(*) FILTER (WHERE outcome = 'resolved')::int AS resolved,
           count(*) FILTER (WHERE resolution = 'confirmed')::int AS confirmed,
           count(*) FILTER (WHERE resolution = 'assumed')::int AS assumed,
           count(*) FILTER (WHERE outcome = 'handed_over')::int AS "handed-over",
           count(*) FILTER (WHERE outcome = 'handed_back')::int AS "handed-back",
           count(*) FILTER (WHERE outcome = 'handed_over' AND reason IN ('va_deadline', 'contact_timeout'))::int AS "timed-out",
           count(*) FILTER (WHERE outcome = 'lost')::int AS lost,
           count(*) FILTER (WHERE reopened AND outcome = 'resolved')::int AS reopened,
           sum(prompt_tokens)::int AS "prompt-tokens",
           sum(completion_tokens)::int AS "completion-tokens",
           sum(cached_tokens)::int AS "cached-tokens"
      FROM session_outcome_view WHERE ended_at >= ${since} GROUP BY agent_id`);
  // Active with activity in the window; each conversation counted once, ended in the window or active or both.
  const active = await db.query<{ agent_id: string; n: number }>(
    `SELECT agent_id, count(*)::int AS n FROM conversations WHERE state = 'active' AND updated_at >= ${since} GROUP BY agent_id`,
  );
  const seen = await db.query<{ agent_id: string; n: number }>(`
    SELECT agent_id, count(DISTINCT id)::int AS n FROM (
      SELECT id, agent_id FROM conversations WHERE state = 'active' AND updated_at >= ${since}
      UNION ALL SELECT conversation_id, agent_id FROM session_outcomes WHERE ended_at >= ${since}) s
     GROUP BY agent_id`);
  const decisions = await db.query<{ agent_id: string; n: number; failed: number }>(`
    SELECT c.agent_id, count(*)::int AS n, count(*) FILTER (WHERE d.failure IS NOT NULL)::int AS failed
      FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE d.created_at >= ${since} GROUP BY c.agent_id`);

  const agents = [...new Set([...outcomes, ...active, ...decisions].map((r) => String(r.agent_id)))].sort();
  const cells: Record<string, string> = {};
  const measures = ['ended', 'resolved', 'confirmed', 'assumed', 'handed-over', 'handed-back', 'timed-out', 'lost', 'reopened', 'prompt-tokens', 'completion-tokens', 'cached-tokens'];
  for (const agent of agents) {
    const o = outcomes.find((r) => r.agent_id === agent);
    const d = decisions.find((r) => r.agent_id === agent);
    for (const m of measures) cells[`overview-${agent}-${m}`] = String(o?.[m] ?? 0);
    cells[`overview-${agent}-active`] = String(active.find((r) => r.agent_id === agent)?.n ?? 0);
    cells[`overview-${agent}-conversations`] = String(seen.find((r) => r.agent_id === agent)?.n ?? 0);
    cells[`overview-${agent}-decisions`] = String(d?.n ?? 0);
    cells[`overview-${agent}-llm-failures`] = String(d?.failed ?? 0);
  }
  return { agents, cells };
}
