import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { textSafe, toJsonbSafe } from '../database/jsonb-safe.js';
import { maskCards, maskCardsJson } from '../policy/redaction.js';
import type { ContextSnapshot } from './context-snapshot.js';
import type { DecisionOutcome } from './decision.engine.js';

@Injectable()
export class DecisionRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Stores a decision with its audit trail; returns its id. The LLM's output is made fit for
   * PostgreSQL first: a model that echoes a NUL or half an emoji must not fail the turn. No column
   * holds a payment card number in clear: the engine masks them where it restores, and every text
   * written here is masked again, for what it cannot see (an agent with `card` detection off, a
   * raw output, an attribute the platform sent).
   */
  async insert(conversationId: string, session: number, o: DecisionOutcome, context: ContextSnapshot, db: EntityManager = this.dataSource.manager): Promise<string> {
    const d = o.decision;
    const rows: Array<{ id: string }> = await db.query(
      `INSERT INTO decisions (conversation_id, session, kind, action, message, topics, contact_attributes, confidence,
                              reason, handover_note, guardrails, failure, model, prompt_tokens, completion_tokens,
                              cached_tokens, latency_ms, attempts, raw_output, context, context_hash, prompt_hash, sources, handover_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
       RETURNING id`,
      [
        conversationId,
        session,
        o.kind,
        d.action,
        text(d.message),
        jsonb(d.topics),
        jsonb(d.contactAttributes),
        d.confidence,
        text(d.reason),
        text(d.handoverNote),
        jsonb(o.guardrails),
        text(o.failure),
        textSafe(o.model),
        o.usage.promptTokens,
        o.usage.completionTokens,
        o.usage.cachedTokens,
        Math.round(o.latencyMs),
        o.attempts,
        jsonb({ proposed: o.proposed, attempts: o.raw }),
        jsonb(context),
        o.contextHash,
        o.promptHash,
        jsonb(o.citations),
        d.action === 'handover' ? (d.handoverReason ?? null) : null,
      ],
    );
    return rows[0].id;
  }
}

const text = (value: string | null) => textSafe(value === null ? null : maskCards(value));
// Card numbers masked in every string, object keys included (an action result keyed by card number).
const jsonb = (value: unknown) => JSON.stringify(maskCardsJson(toJsonbSafe(value).value));
