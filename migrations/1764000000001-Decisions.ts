import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Every decision the agent took, with what the LLM proposed, what the guardrails changed, and its cost. */
export class Decisions1764000000001 implements MigrationInterface {
  name = 'Decisions1764000000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE decisions (
        id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        conversation_id    uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        session            integer NOT NULL,
        kind               text NOT NULL CHECK (kind IN ('turn', 'opening')),
        action             text NOT NULL CHECK (action IN ('reply', 'resolve', 'handover')),
        message            text NOT NULL,
        topics             jsonb NOT NULL,
        contact_attributes jsonb NOT NULL,
        confidence         real NOT NULL,
        reason             text NOT NULL,
        handover_note      text NOT NULL,
        guardrails         jsonb NOT NULL DEFAULT '[]',
        failure            text,
        model              text NOT NULL,
        prompt_tokens      integer NOT NULL,
        completion_tokens  integer NOT NULL,
        cached_tokens      integer NOT NULL,
        latency_ms         integer NOT NULL,
        attempts           integer NOT NULL,
        raw_output         jsonb NOT NULL,
        created_at         timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX decisions_conversation ON decisions (conversation_id, id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE decisions`);
  }
}
