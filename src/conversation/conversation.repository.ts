import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { ContactAttribute, ConversationMode, ConversationState } from './conversation.types.js';
import type { Effect, TimerName } from './state-machine.js';

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

/** A conversation row as the orchestrator reads it (snake_case, as Postgres returns it). */
export interface ConversationRow {
  id: string;
  agent_id: string;
  inbox_conversation_id: string;
  mode: ConversationMode;
  state: ConversationState;
  session: number;
  contact_profile: Record<string, unknown> | null;
  contact_attributes: ContactAttribute[];
  language: string | null;
  channel: Record<string, unknown> | null;
  medium: Record<string, unknown> | null;
  agent_turns: number;
  summary: string | null;
  summarized_through: string | null;
  va_deadline_at: Date | null;
  first_question_at: Date | null;
  nudge_at: Date | null;
  contact_deadline_at: Date | null;
  next_deadline_at: Date | null;
}

/** What a lease claim returns: the row, and the database's clock (deadlines are on it, not ours). */
export type ClaimedConversation = ConversationRow & { db_now: Date };

/** Durations an effect needs to turn into a deadline column, in milliseconds. */
export interface DeadlineDurations {
  vaDeadline: number;
  firstQuestion: number;
  contactNudge: number | undefined;
  contactDeadline: number;
}

const DEADLINE_COLUMN: Record<TimerName, string> = {
  vaDeadline: 'va_deadline_at',
  firstQuestion: 'first_question_at',
  contactNudge: 'nudge_at',
  contactDeadline: 'contact_deadline_at',
};

export interface MessageRow {
  id: string;
  direction: 'inbound' | 'outbound';
  text: string | null;
  payload: string | null;
  inbox_message_id: string | null;
  handled_at: Date | null;
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
         agent_turns = CASE WHEN c.state = 'active' AND c.state_reason = '${OPENED_BY_MESSAGE}' THEN c.agent_turns ELSE 0 END,
         summary = CASE WHEN c.state = 'active' AND c.state_reason = '${OPENED_BY_MESSAGE}' THEN c.summary ELSE NULL END,
         summarized_through = CASE WHEN c.state = 'active' AND c.state_reason = '${OPENED_BY_MESSAGE}' THEN c.summarized_through ELSE NULL END,
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

  async load(id: string, db: EntityManager = this.dataSource.manager): Promise<ConversationRow | undefined> {
    const rows: ConversationRow[] = await db.query('SELECT * FROM conversations WHERE id = $1', [id]);
    return rows[0];
  }

  /**
   * One turn at a time per conversation, across every process: a short lease taken with a
   * conditional UPDATE, never a transaction held open across the LLM call. A crashed owner's lease
   * simply expires.
   */
  async claimLease(id: string, owner: string, leaseMs: number): Promise<ClaimedConversation | undefined> {
    const [rows]: [ClaimedConversation[], number] = await this.dataSource.query(
      `UPDATE conversations SET turn_owner = $2, turn_lease_until = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND (turn_lease_until IS NULL OR turn_lease_until < now() OR turn_owner = $2)
        RETURNING *, now() AS db_now`,
      [id, owner, leaseMs],
    );
    return rows[0];
  }

