import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export interface NewInboundMessage {
  conversationId: string;
  session: number;
  text: string | null;
  payload: string | null;
  inboxMessageId: string | null;
  trigger: Record<string, unknown> | null;
  eventId: string;
  sentAt: Date;
}

@Injectable()
export class MessageRepository {
  /** Stores a contact message once, even if the platform sends it under two idempotency keys. */
  async insertInbound(db: EntityManager, m: NewInboundMessage): Promise<boolean> {
    const rows: unknown[] = await db.query(
      `INSERT INTO messages (conversation_id, session, direction, text, payload, inbox_message_id, trigger, event_id, sent_at)
       VALUES ($1, $2, 'inbound', $3, $4, $5, $6, $7, $8)
       ON CONFLICT (conversation_id, inbox_message_id) WHERE inbox_message_id IS NOT NULL DO NOTHING
       RETURNING id`,
      [
        m.conversationId,
        m.session,
        m.text,
        m.payload,
        m.inboxMessageId,
        m.trigger === null ? null : JSON.stringify(m.trigger),
        m.eventId,
        m.sentAt,
      ],
    );
    return rows.length > 0;
  }
}
