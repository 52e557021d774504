import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import pg from 'pg';
import { AppConfig } from '../config/app-config.js';
import { EVENT_TYPES } from '../webhook/webhook-events.schema.js';
import { MAX_PAGE, PAGE_SIZE, containsPattern, type ListFilter } from './console.filters.js';

/*
 * The console's read models: parameterized SELECTs only, rows mapped to camelCase here. The console
 * never writes conversation state; everything it shows is what the bridge recorded.
 */

export type DeadlineKind = 'va_deadline' | 'first_question' | 'nudge' | 'contact_deadline';

export interface ConversationRow {
  id: string;
  agentId: string;
  inboxConversationId: string;
  mode: string;
  state: string;
  stateReason: string | null;
  stateChangedAt: Date;
  session: number;
  contact: string | null;
  agentTurns: number;
  lastMessageAt: Date | null;
  /** Only while the agent owns the conversation: an ended one has no deadline that matters. */
  nextDeadlineAt: Date | null;
  nextDeadlineKind: DeadlineKind | null;
  updatedAt: Date;
}

export interface ConversationPage {
  rows: ConversationRow[];
  page: number;
  hasNext: boolean;
}

export interface ConversationDetail extends ConversationRow {
  openedBy: string;
  sessionStartedAt: Date;
  createdAt: Date;
  language: string | null;
  channel: unknown;
  medium: unknown;
  topics: string[];
  contactAttributes: Array<{ attribute: string; value: string }>;
  contactProfile: Record<string, unknown> | null;
  summary: string | null;
  deadlines: Record<DeadlineKind, Date | null>;
}

export interface MessageRow {
  id: string;
  session: number;
  direction: 'inbound' | 'outbound';
  text: string | null;
  payload: string | null;
  createdAt: Date;
  sentAt: Date | null;
  decisionId: string | null;
  actionId: string | null;
  actionKind: string | null;
}

export interface Source {
  id?: string;
  title?: string;
  url?: string | null;
  uri?: string;
}

export interface DecisionRow {
  id: string;
  session: number;
  kind: string;
  action: string;
  message: string;
  confidence: number;
  reason: string;
  handoverReason: string | null;
  handoverNote: string;
  guardrails: string[];
  failure: string | null;
  model: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  latencyMs: number;
  attempts: number;
  sources: Source[];
  topics: string[];
  contactAttributes: Record<string, string>;
  createdAt: Date;
}

export interface ActionCallRow {
  id: string;
  session: number;
  decisionId: string | null;
  action: string;
  method: string;
  arguments: unknown;
  rawArguments: string | null;
  sideEffects: boolean;
  status: string;
  httpStatus: number | null;
  latencyMs: number | null;
  result: unknown;
  error: string | null;
  createdAt: Date;
}

export interface OutboxRow {
  id: string;
  session: number;
  decisionId: string | null;
  kind: string;
  body: Record<string, unknown>;
  status: string;
  attempts: number;
  error: string | null;
  endReason: string | null;
  createdAt: Date;
  doneAt: Date | null;
}

export interface SessionOutcomeRow {
  session: number;
  startedAt: Date;
  endedAt: Date;
  outcome: string;
  resolution: string | null;
  reason: string | null;
  agentTurns: number;
  firstReplyMs: number | null;
  llmCalls: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reopened: boolean;
}

export interface WebhookEventRow {
  id: string;
  type: string;
  idempotencyKey: string;
  sentAt: Date | null;
  receivedAt: Date;
  repaired: boolean;
}

export interface ConversationRecord {
  conversation: ConversationDetail;
  messages: MessageRow[];
  messagesCut: boolean;
  decisions: DecisionRow[];
  actionCalls: ActionCallRow[];
  outbox: OutboxRow[];
  outcomes: SessionOutcomeRow[];
  events: WebhookEventRow[];
}