  async renewLease(id: string, owner: string, leaseMs: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE conversations SET turn_lease_until = now() + $3 * interval '1 millisecond' WHERE id = $1 AND turn_owner = $2`,
      [id, owner, leaseMs],
    );
  }

  /**
   * Releases the lease and says, in the same statement, whether contact messages are waiting: a
   * message stored after this release gets its own turn, one stored before it is seen here.
   * Undefined when the lease was no longer ours (it expired and another process took it).
   */
  async releaseLease(id: string, owner: string): Promise<{ state: ConversationState; pending: boolean; next_deadline_at: Date | null } | undefined> {
    const [rows]: [Array<{ state: ConversationState; pending: boolean; next_deadline_at: Date | null }>, number] = await this.dataSource.query(
      `UPDATE conversations c SET turn_owner = NULL, turn_lease_until = NULL
        WHERE id = $1 AND turn_owner = $2
        RETURNING c.state, c.next_deadline_at,
                  EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.session = c.session
                            AND m.direction = 'inbound' AND m.handled_at IS NULL) AS pending`,
      [id, owner],
    );
    return rows[0];
  }

  /** The row and whether contact messages are waiting, in one read. */
  async loadWithPending(db: EntityManager, id: string): Promise<(ConversationRow & { pending: boolean }) | undefined> {
    const rows: Array<ConversationRow & { pending: boolean }> = await db.query(
      `SELECT c.*, EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.session = c.session
                             AND m.direction = 'inbound' AND m.handled_at IS NULL) AS pending
         FROM conversations c WHERE c.id = $1`,
      [id],
    );
    return rows[0];
  }

  /**
   * Applies a transition to the row: its state (with the reason) and the deadline columns its
   * effects arm or disarm. The VA deadline always counts from the oldest unanswered contact message.
   * Returns the next deadline, for the timer job.
   */
  async applyTransition(
    db: EntityManager,
    id: string,
    t: { state: ConversationState; reason?: string; effects: Effect[] },
    durations: DeadlineDurations,
  ): Promise<{ nextDeadline: Date | null; state: ConversationState }> {
    const sets: string[] = ['state = $2', 'updated_at = now()'];
    const params: unknown[] = [id, t.state];
    if (t.reason) {
      params.push(t.reason);
      sets.push(`state_reason = $${params.length}`, 'state_changed_at = now()');
    }
    for (const effect of t.effects) {
      if (effect.type === 'disarm') sets.push(`${DEADLINE_COLUMN[effect.timer]} = NULL`);
      if (effect.type !== 'arm') continue;
      const column = DEADLINE_COLUMN[effect.timer];
      if (effect.timer === 'vaDeadline') {
        params.push(durations.vaDeadline);
        sets.push(`${column} = (SELECT min(m.created_at) FROM messages m
                                 WHERE m.conversation_id = conversations.id AND m.session = conversations.session
                                   AND m.direction = 'inbound' AND m.handled_at IS NULL) + $${params.length} * interval '1 millisecond'`);
      } else {
        const ms = durations[effect.timer];
        if (ms === undefined) continue;
        params.push(ms);
        sets.push(`${column} = now() + $${params.length} * interval '1 millisecond'`);
      }
    }
    // Later effects win over earlier ones on the same column; Postgres refuses a column set twice.
    const byColumn = new Map<string, string>();
    for (const set of sets) byColumn.set(set.split(' = ')[0], set);
    const [rows]: [Array<{ next_deadline_at: Date | null; state: ConversationState }>, number] = await db.query(
      `UPDATE conversations SET ${[...byColumn.values()].join(', ')} WHERE id = $1 RETURNING next_deadline_at, state`,
      params,
    );
    return { nextDeadline: rows[0]?.next_deadline_at ?? null, state: rows[0]?.state ?? t.state };
  }

  /** The session's messages after the summarised part, oldest first. */
  async transcript(id: string, session: number, after: string | null): Promise<MessageRow[]> {
    return this.dataSource.query(
      `SELECT id, direction, text, payload, inbox_message_id, handled_at FROM messages
        WHERE conversation_id = $1 AND session = $2 AND id > $3 ORDER BY id`,
      [id, session, after ?? 0],
    );
  }

  /** Whether the contact is waiting for an answer, and whether the agent has said anything this session. */
  async exchange(id: string, session: number): Promise<{ unanswered: boolean; outboundThisSession: boolean }> {
    const [row]: Array<{ unanswered: boolean; outbound: boolean }> = await this.dataSource.query(
      `WITH last_out AS (SELECT max(id) AS id FROM messages WHERE conversation_id = $1 AND session = $2 AND direction = 'outbound')
       SELECT EXISTS (SELECT 1 FROM messages m, last_out
                       WHERE m.conversation_id = $1 AND m.session = $2 AND m.direction = 'inbound'
                         AND (m.handled_at IS NULL OR m.id > COALESCE(last_out.id, 0))) AS unanswered,
              (SELECT id FROM last_out) IS NOT NULL AS outbound`,
      [id, session],
    );
    return { unanswered: row.unanswered, outboundThisSession: row.outbound };
  }

  async markHandled(db: EntityManager, messageIds: string[], decisionId: string): Promise<void> {
    if (messageIds.length === 0) return;
    await db.query(`UPDATE messages SET handled_at = now(), decision_id = $2 WHERE id = ANY($1::bigint[])`, [messageIds, decisionId]);
  }

  /** Active conversations whose next deadline falls within `horizonMs` (or has passed). */
  dueWithin(db: EntityManager, horizonMs: number): Promise<Array<{ id: string; next_deadline_at: Date }>> {
    return db.query(
      `SELECT id, next_deadline_at FROM conversations
        WHERE state = 'active' AND next_deadline_at < now() + $1 * interval '1 millisecond'`,
      [horizonMs],
    );
  }

  /**
   * Active conversations nobody is working on that still need a turn: a contact message unanswered,
   * or a recorded call not yet made, for more than a few seconds (younger ones have a job coming).
   */
  awaitingTurn(db: EntityManager): Promise<Array<{ id: string }>> {
    return db.query(
      `SELECT c.id FROM conversations c
        WHERE c.state = 'active' AND (c.turn_lease_until IS NULL OR c.turn_lease_until < now())
          AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.session = c.session
                         AND m.direction = 'inbound' AND m.handled_at IS NULL AND m.created_at < now() - interval '5 seconds')
               OR EXISTS (SELECT 1 FROM actions a WHERE a.conversation_id = c.id AND a.status = 'planned'
                            AND a.created_at < now() - interval '5 seconds'))`,
    );
  }

  /** Ending the conversation answers whatever is still pending in it. */
  async markAllPendingHandled(db: EntityManager, conversationId: string): Promise<void> {
    await db.query(`UPDATE messages SET handled_at = now() WHERE conversation_id = $1 AND handled_at IS NULL AND direction = 'inbound'`, [conversationId]);
  }

  /**
   * Counts the agent's turn, if the conversation is still active in this session: false when a
   * timer handed it over, or it was started again, while the LLM was thinking.
   */
  async countTurn(db: EntityManager, id: string, session: number, turns: 0 | 1): Promise<boolean> {
    const [rows]: [unknown[], number] = await db.query(
      `UPDATE conversations SET agent_turns = agent_turns + $3 WHERE id = $1 AND session = $2 AND state = 'active' RETURNING id`,
      [id, session, turns],
    );
    return rows.length > 0;
  }

  /** Saves a new running summary, unless another process already moved it (optimistic). */
  async saveSummary(id: string, previousThrough: string | null, summary: string, through: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE conversations SET summary = $3, summarized_through = $4
        WHERE id = $1 AND summarized_through IS NOT DISTINCT FROM $2::bigint`,
      [id, previousThrough, summary, through],
    );
  }

  async insertOutbound(db: EntityManager, m: { conversationId: string; session: number; text: string; decisionId: string | null; actionId: string }): Promise<void> {
    await db.query(
      `INSERT INTO messages (conversation_id, session, direction, text, decision_id, action_id, sent_at)
       VALUES ($1, $2, 'outbound', $3, $4, $5, now())`,
      [m.conversationId, m.session, m.text, m.decisionId, m.actionId],
    );
  }
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
