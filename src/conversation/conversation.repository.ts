import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { Conversation, ConversationState, Exchange, Message } from './conversation.types.js';
import type { TimerName, Transition } from './state-machine.js';
import type { EndReason } from '../agent/handover-reasons.js';
import type { DeadlineDurations } from './timing.js';

/** The one map from a timer to its deadline column. */
export const DEADLINE_COLUMN: Record<TimerName, string> = {
  vaDeadline: 'va_deadline_at',
  firstQuestion: 'first_question_at',
  contactNudge: 'nudge_at',
  contactDeadline: 'contact_deadline_at',
};

/**
 * Contact messages "waiting" for an opening event (`m` of conversation `c`): unanswered ones of the
 * current session, and, if the session has ended, only those received within the window (a late
 * opening event is at most that late; older ones were written to a conversation someone else had).
 * `windowParam` is the query parameter holding the window in milliseconds.
 */
export const waitingMessages = (windowParam: string) =>
  `m.conversation_id = c.id AND m.session = c.session AND m.direction = 'inbound' AND m.handled_at IS NULL
   AND (c.state = 'active' OR m.created_at > now() - ${windowParam} * interval '1 millisecond')`;

const PENDING = `EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.session = c.session
                           AND m.direction = 'inbound' AND m.handled_at IS NULL)`;

export type Claim = { kind: 'held'; conversation: Conversation; dbNow: Date } | { kind: 'busy' } | { kind: 'missing' };

export interface Released {
  state: ConversationState;
  pending: boolean;
  nextDeadlineAt: Date | null;
  dbNow: Date;
}

export interface ApplySettings {
  durations: DeadlineDurations;
  /** How late an opening event may be: the contact messages it adopts from an ended session are this young. */
  waitingWindowMs?: number;
  /** When this transition ends the session: why, for its outcome row (written by a trigger, see migration 1764000000007). */
  ending?: EndReason;
}

export interface Applied {
  state: ConversationState;
  nextDeadlineAt: Date | null;
  dbNow: Date;
}

/** A conversation row locked for one short transaction, and what may be done with it there. */
export interface LockedConversation {
  readonly conversation: Conversation;
  readonly dbNow: Date;
  /** The transaction, for the other repositories (`db` is their last, optional argument). */
  readonly db: EntityManager;
  exchange(): Promise<Exchange>;
  /** Whether contact messages of this session wait that no turn has taken yet. */
  pending(): Promise<boolean>;
  transcript(): Promise<Message[]>;
  apply(t: Transition, settings: ApplySettings): Promise<Applied>;
  markHandled(messageIds: string[], decisionId: string): Promise<void>;
  countTurn(): Promise<void>;
  insertOutbound(m: { session: number; text: string; decisionId: string | null; actionId: string }): Promise<void>;
}

export class LeaseLostError extends Error {
  constructor(conversationId: string) {
    super(`the lease on conversation ${conversationId} was lost: another worker may hold it now`);
    this.name = 'LeaseLostError';
  }
}

