import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { ManipulateConversation } from '../inbox/inbox.schemas.js';
import type { Delivered } from './state-machine.js';

export type ActionStatus = 'planned' | 'done' | 'failed' | 'lost' | 'superseded';

export interface ActionRow {
  id: string;
  conversation_id: string;
  session: number;
  decision_id: string | null;
  kind: Delivered;
  body: ManipulateConversation;
  status: ActionStatus;
  attempts: number;
}

/** The outbox: every REST call is recorded before it is made and marked after, so none is made twice. */
@Injectable()
export class ActionRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async plan(db: EntityManager, a: { conversationId: string; session: number; decisionId: string | null; kind: Delivered; body: ManipulateConversation }): Promise<ActionRow> {
    const rows: ActionRow[] = await db.query(
      `INSERT INTO actions (conversation_id, session, decision_id, kind, body) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [a.conversationId, a.session, a.decisionId, a.kind, JSON.stringify(a.body)],
    );
    return rows[0];
  }

  planned(conversationId: string): Promise<ActionRow[]> {
    return this.dataSource.query(`SELECT * FROM actions WHERE conversation_id = $1 AND status = 'planned' ORDER BY id`, [conversationId]);
  }

  async finish(db: EntityManager, id: string, status: ActionStatus, error: string | null = null): Promise<void> {
    await db.query(`UPDATE actions SET status = $2, error = $3, done_at = now() WHERE id = $1`, [id, status, error]);
  }

  async countAttempt(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE actions SET attempts = attempts + 1, error = $2 WHERE id = $1`, [id, error]);
  }

  /** Planned calls of a session that a newer one (a timer's handover) replaces. */
  async supersede(db: EntityManager, conversationId: string): Promise<void> {
    await db.query(`UPDATE actions SET status = 'superseded', done_at = now() WHERE conversation_id = $1 AND status = 'planned'`, [conversationId]);
  }
}
