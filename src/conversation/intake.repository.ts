import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { ConversationRepository, DEADLINE_COLUMN, waitingMessages, type Applied, type ApplySettings } from './conversation.repository.js';
import type { ContactAttribute, ConversationMode, ConversationState, OpenedBy } from './conversation.types.js';
import { TIMERS, transition, type MachineConfig, type Prior, type Transition } from './state-machine.js';

/** One accepted webhook, as the event log keeps it. */
export interface IntakeEvent {
  agentId: string;
  idempotencyKey: string;
  type: string;
  version: number | undefined;
  inboxConversationId: string | undefined;
  sentAt: Date;
  /**
   * The JSON as received (the event log keeps what the platform sent, not our reading of it), made
   * fit for PostgreSQL: no NUL, no lone surrogate (see database/jsonb-safe.ts).
   */
  payload: unknown;
  /** The bytes as received, kept when making the payload fit changed it. */
  rawBody: Buffer | null;
}

export interface InboundRecord {
  event: IntakeEvent;
  mode: ConversationMode;
  topics: string[] | null;
  contactProfile: Record<string, unknown> | null;
  channel: Record<string, unknown> | null;
  medium: Record<string, unknown> | null;
  text: string | null;
  payload: string | null;
  inboxMessageId: string | null;
  trigger: Record<string, unknown> | null;
}

export interface OpeningRecord {
  event: IntakeEvent;
  type: 'started' | 'delegated';
  contactProfile: Record<string, unknown> | null;
  contactAttributes: ContactAttribute[];
  language: string | null;
  channel: Record<string, unknown> | null;
  medium: Record<string, unknown> | null;
}

export interface InboundResult {
  conversationId: string;
  /** False when a message with the same `messageId` was stored already (redelivered under a new key). */
  stored: boolean;
  transition: Transition;
  nextDeadlineAt: Date | null;
  dbNow: Date;
}

export interface OpeningResult {
  conversationId: string;
  transition: Transition;
  applied: Applied;
}

const STATES: ConversationState[] = ['active', 'handed_over', 'resolved', 'lost'];
const OPENED_BY: OpenedBy[] = ['started', 'delegated', 'message'];

/**
 * Intake's writes. The hot path, a contact message, is one SQL statement: the event (unique per
 * agent and idempotency key), the conversation (created if unknown) and the message, atomic, one
 * round trip instead of six. Its conversation update is compiled from the state machine's answer
 * to `inbound` for each state, so the rule lives in the machine and the SQL only executes it.
 */
