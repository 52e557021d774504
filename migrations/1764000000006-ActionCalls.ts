import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every call an agent's action made or was refused, on the record: recorded before the request
 * (so a side-effect call is never made twice: its idempotency key is unique) and finished after.
 * The arguments and the trimmed result are kept; header values (where secrets live) never are.
 */
export class ActionCalls1764000000006 implements MigrationInterface {
  name = 'ActionCalls1764000000006';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE action_calls (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        session          integer NOT NULL,
        decision_id      bigint REFERENCES decisions (id) ON DELETE SET NULL,
        agent_id         text NOT NULL,
        action           text NOT NULL,
        arguments        jsonb,
        raw_arguments    text,
        method           text NOT NULL,
        url              text,
        side_effects     boolean NOT NULL,
        idempotency_key  text,
        status           text NOT NULL,
        http_status      integer,
        latency_ms       integer,
        result           jsonb,
        result_bytes     integer NOT NULL DEFAULT 0,
        error            text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        done_at          timestamptz,
        CONSTRAINT action_calls_status CHECK (status IN ('started', 'ok', 'http_error', 'timeout', 'failed', 'too_large', 'invalid_response', 'refused'))
      )`);
    await db.query(`CREATE UNIQUE INDEX action_calls_idempotency ON action_calls (idempotency_key) WHERE idempotency_key IS NOT NULL`);
    await db.query(`CREATE INDEX action_calls_conversation ON action_calls (conversation_id, session)`);
    await db.query(`CREATE INDEX action_calls_decision ON action_calls (decision_id) WHERE decision_id IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE action_calls`);
  }
}
