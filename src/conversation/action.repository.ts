import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { ManipulateConversation } from '../inbox/inbox.schemas.js';
import type { Delivered } from './state-machine.js';
import type { EndReason } from '../agent/handover-reasons.js';

export type ActionStatus = 'planned' | 'done' | 'failed' | 'lost' | 'superseded';

/** One REST call of the outbox, camelCase. */
export interface Action {
  id: string;
  conversationId: string;
  session: number;
  decisionId: string | null;
  kind: Delivered;
  body: ManipulateConversation;
  status: ActionStatus;
  attempts: number;
  /** For a call that ends the session: why (a resolution or a handover reason). */
  endReason: EndReason | null;
}

interface ActionRow {
  id: string;
  conversation_id: string;
  session: number;
  decision_id: string | null;
  kind: Delivered;
  body: ManipulateConversation;
  status: ActionStatus;
  attempts: number;
  end_reason: EndReason | null;
}

const toAction = (r: ActionRow): Action => ({
  id: r.id,
  conversationId: r.conversation_id,
  session: r.session,
  decisionId: r.decision_id,
  kind: r.kind,
  body: r.body,
  status: r.status,
  attempts: r.attempts,
  endReason: r.end_reason,
});

/** The outbox: every REST call is recorded before it is made and marked after, so none is made twice. */
@Injectable()
export class ActionRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async plan(
    a: { conversationId: string; session: number; decisionId: string | null; kind: Delivered; body: ManipulateConversation; endReason?: EndReason },
    db: EntityManager = this.dataSource.manager,
  ): Promise<Action> {
    const rows: ActionRow[] = await db.query(
      `INSERT INTO actions (conversation_id, session, decision_id, kind, body, end_reason) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [a.conversationId, a.session, a.decisionId, a.kind, JSON.stringify(a.body), a.endReason ?? null],
    );
    return toAction(rows[0]);
  }

  /** The calls of this session recorded and not yet made, oldest first. */
  async planned(conversationId: string, session: number): Promise<Action[]> {
    const rows: ActionRow[] = await this.dataSource.query(
      `SELECT * FROM actions WHERE conversation_id = $1 AND session = $2 AND status = 'planned' ORDER BY id`,
      [conversationId, session],
    );
    return rows.map(toAction);
  }

  async finish(id: string, status: ActionStatus, error: string | null = null, db: EntityManager = this.dataSource.manager): Promise<void> {
    await db.query(`UPDATE actions SET status = $2, error = $3, done_at = now() WHERE id = $1`, [id, status, error]);
  }

  async countAttempt(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE actions SET attempts = attempts + 1, error = $2 WHERE id = $1`, [id, error]);
  }
}