@Injectable()
export class IntakeRepository {
  private readonly statements = new Map<string, InboundStatement>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly conversations: ConversationRepository,
  ) {}

  /** TypeORM's own pg pool: TypeORM's query() has no way to name a prepared statement. */
  private pool(): Pool {
    return (this.dataSource.driver as unknown as { master: Pool }).master;
  }

  /** Returns the conversation as it now is, or undefined for a redelivery (the same idempotency key). */
  async recordInbound(r: InboundRecord, cfg: MachineConfig, vaDeadlineMs: number): Promise<InboundResult | undefined> {
    const statement = this.statement(cfg);
    const params: unknown[] = [
      ...eventParams(r.event), // 1–8
      r.mode,
      json(r.topics), // 10
      json(r.contactProfile),
      json(r.channel),
      json(r.medium),
      r.text,
      r.payload, // 15
      r.inboxMessageId,
      json(r.trigger),
      vaDeadlineMs,
    ];
    const { rows } = await this.pool().query<{ id: string; state: ConversationState; next_deadline_at: Date | null; created: boolean; stored: boolean; db_now: Date }>({
      name: statement.name,
      text: statement.text,
      values: params,
    });
    const row = rows[0];
    if (!row) return undefined;
    return {
      conversationId: row.id,
      stored: row.stored,
      transition: row.created ? statement.created : statement.byState[row.state],
      nextDeadlineAt: row.next_deadline_at,
      dbNow: row.db_now,
    };
  }

  /**
   * CONVERSATION_STARTED / _DELEGATED in one short transaction: the event, then the conversation
   * locked, `plan` asked what its prior state and waiting messages make of the event, and the
   * transition applied. Undefined for a redelivery.
   */
  recordOpening(r: OpeningRecord, plan: (prior: Prior | undefined, waiting: boolean) => Transition, settings: Required<Omit<ApplySettings, 'ending'>>): Promise<OpeningResult | undefined> {
    return this.dataSource.transaction(async (db) => {
      if (!(await this.insertEvent(r.event, db))) return undefined;
      const mode: ConversationMode = r.type === 'started' ? 'inception' : 'delegation';
      const values = [r.event.agentId, r.event.inboxConversationId, mode, json(r.contactProfile), json(r.contactAttributes) ?? '[]', r.language, json(r.channel), json(r.medium)];
      const created: Array<{ id: string }> = await db.query(
        `INSERT INTO conversations (agent_id, inbox_conversation_id, mode, state, opened_by, contact_profile, contact_attributes, language, channel, medium)
         VALUES ($1, $2, $3, 'active', '${r.type}', $4, $5, $6, $7, $8)
         ON CONFLICT (agent_id, inbox_conversation_id) DO NOTHING RETURNING id`,
        values,
      );
      let id: string;
      let t: Transition;
      if (created[0]) {
        id = created[0].id;
        t = plan(undefined, false);
      } else {
        const [prior]: Array<{ id: string; state: ConversationState; opened_by: OpenedBy }> = await db.query(
          `SELECT id, state, opened_by FROM conversations WHERE agent_id = $1 AND inbox_conversation_id = $2 FOR UPDATE`,
          [r.event.agentId, r.event.inboxConversationId],
        );
        // Read after the lock, in a statement of its own: a message whose intake committed while this
        // waited for the lock is in this statement's snapshot, not in the locking one's.
        const [{ waiting }]: Array<{ waiting: boolean }> = await db.query(
          `SELECT EXISTS (SELECT 1 FROM messages m WHERE ${waitingMessages('$2')}) AS waiting FROM conversations c WHERE c.id = $1`,
          [prior.id, settings.waitingWindowMs],
        );
        id = prior.id;
        t = plan({ state: prior.state, openedBy: prior.opened_by }, waiting);
        await db.query(
          `UPDATE conversations SET mode = $3, contact_profile = COALESCE($4, contact_profile), contact_attributes = $5,
                  language = COALESCE($6, language), channel = COALESCE($7, channel), medium = COALESCE($8, medium)
            WHERE id = $1 AND inbox_conversation_id = $2`,
          [id, ...values.slice(1)],
        );
      }
      const applied = await this.conversations.apply(id, t, settings, db);
      return { conversationId: id, transition: t, applied };
    });
  }

  /** An event of a type this version does not know: logged, nothing else. False for a redelivery. */
  async recordOther(event: IntakeEvent): Promise<boolean> {
    return this.insertEvent(event);
  }

  private async insertEvent(event: IntakeEvent, db: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: Array<{ id: string }> = await db.query(
      `INSERT INTO webhook_events (agent_id, idempotency_key, type, version, inbox_conversation_id, sent_at, payload, raw_body)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (agent_id, idempotency_key) DO NOTHING
       RETURNING id`,
      eventParams(event),
    );
    return rows.length > 0;
  }

  /** The statement, compiled from the machine once per configuration and named: parsed and planned once per connection. */
  private statement(cfg: MachineConfig): InboundStatement {
    const key = JSON.stringify(cfg);
    let statement = this.statements.get(key);
    if (!statement) {
      statement = compileInbound(cfg);
      this.statements.set(key, statement);
    }
    return statement;
  }
}

export interface InboundStatement {
  name: string;
  text: string;
  /** The machine's answer for a conversation this message creates, and for each prior state. */
  created: Transition;
  byState: Record<ConversationState, Transition>;
}

/**
 * Turns the state machine's answers to `inbound` into the intake statement. It can express what an
 * inbound message does today (arm the VA deadline unless it runs, disarm timers, leave the state
 * as it is) and refuses to compile anything else, so a new rule cannot silently go unexecuted.
 */
