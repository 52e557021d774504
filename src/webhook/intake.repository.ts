import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { OPENED_BY_MESSAGE, type ConversationRef, type DeadlineDurations } from '../conversation/conversation.repository.js';
import type { ConversationMode } from '../conversation/conversation.types.js';
import type { Effect } from '../conversation/state-machine.js';
import type { NewWebhookEvent } from './event-log.repository.js';

export interface InboundRecord {
  event: NewWebhookEvent;
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

const COLUMN = { vaDeadline: 'va_deadline_at', firstQuestion: 'first_question_at', contactNudge: 'nudge_at', contactDeadline: 'contact_deadline_at' } as const;

/**
 * The hot path of intake, a contact message, in one SQL statement: the event (unique per agent and
 * idempotency key), the conversation (created if unknown, with the state machine's effects of an
 * inbound message applied while it is active) and the message. Atomic as one statement, and one
 * round trip instead of six; a redelivery inserts no event, so nothing else happens.
 */
@Injectable()
export class IntakeRepository {
  private readonly statements = new Map<string, { name: string; text: string }>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** TypeORM's own pg pool: TypeORM's query() has no way to name a prepared statement. */
  private pool(): Pool {
    return (this.dataSource.driver as unknown as { master: Pool }).master;
  }

  /**
   * The statement for a list of inbound effects, built and named once: it is the same for every
   * webhook, and a named statement is parsed and planned once per connection.
   */
  private statement(effects: Effect[]): { name: string; text: string } {
    const key = JSON.stringify(effects);
    let statement = this.statements.get(key);
    if (!statement) {
      const { insert, update } = deadlineSql(effects);
      const text = `WITH ev AS (
           INSERT INTO webhook_events (agent_id, idempotency_key, type, version, inbox_conversation_id, sent_at, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (agent_id, idempotency_key) DO NOTHING
           RETURNING id
         ), conv AS (
           INSERT INTO conversations AS c (agent_id, inbox_conversation_id, mode, state, state_reason, topics,
                                           contact_profile, channel, medium${insert.columns})
           SELECT $1, $5, $8, 'active', '${OPENED_BY_MESSAGE}', COALESCE($9::jsonb, '[]'), $10, $11, $12${insert.values}
             FROM ev
           ON CONFLICT (agent_id, inbox_conversation_id) DO UPDATE SET
             topics = COALESCE($9::jsonb, c.topics),
             contact_profile = COALESCE(c.contact_profile, EXCLUDED.contact_profile),
             channel = COALESCE(c.channel, EXCLUDED.channel),
             medium = COALESCE(c.medium, EXCLUDED.medium),
             updated_at = now()${update}
           RETURNING id, session, state, next_deadline_at
         ), msg AS (
           INSERT INTO messages (conversation_id, session, direction, text, payload, inbox_message_id, trigger, event_id, sent_at)
           SELECT conv.id, conv.session, 'inbound', $13, $14, $15, $16, ev.id, $6 FROM conv, ev
           ON CONFLICT (conversation_id, inbox_message_id) WHERE inbox_message_id IS NOT NULL DO NOTHING
         )
         SELECT id, session, state, next_deadline_at FROM conv`;
      statement = { name: `intake-inbound-${hash(text)}`, text };
      this.statements.set(key, statement);
    }
    return statement;
  }

  /** Returns the conversation as it now is, or undefined for a redelivery. */
  async recordInbound(r: InboundRecord, effects: Effect[], durations: DeadlineDurations): Promise<(ConversationRef & { next_deadline_at: Date | null }) | undefined> {
    const params: unknown[] = [
      r.event.agentId, // 1
      r.event.idempotencyKey,
      r.event.type,
      r.event.version ?? null,
      r.event.inboxConversationId, // 5
      r.event.sentAt,
      JSON.stringify(r.event.payload),
      r.mode,
      json(r.topics),
      json(r.contactProfile), // 10
      json(r.channel),
      json(r.medium),
      r.text,
      r.payload,
      r.inboxMessageId, // 15
      json(r.trigger),
      durations.vaDeadline,
    ];
    const { name, text } = this.statement(effects);
    const { rows } = await this.pool().query<ConversationRef & { next_deadline_at: Date | null }>({ name, text, values: params });
    return rows[0];
  }
}

/**
 * The deadline columns an inbound message's effects set, for a new row and (only while the
 * conversation is active) for an existing one. The message being stored is the newest, so the VA
 * deadline counts from it only when none is running yet.
 */
function deadlineSql(effects: Effect[]): { insert: { columns: string; values: string }; update: string } {
  const columns: string[] = [];
  const values: string[] = [];
  const updates: string[] = [];
  for (const effect of effects) {
    if (effect.type !== 'arm' && effect.type !== 'disarm') continue;
    const column = COLUMN[effect.timer];
    if (effect.type === 'disarm') {
      updates.push(`${column} = CASE WHEN c.state = 'active' THEN NULL ELSE c.${column} END`);
    } else if (effect.timer === 'vaDeadline') {
      columns.push(column);
      values.push(`now() + $17 * interval '1 millisecond'`);
      updates.push(`${column} = CASE WHEN c.state = 'active' THEN COALESCE(c.${column}, now() + $17 * interval '1 millisecond') ELSE c.${column} END`);
    } else {
      throw new Error(`an inbound message does not arm ${effect.timer}`);
    }
  }
  return {
    insert: { columns: columns.map((c) => `, ${c}`).join(''), values: values.map((v) => `, ${v}`).join('') },
    update: updates.map((u) => `,\n           ${u}`).join(''),
  };
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

const hash = (text: string) => createHash('sha1').update(text).digest('hex').slice(0, 12);