/** One agent's numbers over a window (overview). */
export interface AgentNumbers {
  agentId: string;
  ended: number;
  active: number;
  resolved: number;
  confirmed: number;
  assumed: number;
  handedOver: number;
  /** Delegation: handed back with the task done (no handover reason). */
  handedBack: number;
  timedOut: number;
  lost: number;
  /** Resolved sessions whose conversation came back within 7 days. */
  reopened: number;
  /** Distinct conversations with a session ended in the window or active with activity in it. */
  conversations: number;
  firstReplyP50: number | null;
  decisions: number;
  llmFailures: number;
  latencyP50: number | null;
  latencyP95: number | null;
  llmCalls: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

export interface OverviewData {
  agents: AgentNumbers[];
  reasons: Array<{ agentId: string; reason: string; count: number }>;
  guardrails: Array<{ agentId: string; text: string; count: number }>;
  models: Array<{ agentId: string; model: string; promptTokens: number; completionTokens: number; cachedTokens: number }>;
  webhooks: Array<{ agentId: string; type: string; known: boolean; count: number; repaired: number }>;
  outboxFailures: Array<{ agentId: string; kind: string; status: string; count: number }>;
  actionCallFailures: Array<{ agentId: string; action: string; status: string; count: number }>;
}

/** Sessions of a conversation's transcript above this many messages are cut, and the page says so. */
export const MAX_MESSAGES = 2000;
const MAX_ROWS = 2000;

const DEADLINE_CASE = `
  CASE WHEN c.state <> 'active' OR c.next_deadline_at IS NULL THEN NULL
       WHEN c.next_deadline_at = c.va_deadline_at THEN 'va_deadline'
       WHEN c.next_deadline_at = c.first_question_at THEN 'first_question'
       WHEN c.next_deadline_at = c.nudge_at THEN 'nudge'
       ELSE 'contact_deadline' END`;

const ROW_COLUMNS = `
  c.id, c.agent_id, c.inbox_conversation_id, c.mode, c.state, c.state_reason, c.state_changed_at, c.session,
  c.contact_profile->>'primaryIdentifier' AS contact, c.agent_turns, c.updated_at,
  CASE WHEN c.state = 'active' THEN c.next_deadline_at END AS next_deadline_at,
  ${DEADLINE_CASE} AS next_deadline_kind,
  (SELECT max(m.created_at) FROM messages m WHERE m.conversation_id = c.id) AS last_message_at`;

type Row = Record<string, any>;

const int = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

const toRow = (r: Row): ConversationRow => ({
  id: r.id,
  agentId: r.agent_id,
  inboxConversationId: r.inbox_conversation_id,
  mode: r.mode,
  state: r.state,
  stateReason: r.state_reason,
  stateChangedAt: r.state_changed_at,
  session: r.session,
  contact: r.contact,
  agentTurns: r.agent_turns,
  lastMessageAt: r.last_message_at,
  nextDeadlineAt: r.next_deadline_at,
  nextDeadlineKind: r.next_deadline_kind,
  updatedAt: r.updated_at,
});

/** Connections of the console's own pool: the webhook path and the turns keep the service's pool to themselves. */
const CONSOLE_POOL_SIZE = 3;
/** A console query that runs longer is cancelled: a person waits for it, and the database serves the bridge first. */
const CONSOLE_STATEMENT_TIMEOUT_MS = 10_000;

/**
 * The console's reads, on a small pool of their own (read-only sessions, a statement timeout), so
 * that operators opening pages can never take the connections intake and turns need.
 */
@Injectable()
export class ConsoleDatabase implements OnModuleDestroy {
  private readonly pool: pg.Pool;

  constructor(config: AppConfig) {
    this.pool = new pg.Pool({
      connectionString: config.env.DATABASE_URL,
      max: CONSOLE_POOL_SIZE,
      options: `-c statement_timeout=${CONSOLE_STATEMENT_TIMEOUT_MS} -c default_transaction_read_only=on`,
    });
    // An idle client's error (the server restarted) must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  async query(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, params)).rows as Row[];
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool.end();
  }
}

@Injectable()
export class ConsoleQueries {
  constructor(private readonly db: ConsoleDatabase) {}

