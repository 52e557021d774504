import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { DecisionOutcome } from './decision.engine.js';

@Injectable()
export class DecisionRepository {
  /** Stores a decision with its audit trail; returns its id. */
  async insert(db: EntityManager, conversationId: string, session: number, o: DecisionOutcome): Promise<string> {
    const d = o.decision;
    const rows: Array<{ id: string }> = await db.query(
      `INSERT INTO decisions (conversation_id, session, kind, action, message, topics, contact_attributes, confidence,
                              reason, handover_note, guardrails, failure, model, prompt_tokens, completion_tokens,
                              cached_tokens, latency_ms, attempts, raw_output)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
       RETURNING id`,
      [
        conversationId,
        session,
        o.kind,
        d.action,
        d.message,
        JSON.stringify(d.topics),
        JSON.stringify(d.contactAttributes),
        d.confidence,
        d.reason,
        d.handoverNote,
        JSON.stringify(o.guardrails),
        o.failure,
        o.model,
        o.usage.promptTokens,
        o.usage.completionTokens,
        o.usage.cachedTokens,
        Math.round(o.latencyMs),
        o.attempts,
        JSON.stringify({ proposed: o.proposed, attempts: o.raw }),
      ],
    );
    return rows[0].id;
  }
}
