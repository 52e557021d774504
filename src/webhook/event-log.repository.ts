import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export interface NewWebhookEvent {
  agentId: string;
  idempotencyKey: string;
  type: string;
  version: number | undefined;
  inboxConversationId: string | undefined;
  sentAt: Date;
  payload: unknown;
}

/** The append-only log of every accepted webhook, unique per agent and idempotency key. */
@Injectable()
export class EventLogRepository {
  /** Returns the new event's id, or undefined when this key was already recorded (a redelivery). */
  async insert(db: EntityManager, event: NewWebhookEvent): Promise<string | undefined> {
    const rows: Array<{ id: string }> = await db.query(
      `INSERT INTO webhook_events (agent_id, idempotency_key, type, version, inbox_conversation_id, sent_at, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (agent_id, idempotency_key) DO NOTHING
       RETURNING id`,
      [
        event.agentId,
        event.idempotencyKey,
        event.type,
        event.version ?? null,
        event.inboxConversationId ?? null,
        event.sentAt,
        JSON.stringify(event.payload),
      ],
    );
    return rows[0]?.id;
  }
}
