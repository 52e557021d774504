import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { textSafe, toJsonbSafe } from '../database/jsonb-safe.js';
import type { CallOutcome } from './action-http.js';

/** The record of one call, as `action_calls` keeps it. */
export interface ActionCallRow {
  id: string;
  action: string;
  arguments: Record<string, unknown> | null;
  status: 'started' | CallOutcome['status'] | 'refused';
  http_status: number | null;
  latency_ms: number | null;
  result: Record<string, unknown> | null;
  result_bytes: number;
  error: string | null;
}

export interface NewActionCall {
  conversationId: string;
  session: number;
  agentId: string;
  action: string;
  args: Record<string, unknown> | null;
  rawArguments: string | null;
  method: string;
  url: string | null;
  sideEffects: boolean;
  idempotencyKey: string | null;
}

const jsonb = (value: unknown) => (value === null ? null : JSON.stringify(toJsonbSafe(value).value));

/** `action_calls`: written before a request is made and finished after it (docs/actions.md). */
@Injectable()
export class ActionCallRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Records a call about to be made (`started`) or refused; returns its id, or, when a side-effect
   * call with the same idempotency key is already recorded, that earlier record instead.
   */
  async start(c: NewActionCall, status: 'started' | 'refused', error: string | null = null): Promise<{ id: string; earlier?: ActionCallRow }> {
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `INSERT INTO action_calls (conversation_id, session, agent_id, action, arguments, raw_arguments, method, url, side_effects, idempotency_key, status, error, done_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $11 = 'refused' THEN now() END)
       ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id`,
      [c.conversationId, c.session, c.agentId, c.action, jsonb(c.args), textSafe(c.rawArguments?.slice(0, 2000) ?? null), c.method, textSafe(c.url), c.sideEffects, c.idempotencyKey, status, textSafe(error)],
    );
    if (rows.length) return { id: rows[0].id };
    const earlier: ActionCallRow[] = await this.dataSource.query(`SELECT * FROM action_calls WHERE idempotency_key = $1`, [c.idempotencyKey]);
    // Gone between the two statements (its conversation deleted): nothing is known of it, so it is unknown.
    if (!earlier[0]) return { id: '', earlier: { id: '', action: c.action, arguments: c.args, status: 'started', http_status: null, latency_ms: null, result: null, result_bytes: 0, error: null } };
    return { id: earlier[0].id, earlier: earlier[0] };
  }

  async finish(id: string, o: CallOutcome): Promise<void> {
    await this.dataSource.query(
      `UPDATE action_calls SET status = $2, http_status = $3, latency_ms = $4, result = $5, result_bytes = $6, error = $7, done_at = now() WHERE id = $1`,
      [id, o.status, o.httpStatus, Math.round(o.latencyMs), jsonb(o.result), o.resultBytes, textSafe(o.error)],
    );
  }

  /** Ties the calls of one decision to its row, in the transaction that stores it. */
  async link(decisionId: string, ids: string[], db: EntityManager = this.dataSource.manager): Promise<void> {
    if (ids.length) await db.query(`UPDATE action_calls SET decision_id = $1 WHERE id = ANY($2::bigint[])`, [decisionId, ids]);
  }
}