export function compileInbound(cfg: MachineConfig): InboundStatement {
  const created = transition(undefined, { type: 'inbound' }, cfg);
  const byState = Object.fromEntries(STATES.map((state) => [state, transition({ state, openedBy: 'started' }, { type: 'inbound' }, cfg)])) as Record<ConversationState, Transition>;
  for (const state of STATES) {
    for (const openedBy of OPENED_BY) {
      if (JSON.stringify(transition({ state, openedBy }, { type: 'inbound' }, cfg)) !== JSON.stringify(byState[state]))
        throw new Error(`the intake statement cannot express an inbound rule that depends on openedBy (${state}/${openedBy})`);
    }
    const t = byState[state];
    if (t.state !== state || t.reason || t.openedBy) throw new Error(`the intake statement cannot change a conversation's state on inbound (${state})`);
  }
  const supported = (t: Transition) =>
    t.effects.every((e) => e.type === 'requestTurn' || e.type === 'disarm' || (e.type === 'arm' && e.timer === 'vaDeadline'));
  if (!supported(created) || !STATES.every((s) => supported(byState[s]))) throw new Error('the intake statement cannot express an inbound effect');

  const vaDeadline = `now() + $18 * interval '1 millisecond'`;
  const insertColumns: string[] = [];
  const insertValues: string[] = [];
  for (const e of created.effects) {
    if (e.type === 'arm') {
      insertColumns.push(DEADLINE_COLUMN[e.timer]);
      insertValues.push(vaDeadline);
    }
  }
  // For each deadline column: what each prior state's effects do to it, applied only for a new message.
  const updates = TIMERS.flatMap((timer) => {
    const column = DEADLINE_COLUMN[timer];
    const cases = STATES.flatMap((state) => {
      const effect = byState[state].effects.filter((e) => (e.type === 'arm' || e.type === 'disarm') && e.timer === timer).at(-1);
      if (!effect) return [];
      return [`WHEN '${state}' THEN ${effect.type === 'disarm' ? 'NULL' : `COALESCE(c.${column}, ${vaDeadline})`}`];
    });
    return cases.length ? [`${column} = CASE WHEN ${NEW_MESSAGE} THEN CASE c.state ${cases.join(' ')} ELSE c.${column} END ELSE c.${column} END`] : [];
  });

  const text = `WITH ev AS (
       INSERT INTO webhook_events (agent_id, idempotency_key, type, version, inbox_conversation_id, sent_at, payload, raw_body)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (agent_id, idempotency_key) DO NOTHING
       RETURNING id
     ), conv AS (
       INSERT INTO conversations AS c (agent_id, inbox_conversation_id, mode, state, state_reason, opened_by, topics,
                                       contact_profile, channel, medium${insertColumns.map((c) => `, ${c}`).join('')})
       SELECT $1, $5, $9, '${created.state}', '${created.reason}', '${created.openedBy}', COALESCE($10::jsonb, '[]'), $11, $12, $13${insertValues.map((v) => `, ${v}`).join('')}
         FROM ev
       ON CONFLICT (agent_id, inbox_conversation_id) DO UPDATE SET
         topics = COALESCE($10::jsonb, c.topics),
         contact_profile = COALESCE(c.contact_profile, EXCLUDED.contact_profile),
         channel = COALESCE(c.channel, EXCLUDED.channel),
         medium = COALESCE(c.medium, EXCLUDED.medium),
         updated_at = now()${updates.map((u) => `,\n         ${u}`).join('')}
       RETURNING id, session, state, next_deadline_at, (xmax = 0) AS created
     ), msg AS (
       INSERT INTO messages (conversation_id, session, direction, text, payload, inbox_message_id, trigger, event_id, sent_at)
       SELECT conv.id, conv.session, 'inbound', $14, $15, $16, $17, ev.id, $6 FROM conv, ev
       ON CONFLICT (conversation_id, inbox_message_id) WHERE inbox_message_id IS NOT NULL DO NOTHING
       RETURNING id
     )
     SELECT id, state, next_deadline_at, created, EXISTS (SELECT 1 FROM msg) AS stored, now() AS db_now FROM conv`;
  return { name: `intake-inbound-${createHash('sha1').update(text).digest('hex').slice(0, 12)}`, text, created, byState };
}

/** A message the conversation has not stored yet: the same `messageId` under a new idempotency key changes nothing. */
const NEW_MESSAGE = `($16::text IS NULL OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.inbox_message_id = $16::text))`;

function eventParams(e: IntakeEvent): unknown[] {
  return [e.agentId, e.idempotencyKey, e.type, e.version ?? null, e.inboxConversationId ?? null, e.sentAt, JSON.stringify(e.payload), e.rawBody];
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
