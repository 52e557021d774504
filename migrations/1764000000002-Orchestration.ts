import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What orchestration needs: the turn lease, the memory summary, the deadlines (Postgres is the
 * source of truth for every timer; Redis only wakes a worker), and the outbox of REST calls.
 */
export class Orchestration1764000000002 implements MigrationInterface {
  name = 'Orchestration1764000000002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE conversations
        ADD COLUMN turn_owner           text,
        ADD COLUMN turn_lease_until     timestamptz,
        ADD COLUMN agent_turns          integer NOT NULL DEFAULT 0,
        ADD COLUMN summary              text,
        ADD COLUMN summarized_through   bigint,
        ADD COLUMN va_deadline_at       timestamptz,
        ADD COLUMN first_question_at    timestamptz,
        ADD COLUMN nudge_at             timestamptz,
        ADD COLUMN contact_deadline_at  timestamptz,
        ADD COLUMN next_deadline_at     timestamptz
          GENERATED ALWAYS AS (LEAST(va_deadline_at, first_question_at, nudge_at, contact_deadline_at)) STORED`);
    await db.query(`CREATE INDEX conversations_next_deadline ON conversations (next_deadline_at) WHERE state = 'active'`);
    await db.query(`
      CREATE TABLE actions (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        session          integer NOT NULL,
        decision_id      bigint REFERENCES decisions (id) ON DELETE SET NULL,
        kind             text NOT NULL,
        body             jsonb NOT NULL,
        status           text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'done', 'failed', 'lost', 'superseded')),
        attempts         integer NOT NULL DEFAULT 0,
        error            text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        done_at          timestamptz
      )`);
    await db.query(`CREATE INDEX actions_conversation ON actions (conversation_id, id)`);
    await db.query(`CREATE INDEX actions_planned ON actions (conversation_id, id) WHERE status = 'planned'`);
    await db.query(`ALTER TABLE messages ADD COLUMN decision_id bigint REFERENCES decisions (id) ON DELETE SET NULL`);
    await db.query(`ALTER TABLE messages ADD COLUMN action_id bigint REFERENCES actions (id) ON DELETE SET NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE messages DROP COLUMN action_id, DROP COLUMN decision_id`);
    await db.query(`DROP TABLE actions`);
    await db.query(`
      ALTER TABLE conversations DROP COLUMN next_deadline_at, DROP COLUMN contact_deadline_at, DROP COLUMN nudge_at,
        DROP COLUMN first_question_at, DROP COLUMN va_deadline_at, DROP COLUMN summarized_through, DROP COLUMN summary,
        DROP COLUMN agent_turns, DROP COLUMN turn_lease_until, DROP COLUMN turn_owner`);
  }
}
