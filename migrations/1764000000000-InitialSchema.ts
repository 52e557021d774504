import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Webhook event log, conversations and their messages: what intake needs. */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE conversations (
        id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        agent_id              text NOT NULL,
        inbox_conversation_id text NOT NULL,
        mode                  text NOT NULL CHECK (mode IN ('inception', 'delegation')),
        state                 text NOT NULL CHECK (state IN ('active', 'handed_over', 'resolved', 'lost')),
        state_reason          text,
        state_changed_at      timestamptz NOT NULL DEFAULT now(),
        session               integer NOT NULL DEFAULT 1,
        session_started_at    timestamptz NOT NULL DEFAULT now(),
        contact_profile       jsonb,
        contact_attributes    jsonb NOT NULL DEFAULT '[]',
        language              text,
        channel               jsonb,
        medium                jsonb,
        topics                jsonb NOT NULL DEFAULT '[]',
        created_at            timestamptz NOT NULL DEFAULT now(),
        updated_at            timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT conversations_agent_inbox_id UNIQUE (agent_id, inbox_conversation_id)
      )`);
    await db.query(`
      CREATE TABLE webhook_events (
        id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        agent_id              text NOT NULL,
        idempotency_key       text NOT NULL,
        type                  text NOT NULL,
        version               integer,
        inbox_conversation_id text,
        sent_at               timestamptz,
        received_at           timestamptz NOT NULL DEFAULT now(),
        payload               jsonb NOT NULL,
        CONSTRAINT webhook_events_idempotency UNIQUE (agent_id, idempotency_key)
      )`);
    await db.query(`CREATE INDEX webhook_events_conversation ON webhook_events (agent_id, inbox_conversation_id)`);
    await db.query(`
      CREATE TABLE messages (
        id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        conversation_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        session           integer NOT NULL,
        direction         text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        text              text,
        payload           text,
        inbox_message_id  text,
        trigger           jsonb,
        event_id          bigint REFERENCES webhook_events (id) ON DELETE SET NULL,
        sent_at           timestamptz,
        created_at        timestamptz NOT NULL DEFAULT now(),
        handled_at        timestamptz
      )`);
    await db.query(`
      CREATE UNIQUE INDEX messages_inbox_message_id ON messages (conversation_id, inbox_message_id)
      WHERE inbox_message_id IS NOT NULL`);
    await db.query(`CREATE INDEX messages_conversation ON messages (conversation_id, id)`);
    await db.query(`
      CREATE INDEX messages_pending ON messages (conversation_id, id)
      WHERE direction = 'inbound' AND handled_at IS NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE messages`);
    await db.query(`DROP TABLE webhook_events`);
    await db.query(`DROP TABLE conversations`);
  }
}
