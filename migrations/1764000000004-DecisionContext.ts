import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What each decision saw, so that `npm run replay` can decide the same turn again: the context
 * (the ids of the transcript window's messages, the summary, attributes and language as they were
 * then; texts stay in `messages`), a hash of the conversation part of the prompt to prove the
 * rebuild exact, and a hash of the whole prompt to tell whether the agent's instructions changed.
 * Decisions taken before this migration have none and are skipped by replay.
 */
export class DecisionContext1764000000004 implements MigrationInterface {
  name = 'DecisionContext1764000000004';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE decisions ADD COLUMN context jsonb, ADD COLUMN context_hash text, ADD COLUMN prompt_hash text`);
    // Replay walks one agent's decisions by time.
    await db.query(`CREATE INDEX decisions_created_at ON decisions (created_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX decisions_created_at`);
    await db.query(`ALTER TABLE decisions DROP COLUMN prompt_hash, DROP COLUMN context_hash, DROP COLUMN context`);
  }
}