  /** The newest activity first; `page` is capped (MAX_PAGE), one extra row tells whether there is a next page. */
  async conversations(filter: ListFilter): Promise<ConversationPage> {
    const page = Math.min(filter.page, MAX_PAGE);
    const rows: Row[] = await this.db.query(
      `SELECT ${ROW_COLUMNS}
         FROM conversations c
        WHERE ($1::text IS NULL OR c.agent_id = $1)
          AND ($2::text IS NULL OR c.mode = $2)
          AND ($3::text IS NULL OR c.state = $3)
          AND ($4::timestamptz IS NULL OR c.updated_at >= $4)
          AND ($5::text IS NULL
               OR c.inbox_conversation_id ILIKE $5 ESCAPE '\\'
               OR c.contact_profile->>'primaryIdentifier' ILIKE $5 ESCAPE '\\'
               OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.text ILIKE $5 ESCAPE '\\'))
        ORDER BY c.updated_at DESC, c.id DESC
        LIMIT $6 OFFSET $7`,
      [
        filter.agent ?? null,
        filter.mode ?? null,
        filter.state ?? null,
        filter.since?.at ?? null,
        filter.q ? containsPattern(filter.q) : null,
        PAGE_SIZE + 1,
        (page - 1) * PAGE_SIZE,
      ],
    );
    return { rows: rows.slice(0, PAGE_SIZE).map(toRow), page, hasNext: rows.length > PAGE_SIZE };
  }

