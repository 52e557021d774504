import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { ConversationEntity, type ContactAttribute, type ConversationMode, type ConversationState } from './conversation.entity.js';

export interface OpenSession {
  agentId: string;
  inboxConversationId: string;
  mode: ConversationMode;
  reason: string;
  contactProfile: Record<string, unknown> | null;
  contactAttributes: ContactAttribute[];
  language: string | null;
  channel: Record<string, unknown> | null;
  medium: Record<string, unknown> | null;
}

export interface ConversationRef {
  id: string;
  session: number;
  state: ConversationState;
}

/** A conversation that an inbound message created before its opening event arrived (out-of-order delivery). */
export const OPENED_BY_MESSAGE = 'opened by an inbound message';

@Injectable()
export class ConversationRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * CONVERSATION_STARTED / _DELEGATED: the VA owns the conversation (again). A conversation that
   * was handed over, resolved, lost or is being delegated again starts a new session; one that an
   * early inbound message created keeps its session, so that message stays in the transcript.
   */
  async openSession(db: EntityManager, s: OpenSession): Promise<ConversationRef> {
    const rows: ConversationRef[] = await db.query(
      `INSERT INTO conversations AS c (agent_id, inbox_conversation_id, mode, state, state_reason, contact_profile,
                                        contact_attributes, language, channel, medium)
       VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9)
       ON CONFLICT (agent_id, inbox_conversation_id) DO UPDATE SET
         mode = EXCLUDED.mode,
         state = 'active',
         state_reason = EXCLUDED.state_reason,
         state_changed_at = now(),
         session = CASE WHEN c.state = 'active' AND c.state_reason = '${OPENED_BY_MESSAGE}'
                        THEN c.session ELSE c.session + 1 END,
         session_started_at = CASE WHEN c.state = 'active' AND c.state_reason = '${OPENED_BY_MESSAGE}'
                        THEN c.session_started_at ELSE now() END,
         contact_profile = COALESCE(EXCLUDED.contact_profile, c.contact_profile),
         contact_attributes = EXCLUDED.contact_attributes,
         language = COALESCE(EXCLUDED.language, c.language),
         channel = COALESCE(EXCLUDED.channel, c.channel),
         medium = COALESCE(EXCLUDED.medium, c.medium),
         updated_at = now()
       RETURNING id, session, state`,
      [
        s.agentId,
        s.inboxConversationId,
        s.mode,
        s.reason,
        json(s.contactProfile),
        JSON.stringify(s.contactAttributes),
        s.language,
        json(s.channel),
        json(s.medium),
      ],
    );
    return rows[0];
  }

  /** INBOUND_MESSAGE_RECEIVED: the conversation as it is, created if this is the first we hear of it. */
  async touchForInbound(
    db: EntityManager,
    c: {
      agentId: string;
      inboxConversationId: string;
      mode: ConversationMode;
      topics: string[] | null;
      contactProfile: Record<string, unknown> | null;
      channel: Record<string, unknown> | null;
      medium: Record<string, unknown> | null;
    },
  ): Promise<ConversationRef> {
    const rows: ConversationRef[] = await db.query(
      `INSERT INTO conversations AS c (agent_id, inbox_conversation_id, mode, state, state_reason, topics,
                                        contact_profile, channel, medium)
       VALUES ($1, $2, $3, 'active', '${OPENED_BY_MESSAGE}', COALESCE($4::jsonb, '[]'), $5, $6, $7)
       ON CONFLICT (agent_id, inbox_conversation_id) DO UPDATE SET
         topics = COALESCE($4::jsonb, c.topics),
         contact_profile = COALESCE(c.contact_profile, EXCLUDED.contact_profile),
         channel = COALESCE(c.channel, EXCLUDED.channel),
         medium = COALESCE(c.medium, EXCLUDED.medium),
         updated_at = now()
       RETURNING id, session, state`,
      [c.agentId, c.inboxConversationId, c.mode, json(c.topics), json(c.contactProfile), json(c.channel), json(c.medium)],
    );
    return rows[0];
  }

  findById(id: string): Promise<ConversationEntity | null> {
    return this.dataSource.getRepository(ConversationEntity).findOneBy({ id });
  }
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