@Injectable()
export class ConversationRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async load(id: string, db: EntityManager = this.dataSource.manager): Promise<Conversation | undefined> {
    const rows: Row[] = await db.query('SELECT * FROM conversations WHERE id = $1', [id]);
    return rows[0] && toConversation(rows[0]);
  }

  /**
   * One actor at a time per conversation, across every process and within one: a short lease taken
   * with a conditional UPDATE, never a transaction held open across the LLM call. The owner is one
   * job, not one process, so a timer never slips into its own process's turn.
   */
  async claim(id: string, owner: string, leaseMs: number): Promise<Claim> {
    const rows: Array<Row & { db_now: Date; claimed: boolean }> = await this.dataSource.query(
      `WITH claimed AS (
         UPDATE conversations SET turn_owner = $2, turn_lease_until = now() + $3 * interval '1 millisecond'
          WHERE id = $1 AND (turn_lease_until IS NULL OR turn_lease_until < now())
          RETURNING *
       )
       SELECT claimed.*, now() AS db_now, true AS claimed FROM claimed
       UNION ALL
       SELECT c.*, now() AS db_now, false AS claimed FROM conversations c WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM claimed)`,
      [id, owner, leaseMs],
    );
    if (rows.length === 0) return { kind: 'missing' };
    if (!rows[0].claimed) return { kind: 'busy' };
    return { kind: 'held', conversation: toConversation(rows[0]), dbNow: rows[0].db_now };
  }

  /** Extends the lease while it is still ours; false when it expired (another may hold it now). */
  async renew(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const [rows]: [unknown[], number] = await this.dataSource.query(
      `UPDATE conversations SET turn_lease_until = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND turn_owner = $2 AND turn_lease_until > now() RETURNING id`,
      [id, owner, leaseMs],
    );
    return rows.length > 0;
  }

  /**
   * Before each attempt of a REST call: is it still this job's to make? The lease must be held (it
   * is extended to cover the attempt), the call still planned, and its session the current, active
   * one: a session opened meanwhile supersedes the call, and a retry must not carry it into the new one.
   */
  async checkSend(id: string, owner: string, leaseMs: number, actionId: string, session: number): Promise<'send' | 'lease-lost' | 'superseded'> {
    const [rows]: [Array<{ session: number; state: ConversationState; status: string }>, number] = await this.dataSource.query(
      `UPDATE conversations c SET turn_lease_until = now() + $3 * interval '1 millisecond'
        WHERE c.id = $1 AND c.turn_owner = $2 AND c.turn_lease_until > now()
        RETURNING c.session, c.state, (SELECT a.status FROM actions a WHERE a.id = $4) AS status`,
      [id, owner, leaseMs, actionId],
    );
    const r = rows[0];
    if (!r) return 'lease-lost';
    return r.status === 'planned' && r.session === session && r.state === 'active' ? 'send' : 'superseded';
  }

  /**
   * Releases the lease and says, in the same statement, whether contact messages are waiting: a
   * message stored after this release gets its own turn, one stored before it is seen here.
   * Undefined when the lease was no longer ours.
   */
  async release(id: string, owner: string): Promise<Released | undefined> {
    const [rows]: [Array<{ state: ConversationState; pending: boolean; next_deadline_at: Date | null; db_now: Date }>, number] =
      await this.dataSource.query(
        `UPDATE conversations c SET turn_owner = NULL, turn_lease_until = NULL
          WHERE id = $1 AND turn_owner = $2
          RETURNING c.state, c.next_deadline_at, now() AS db_now, ${PENDING} AS pending`,
        [id, owner],
      );
    const r = rows[0];
    return r && { state: r.state, pending: r.pending, nextDeadlineAt: r.next_deadline_at, dbNow: r.db_now };
  }

  /**
   * Runs `work` in one short transaction with the conversation row locked and re-read. With an
   * owner, the lease is checked (and extended) first: a worker whose lease expired records nothing
   * (LeaseLostError). Without one, the row lock alone serialises the work with intake: for recording
   * what a call already did, which must be recorded whoever holds the lease now.
   */
  locked<T>(id: string, lease: { owner: string; leaseMs: number } | undefined, work: (c: LockedConversation) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (db) => {
      const rows: Array<Row & { db_now: Date }> = lease
        ? (
            await db.query(
              `UPDATE conversations SET turn_lease_until = now() + $3 * interval '1 millisecond'
                WHERE id = $1 AND turn_owner = $2 AND turn_lease_until > now() RETURNING *, now() AS db_now`,
              [id, lease.owner, lease.leaseMs],
            )
          )[0]
        : await db.query(`SELECT *, now() AS db_now FROM conversations WHERE id = $1 FOR UPDATE`, [id]);
      if (!rows[0]) throw new LeaseLostError(id);
      const conversation = toConversation(rows[0]);
      return work({
        conversation,
        dbNow: rows[0].db_now,
        db,
        exchange: () => this.exchange(conversation.id, conversation.session, db),
        pending: async () => (await db.query(`SELECT ${PENDING} AS pending FROM conversations c WHERE c.id = $1`, [id]))[0].pending,
        transcript: () => this.transcript(conversation.id, conversation.session, conversation.summarizedThrough, db),
        apply: (t, settings) => this.apply(conversation.id, t, settings, db),
        markHandled: (messageIds, decisionId) => this.markHandled(messageIds, decisionId, db),
        countTurn: () => db.query(`UPDATE conversations SET agent_turns = agent_turns + 1 WHERE id = $1`, [id]).then(() => undefined),
        insertOutbound: (m) => this.insertOutbound({ conversationId: id, ...m }, db),
      });
    });
  }

  /**
   * Applies a transition to the row: state (with reason and opening event), a new session, the
   * waiting messages it adopts, pending messages closed, and the deadline columns its effects arm
   * or disarm. The VA deadline always counts from the oldest unanswered contact message.
   */
  async apply(id: string, t: Transition, { durations, waitingWindowMs = 0, ending }: ApplySettings, db: EntityManager): Promise<Applied> {
    const has = (type: string) => t.effects.some((e) => e.type === type);
    const newSession = has('newSession');
    // Transaction-local, read by the trigger that records the session's outcome; cleared otherwise so
    // that an earlier apply in the same transaction cannot lend its reason to this one.
    if (t.state !== 'active' || newSession) await db.query(`SELECT set_config('iva.session_ending', $1, true)`, [ending ?? '']);
    if (has('adoptWaiting')) {
      await db.query(
        `UPDATE messages m SET session = c.session + 1 FROM conversations c WHERE c.id = $1 AND ${waitingMessages('$2')}`,
        [id, waitingWindowMs],
      );
    }
    if (newSession || has('closePending')) {
      await db.query(`UPDATE actions SET status = 'superseded', done_at = now() WHERE conversation_id = $1 AND status = 'planned'`, [id]);
    }
    if (has('closePending')) {
      await db.query(
        `UPDATE messages m SET handled_at = now() FROM conversations c
          WHERE c.id = $1 AND m.conversation_id = c.id AND m.session = c.session AND m.direction = 'inbound' AND m.handled_at IS NULL`,
        [id],
      );
    }

    const sets = new Map<string, string>([
      ['state', '$2'],
      ['updated_at', 'now()'],
    ]);
    const params: unknown[] = [id, t.state];
    const param = (value: unknown) => `$${params.push(value)}`;
    if (t.reason) {
      sets.set('state_reason', param(t.reason));
      sets.set('state_changed_at', 'now()');
    }
    if (t.openedBy) sets.set('opened_by', param(t.openedBy));
    if (newSession) {
      sets.set('session', 'session + 1');
      sets.set('session_started_at', 'now()');
      sets.set('agent_turns', '0');
      sets.set('summary', 'NULL');
      sets.set('summarized_through', 'NULL');
    }
    const session = newSession ? 'conversations.session + 1' : 'conversations.session';
    // Adopted messages waited in an ended session; their clock starts with the session that answers them.
    const vaFrom = has('adoptWaiting')
      ? 'now()'
      : `(SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = conversations.id AND m.session = ${session}
                AND m.direction = 'inbound' AND m.handled_at IS NULL)`;
    // Later effects win over earlier ones on the same column.
    for (const effect of t.effects) {
      if (effect.type === 'disarm') sets.set(DEADLINE_COLUMN[effect.timer], 'NULL');
      if (effect.type !== 'arm') continue;
      const ms = durations[effect.timer];
      if (ms === undefined) continue;
      sets.set(
        DEADLINE_COLUMN[effect.timer],
        effect.timer === 'vaDeadline' ? `${vaFrom} + ${param(ms)} * interval '1 millisecond'` : `now() + ${param(ms)} * interval '1 millisecond'`,
      );
    }
    const [rows]: [Array<{ next_deadline_at: Date | null; state: ConversationState; db_now: Date }>, number] = await db.query(
      `UPDATE conversations SET ${[...sets].map(([column, value]) => `${column} = ${value}`).join(', ')}
        WHERE id = $1 RETURNING next_deadline_at, state, now() AS db_now`,
      params,
    );
    return { nextDeadlineAt: rows[0]?.next_deadline_at ?? null, state: rows[0]?.state ?? t.state, dbNow: rows[0]?.db_now ?? new Date() };
  }

  /** The session's messages after the summarised part, oldest first. */
  async transcript(id: string, session: number, after: string | null, db: EntityManager = this.dataSource.manager): Promise<Message[]> {
    const rows: Array<{ id: string; direction: 'inbound' | 'outbound'; text: string | null; payload: string | null; inbox_message_id: string | null; handled_at: Date | null }> =
      await db.query(
        `SELECT id, direction, text, payload, inbox_message_id, handled_at FROM messages
          WHERE conversation_id = $1 AND session = $2 AND id > $3 ORDER BY id`,
        [id, session, after ?? 0],
      );
    return rows.map((m) => ({ id: m.id, direction: m.direction, text: m.text, payload: m.payload, inboxMessageId: m.inbox_message_id, handledAt: m.handled_at }));
  }

  async exchange(id: string, session: number, db: EntityManager = this.dataSource.manager): Promise<Exchange> {
    const [row]: Array<{ unanswered: boolean; outbound: boolean }> = await db.query(
      `WITH last_out AS (SELECT max(id) AS id FROM messages WHERE conversation_id = $1 AND session = $2 AND direction = 'outbound')
       SELECT EXISTS (SELECT 1 FROM messages m, last_out
                       WHERE m.conversation_id = $1 AND m.session = $2 AND m.direction = 'inbound'
                         AND (m.handled_at IS NULL OR m.id > COALESCE(last_out.id, 0))) AS unanswered,
              (SELECT id FROM last_out) IS NOT NULL AS outbound`,
      [id, session],
    );
    return { unanswered: row.unanswered, outboundThisSession: row.outbound };
  }

  async markHandled(messageIds: string[], decisionId: string, db: EntityManager = this.dataSource.manager): Promise<void> {
    if (messageIds.length === 0) return;
    await db.query(`UPDATE messages SET handled_at = now(), decision_id = $2 WHERE id = ANY($1::bigint[])`, [messageIds, decisionId]);
  }

  async insertOutbound(
    m: { conversationId: string; session: number; text: string; decisionId: string | null; actionId: string },
    db: EntityManager = this.dataSource.manager,
  ): Promise<void> {
    await db.query(
      `INSERT INTO messages (conversation_id, session, direction, text, decision_id, action_id, sent_at)
       VALUES ($1, $2, 'outbound', $3, $4, $5, now())`,
      [m.conversationId, m.session, m.text, m.decisionId, m.actionId],
    );
  }

  /** Saves a new running summary, unless another process already moved it (optimistic). */
  async saveSummary(id: string, session: number, previousThrough: string | null, summary: string, through: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE conversations SET summary = $4, summarized_through = $5
        WHERE id = $1 AND session = $2 AND summarized_through IS NOT DISTINCT FROM $3::bigint`,
      [id, session, previousThrough, summary, through],
    );
  }

  /**
   * What the scheduler's sweep needs, read by one replica at a time (the others skip the round):
   * active conversations whose next deadline falls within `horizonMs` (or has passed), and those
   * nobody is working on that still need a turn — a contact message unanswered, or a recorded call
   * not yet made, for more than a few seconds (younger ones have a job coming).
   */
  async forSweep(horizonMs: number, lockKey: number): Promise<{ timers: Array<{ id: string; dueAt: Date }>; turns: string[]; dbNow: Date } | undefined> {
    return this.dataSource.transaction(async (db) => {
      const [{ locked, db_now }]: Array<{ locked: boolean; db_now: Date }> = await db.query('SELECT pg_try_advisory_xact_lock($1) AS locked, now() AS db_now', [lockKey]);
      if (!locked) return undefined;
      const timers: Array<{ id: string; next_deadline_at: Date }> = await db.query(
        `SELECT id, next_deadline_at FROM conversations WHERE state = 'active' AND next_deadline_at < now() + $1 * interval '1 millisecond'`,
        [horizonMs],
      );
      const turns: Array<{ id: string }> = await db.query(
        `SELECT c.id FROM conversations c
          WHERE c.state = 'active' AND (c.turn_lease_until IS NULL OR c.turn_lease_until < now())
            AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.session = c.session
                           AND m.direction = 'inbound' AND m.handled_at IS NULL AND m.created_at < now() - interval '5 seconds')
                 OR EXISTS (SELECT 1 FROM actions a WHERE a.conversation_id = c.id AND a.status = 'planned'
                              AND a.created_at < now() - interval '5 seconds'))`,
      );
      return { timers: timers.map((t) => ({ id: t.id, dueAt: t.next_deadline_at })), turns: turns.map((t) => t.id), dbNow: db_now };
    });
  }
}

/** A conversation row as Postgres returns it. */
export interface Row {
  id: string;
  agent_id: string;
  inbox_conversation_id: string;
  mode: Conversation['mode'];
  state: ConversationState;
  opened_by: Conversation['openedBy'];
  session: number;
  contact_profile: Record<string, unknown> | null;
  contact_attributes: Conversation['contactAttributes'] | null;
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

export function toConversation(r: Row): Conversation {
  return {
    id: r.id,
    agentId: r.agent_id,
    inboxConversationId: r.inbox_conversation_id,
    mode: r.mode,
    state: r.state,
    openedBy: r.opened_by,
    session: r.session,
    contactProfile: r.contact_profile,
    contactAttributes: r.contact_attributes ?? [],
    language: r.language,
    channel: r.channel,
    medium: r.medium,
    agentTurns: r.agent_turns,
    summary: r.summary,
    summarizedThrough: r.summarized_through,
    vaDeadlineAt: r.va_deadline_at,
    firstQuestionAt: r.first_question_at,
    nudgeAt: r.nudge_at,
    contactDeadlineAt: r.contact_deadline_at,
    nextDeadlineAt: r.next_deadline_at,
  };
}