  /** Everything recorded about one conversation; undefined when there is no such conversation. */
  async conversation(id: string): Promise<ConversationRecord | undefined> {
    const [c]: Row[] = await this.db.query(
      `SELECT ${ROW_COLUMNS}, c.opened_by, c.session_started_at, c.created_at, c.language, c.channel, c.medium, c.topics,
              c.contact_attributes, c.contact_profile, c.summary,
              c.va_deadline_at, c.first_question_at, c.nudge_at, c.contact_deadline_at
         FROM conversations c WHERE c.id = $1`,
      [id],
    );
    if (!c) return undefined;
    const [messages, decisions, actionCalls, outbox, outcomes, events] = await Promise.all([
      this.db.query(
        `SELECT m.id, m.session, m.direction, m.text, m.payload, m.created_at, m.sent_at, m.decision_id, m.action_id, a.kind AS action_kind
           FROM messages m LEFT JOIN actions a ON a.id = m.action_id
          WHERE m.conversation_id = $1 ORDER BY m.id LIMIT $2`,
        [id, MAX_MESSAGES + 1],
      ) as Promise<Row[]>,
      this.db.query(
        `SELECT id, session, kind, action, message, confidence, reason, handover_reason, handover_note, guardrails, failure, model,
                prompt_tokens, completion_tokens, cached_tokens, latency_ms, attempts, sources, topics, contact_attributes, created_at
           FROM decisions WHERE conversation_id = $1 ORDER BY id LIMIT $2`,
        [id, MAX_ROWS],
      ) as Promise<Row[]>,
      this.db.query(
        `SELECT id, session, decision_id, action, method, arguments, raw_arguments, side_effects, status, http_status, latency_ms, result, error, created_at
           FROM action_calls WHERE conversation_id = $1 ORDER BY id LIMIT $2`,
        [id, MAX_ROWS],
      ) as Promise<Row[]>,
      this.db.query(
        `SELECT id, session, decision_id, kind, body, status, attempts, error, end_reason, created_at, done_at
           FROM actions WHERE conversation_id = $1 ORDER BY id LIMIT $2`,
        [id, MAX_ROWS],
      ) as Promise<Row[]>,
      this.db.query(
        `SELECT session, started_at, ended_at, outcome, resolution, reason, agent_turns, first_reply_ms, llm_calls,
                prompt_tokens, completion_tokens, cached_tokens, reopened
           FROM session_outcome_view WHERE conversation_id = $1 ORDER BY session`,
        [id],
      ) as Promise<Row[]>,
      this.db.query(
        `SELECT id, type, idempotency_key, sent_at, received_at, raw_body IS NOT NULL AS repaired
           FROM webhook_events WHERE agent_id = $1 AND inbox_conversation_id = $2 ORDER BY id LIMIT $3`,
        [c.agent_id, c.inbox_conversation_id, MAX_ROWS],
      ) as Promise<Row[]>,
    ]);
    return {
      conversation: {
        ...toRow(c),
        openedBy: c.opened_by,
        sessionStartedAt: c.session_started_at,
        createdAt: c.created_at,
        language: c.language,
        channel: c.channel,
        medium: c.medium,
        topics: Array.isArray(c.topics) ? c.topics : [],
        contactAttributes: Array.isArray(c.contact_attributes) ? c.contact_attributes : [],
        contactProfile: c.contact_profile,
        summary: c.summary,
        deadlines: {
          va_deadline: c.va_deadline_at,
          first_question: c.first_question_at,
          nudge: c.nudge_at,
          contact_deadline: c.contact_deadline_at,
        },
      },
      messages: messages.slice(0, MAX_MESSAGES).map((m) => ({
        id: m.id,
        session: m.session,
        direction: m.direction,
        text: m.text,
        payload: m.payload,
        createdAt: m.created_at,
        sentAt: m.sent_at,
        decisionId: m.decision_id,
        actionId: m.action_id,
        actionKind: m.action_kind,
      })),
      messagesCut: messages.length > MAX_MESSAGES,
      decisions: decisions.map((d) => ({
        id: d.id,
        session: d.session,
        kind: d.kind,
        action: d.action,
        message: d.message,
        confidence: Number(d.confidence),
        reason: d.reason,
        handoverReason: d.handover_reason,
        handoverNote: d.handover_note,
        guardrails: Array.isArray(d.guardrails) ? d.guardrails.map(String) : [],
        failure: d.failure,
        model: d.model,
        promptTokens: d.prompt_tokens,
        completionTokens: d.completion_tokens,
        cachedTokens: d.cached_tokens,
        latencyMs: d.latency_ms,
        attempts: d.attempts,
        sources: Array.isArray(d.sources) ? d.sources : [],
        topics: Array.isArray(d.topics) ? d.topics : [],
        contactAttributes: d.contact_attributes && typeof d.contact_attributes === 'object' ? d.contact_attributes : {},
        createdAt: d.created_at,
      })),
      actionCalls: actionCalls.map((a) => ({
        id: a.id,
        session: a.session,
        decisionId: a.decision_id,
        action: a.action,
        method: a.method,
        arguments: a.arguments,
        rawArguments: a.raw_arguments,
        sideEffects: a.side_effects,
        status: a.status,
        httpStatus: a.http_status,
        latencyMs: a.latency_ms,
        result: a.result,
        error: a.error,
        createdAt: a.created_at,
      })),
      outbox: outbox.map((a) => ({
        id: a.id,
        session: a.session,
        decisionId: a.decision_id,
        kind: a.kind,
        body: a.body && typeof a.body === 'object' ? a.body : {},
        status: a.status,
        attempts: a.attempts,
        error: a.error,
        endReason: a.end_reason,
        createdAt: a.created_at,
        doneAt: a.done_at,
      })),
      outcomes: outcomes.map((o) => ({
        session: o.session,
        startedAt: o.started_at,
        endedAt: o.ended_at,
        outcome: o.outcome,
        resolution: o.resolution,
        reason: o.reason,
        agentTurns: o.agent_turns,
        firstReplyMs: o.first_reply_ms,
        llmCalls: o.llm_calls,
        promptTokens: int(o.prompt_tokens),
        completionTokens: int(o.completion_tokens),
        cachedTokens: int(o.cached_tokens),
        reopened: o.reopened,
      })),
      events: events.map((e) => ({
        id: e.id,
        type: e.type,
        idempotencyKey: e.idempotency_key,
        sentAt: e.sent_at,
        receivedAt: e.received_at,
        repaired: e.repaired,
      })),
    };
  }

