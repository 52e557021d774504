import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What retention (src/retention) needs to prune in small batches without scanning: ended
 * conversations by when they ended, and the messages that point at an event (deleting an event sets
 * their `event_id` to NULL, which would otherwise scan `messages` once per event). The first index
 * covers only `state` and `state_changed_at`, which change together and rarely, so the frequent
 * updates of a conversation stay HOT.
 */
export class Retention1764000000009 implements MigrationInterface {
  name = 'Retention1764000000009';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX conversations_ended ON conversations (state_changed_at) WHERE state <> 'active'`);
    await db.query(`CREATE INDEX messages_event ON messages (event_id) WHERE event_id IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX messages_event`);
    await db.query(`DROP INDEX conversations_ended`);
  }
}
