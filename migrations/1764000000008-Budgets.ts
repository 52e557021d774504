import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the agents spend on the LLM, counted where every replica sees it (docs/configuration.md,
 * Budgets). `agent_daily_usage`: one row per agent per UTC day, the upsert target of every decision
 * and summary step; `reached_at` is set once, by the call that first went over the agent's daily
 * budget (the one warn line). `session_usage`: one row per conversation session; a new session is
 * a new key, so it starts at zero without touching `conversations` (its trigger, intake's single
 * statement, and the HOT updates of its hot row stay as they are). Both are read by primary key
 * before a turn.
 */
export class Budgets1764000000008 implements MigrationInterface {
  name = 'Budgets1764000000008';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE agent_daily_usage (
        agent_id    text NOT NULL,
        day         date NOT NULL,
        tokens      bigint NOT NULL DEFAULT 0,
        llm_calls   integer NOT NULL DEFAULT 0,
        cost_usd    numeric(18, 8) NOT NULL DEFAULT 0,
        reached_at  timestamptz,
        PRIMARY KEY (agent_id, day)
      )`);
    await db.query(`
      CREATE TABLE session_usage (
        conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        session          integer NOT NULL,
        tokens           bigint NOT NULL DEFAULT 0,
        llm_calls        integer NOT NULL DEFAULT 0,
        PRIMARY KEY (conversation_id, session)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE session_usage`);
    await db.query(`DROP TABLE agent_daily_usage`);
  }
}
