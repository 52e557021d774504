import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which event opened a conversation's current session (`message` until a late opening event
 * arrives: that event then keeps the session and its deadlines), and the raw bytes of a webhook
 * whose payload had to be changed to fit `jsonb` (a NUL, half an emoji).
 */
export class Hardening1764000000003 implements MigrationInterface {
  name = 'Hardening1764000000003';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE conversations ADD COLUMN opened_by text`);
    await db.query(`
      UPDATE conversations SET opened_by = CASE
        WHEN state = 'active' AND state_reason = 'opened by an inbound message' THEN 'message'
        WHEN mode = 'delegation' THEN 'delegated'
        ELSE 'started' END`);
    await db.query(`ALTER TABLE conversations ALTER COLUMN opened_by SET NOT NULL, ALTER COLUMN opened_by SET DEFAULT 'started',
                      ADD CONSTRAINT conversations_opened_by CHECK (opened_by IN ('started', 'delegated', 'message'))`);
    await db.query(`ALTER TABLE webhook_events ADD COLUMN raw_body bytea`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE webhook_events DROP COLUMN raw_body`);
    await db.query(`ALTER TABLE conversations DROP COLUMN opened_by`);
  }
}