  /**
   * The overview over the last `windowMs`, per agent: session outcomes ended in it (and the
   * conversations active now), decisions taken in it, webhook events received in it.
   */
  async overview(windowMs: number, agentId?: string): Promise<OverviewData> {
    const since = `now() - $1::bigint * interval '1 millisecond'`;
    const params = [windowMs, agentId ?? null];
    const q = (sql: string) => this.db.query(sql, params) as Promise<Row[]>;
    const [outcomes, active, decisions, reasons, guardrails, models, webhooks, outbox, calls] = await Promise.all([
      q(`SELECT agent_id,
                count(*) AS ended,
                count(*) FILTER (WHERE outcome = 'resolved') AS resolved,
                count(*) FILTER (WHERE resolution = 'confirmed') AS confirmed,
                count(*) FILTER (WHERE resolution = 'assumed') AS assumed,
                count(*) FILTER (WHERE outcome = 'handed_over') AS handed_over,
                count(*) FILTER (WHERE outcome = 'handed_back') AS handed_back,
                count(*) FILTER (WHERE outcome = 'handed_over' AND reason IN ('va_deadline', 'contact_timeout')) AS timed_out,
                count(*) FILTER (WHERE outcome = 'lost') AS lost,
                count(*) FILTER (WHERE reopened AND outcome = 'resolved') AS reopened,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY first_reply_ms) AS first_reply_p50,
                sum(llm_calls) AS llm_calls, sum(prompt_tokens) AS prompt_tokens,
                sum(completion_tokens) AS completion_tokens, sum(cached_tokens) AS cached_tokens
           FROM session_outcome_view
          WHERE ended_at >= ${since} AND ($2::text IS NULL OR agent_id = $2)
          GROUP BY agent_id`),
      // Active with activity in the window (one started and never written to stays active, and is not news);
      // conversations counted once, whether a session of theirs ended in the window, one is active, or both.
      q(`SELECT agent_id, count(*) FILTER (WHERE active) AS active, count(DISTINCT id) AS conversations FROM (
           SELECT id, agent_id, true AS active FROM conversations
            WHERE state = 'active' AND updated_at >= ${since} AND ($2::text IS NULL OR agent_id = $2)
           UNION ALL
           SELECT conversation_id, agent_id, false FROM session_outcomes
            WHERE ended_at >= ${since} AND ($2::text IS NULL OR agent_id = $2)) seen
          GROUP BY agent_id`),
      q(`SELECT c.agent_id, count(*) AS decisions, count(*) FILTER (WHERE d.failure IS NOT NULL) AS failures,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY d.latency_ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY d.latency_ms) AS p95
           FROM decisions d JOIN conversations c ON c.id = d.conversation_id
          WHERE d.created_at >= ${since} AND ($2::text IS NULL OR c.agent_id = $2)
          GROUP BY c.agent_id`),
      q(`SELECT agent_id, COALESCE(reason, '(none recorded)') AS reason, count(*) AS count FROM session_outcomes
          WHERE outcome = 'handed_over' AND ended_at >= ${since} AND ($2::text IS NULL OR agent_id = $2)
          GROUP BY 1, 2`),
      q(`SELECT c.agent_id, g.text, count(*) AS count
           FROM decisions d JOIN conversations c ON c.id = d.conversation_id
          CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(d.guardrails) = 'array' THEN d.guardrails ELSE '[]' END) AS g(text)
          WHERE d.created_at >= ${since} AND ($2::text IS NULL OR c.agent_id = $2)
          GROUP BY 1, 2`),
      q(`SELECT o.agent_id, m.key AS model,
                sum(COALESCE((m.value->>'prompt')::bigint, 0)) AS prompt_tokens,
                sum(COALESCE((m.value->>'completion')::bigint, 0)) AS completion_tokens,
                sum(COALESCE((m.value->>'cached')::bigint, 0)) AS cached_tokens
           FROM session_outcomes o
          CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(o.models) = 'object' THEN o.models ELSE '{}' END) AS m
          WHERE o.ended_at >= ${since} AND ($2::text IS NULL OR o.agent_id = $2)
          GROUP BY 1, 2`),
      q(`SELECT agent_id, type, count(*) AS count, count(*) FILTER (WHERE raw_body IS NOT NULL) AS repaired
           FROM webhook_events WHERE received_at >= ${since} AND ($2::text IS NULL OR agent_id = $2)
          GROUP BY 1, 2`),
      q(`SELECT c.agent_id, a.kind, a.status, count(*) AS count
           FROM actions a JOIN conversations c ON c.id = a.conversation_id
          WHERE a.created_at >= ${since} AND a.status IN ('failed', 'lost') AND ($2::text IS NULL OR c.agent_id = $2)
          GROUP BY 1, 2, 3`),
      q(`SELECT agent_id, action, status, count(*) AS count FROM action_calls
          WHERE created_at >= ${since} AND status NOT IN ('ok', 'started') AND ($2::text IS NULL OR agent_id = $2)
          GROUP BY 1, 2, 3`),
    ]);

    const agents = new Map<string, AgentNumbers>();
    const of = (id: string): AgentNumbers => {
      let a = agents.get(id);
      if (!a) {
        a = {
          agentId: id, ended: 0, active: 0, resolved: 0, confirmed: 0, assumed: 0, handedOver: 0, handedBack: 0, timedOut: 0, lost: 0, reopened: 0, conversations: 0,
          firstReplyP50: null, decisions: 0, llmFailures: 0, latencyP50: null, latencyP95: null, llmCalls: 0, promptTokens: 0,
          completionTokens: 0, cachedTokens: 0,
        };
        agents.set(id, a);
      }
      return a;
    };
    for (const r of outcomes) {
      Object.assign(of(r.agent_id), {
        ended: int(r.ended),
        resolved: int(r.resolved),
        confirmed: int(r.confirmed),
        assumed: int(r.assumed),
        handedOver: int(r.handed_over),
        handedBack: int(r.handed_back),
        timedOut: int(r.timed_out),
        lost: int(r.lost),
        reopened: int(r.reopened),
        firstReplyP50: numOrNull(r.first_reply_p50),
        llmCalls: int(r.llm_calls),
        promptTokens: int(r.prompt_tokens),
        completionTokens: int(r.completion_tokens),
        cachedTokens: int(r.cached_tokens),
      });
    }
    for (const r of active) Object.assign(of(r.agent_id), { active: int(r.active), conversations: int(r.conversations) });
    for (const r of decisions) {
      Object.assign(of(r.agent_id), { decisions: int(r.decisions), llmFailures: int(r.failures), latencyP50: numOrNull(r.p50), latencyP95: numOrNull(r.p95) });
    }
    const known = new Set<string>(EVENT_TYPES);
    return {
      agents: [...agents.values()].sort((a, b) => a.agentId.localeCompare(b.agentId)),
      reasons: reasons.map((r) => ({ agentId: r.agent_id, reason: r.reason, count: int(r.count) })),
      guardrails: guardrails.map((r) => ({ agentId: r.agent_id, text: r.text, count: int(r.count) })),
      models: models.map((r) => ({
        agentId: r.agent_id,
        model: r.model,
        promptTokens: int(r.prompt_tokens),
        completionTokens: int(r.completion_tokens),
        cachedTokens: int(r.cached_tokens),
      })),
      webhooks: webhooks.map((r) => ({ agentId: r.agent_id, type: r.type, known: known.has(r.type), count: int(r.count), repaired: int(r.repaired) })),
      outboxFailures: outbox.map((r) => ({ agentId: r.agent_id, kind: r.kind, status: r.status, count: int(r.count) })),
      actionCallFailures: calls.map((r) => ({ agentId: r.agent_id, action: r.action, status: r.status, count: int(r.count) })),
    };
  }
}
