import type pg from 'pg';
import { describeCall, noAnswer, reportedOutcome, type ActionCallStatus, type ActionCallSummary, type ActionPort } from '../actions/action.port.js';
import { contextFromSnapshot, type ContextSnapshot, type IdentifiedContext } from '../agent/context-snapshot.js';
import { decisionPromptHashes, type DecisionEngine } from '../agent/decision.engine.js';
import type { TranscriptEntry } from '../agent/decision.js';
import type { PromptKind } from '../agent/prompt.builder.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { sumUsage } from '../llm/llm.client.js';
import type { EvalAction } from './case.schema.js';
import { canonicalJson, madeCall } from './fixture-actions.js';
import { percentile } from './metrics.js';
import { costOf } from './score.js';
import type { PriceTable, Usage } from './types.js';

/** A decision as it was stored: what the agent did then, and what it saw. */
export interface StoredTurn {
  decisionId: string;
  conversationId: string;
  inboxConversationId: string;
  session: number;
  kind: PromptKind;
  createdAt: string;
  /** What was decided then. */
  then: ReplayedDecision;
  context: ContextSnapshot | null;
  contextHash: string | null;
  promptHash: string | null;
}

/** A call as a replay report shows it, then (from `action_calls`) or now (as the replayed decision asked it). */
export type ReplayCall = Omit<ActionCallSummary, 'id'>;

export interface ReplayedDecision {
  action: EvalAction;
  message: string;
  topics: string[];
  attributes: Record<string, string>;
  reason: string;
  guardrails: string[];
  failure: string | null;
  /** The action calls asked for, in order, refused ones included. */
  calls: ReplayCall[];
}

export type Change = 'action' | 'topics' | 'attributes' | 'calls';

/** One replayed turn; a line of results.jsonl. */
export interface ReplayRow {
  decisionId: string;
  conversationId: string;
  inboxConversationId: string;
  createdAt: string;
  kind: PromptKind;
  /** The rebuilt conversation part of the prompt hashes to what the turn sent: it saw exactly this. */
  contextExact: boolean;
  /** The whole prompt differs from the one sent then: the agent's instructions changed since. */
  promptChanged: boolean;
  /** Message ids of the window no longer stored; the turn was then not decided again. */
  missingMessages: string[];
  /** Why the turn was not decided again (or its answer not compared); null when it was. */
  skipped: string | null;
  then: ReplayedDecision;
  now: ReplayedDecision | null;
  changes: Change[];
  /** Calls the replayed decision made that the turn had not recorded: answered "not recorded", never made. */
  unrecordedCalls: number;
  latencyMs: number;
  usage: Usage;
  costUsd: number | null;
  /** The context as rebuilt, for `--export-cases`. */
  context: IdentifiedContext;
}

export interface ReplayTotals {
  turns: number;
  replayed: number;
  exact: number;
  notExact: number;
  /** Decisions stored before contexts were (migration 1764000000004): nothing to rebuild them from. */
  withoutSnapshot: number;
  promptChanged: number;
  changed: number;
  actionChanged: number;
  topicsChanged: number;
  attributesChanged: number;
  /** The calls made (which actions, with which arguments) differ from the ones the turn made. */
  callsChanged: number;
  /** Turns decided again that asked for calls the turn had not recorded, and how many such calls. */
  unrecorded: { turns: number; calls: number };
  /** Per action: calls the turns recorded (with their live latency) and calls the replay asked for. */
  actionCalls: Record<string, { then: number; now: number; notRecorded: number; latencyMsThen: { p50: number | null; p95: number | null; max: number | null } }>;
  /** "reply → handover": 3 */
  transitions: Record<string, number>;
  llmFailures: number;
  /** Turns the LLM endpoint did not answer on replay (down, refusing the key, rate limiting): not compared. */
  unavailable: number;
  tokens: Usage;
  costUsd: number | null;
}

/**
 * The agent's stored turns, oldest first: the newest `limit` decisions since `since`. Read-only:
 * the caller's connection is set to refuse writes.
 */
export async function storedTurns(db: pg.ClientBase, agentId: string, since: Date, limit: number): Promise<{ turns: StoredTurn[]; withoutSnapshot: number }> {
  const { rows } = await db.query(
    `SELECT d.id::text AS decision_id, d.conversation_id, c.inbox_conversation_id, d.session, d.kind, d.created_at,
            d.action, d.message, d.topics, d.contact_attributes, d.reason, d.guardrails, d.failure,
            d.context, d.context_hash, d.prompt_hash
       FROM decisions d JOIN conversations c ON c.id = d.conversation_id
      WHERE c.agent_id = $1 AND d.created_at >= $2
      ORDER BY d.id DESC
      LIMIT $3`,
    [agentId, since, limit],
  );
  const turns = rows.reverse().map(
    (r): StoredTurn => ({
      decisionId: r.decision_id,
      conversationId: r.conversation_id,
      inboxConversationId: r.inbox_conversation_id,
      session: r.session,
      kind: r.kind,
      createdAt: new Date(r.created_at).toISOString(),
      then: { action: r.action, message: r.message, topics: r.topics, attributes: r.contact_attributes, reason: r.reason, guardrails: r.guardrails, failure: r.failure, calls: [] },
      context: r.context,
      contextHash: r.context_hash,
      promptHash: r.prompt_hash,
    }),
  );
  const calls = await storedCalls(db, turns.map((t) => t.decisionId));
  for (const t of turns) t.then.calls = calls.get(t.decisionId) ?? [];
  return { turns: turns.filter((t) => t.context !== null), withoutSnapshot: turns.filter((t) => t.context === null).length };
}

/**
 * The calls each decision made or had refused, in order, from `action_calls` (migration
 * 1764000000006). A call whose start was recorded and its outcome never was is `unknown`.
 */
export async function storedCalls(db: pg.ClientBase, decisionIds: string[]): Promise<Map<string, ReplayCall[]>> {
  const byDecision = new Map<string, ReplayCall[]>();
  if (decisionIds.length === 0) return byDecision;
  let rows;
  try {
    ({ rows } = await db.query(
      `SELECT decision_id::text, action, arguments, status, http_status, latency_ms, result, error
         FROM action_calls WHERE decision_id = ANY($1::bigint[]) ORDER BY id`,
      [decisionIds],
    ));
  } catch (err) {
    // A database of a bridge from before actions: its turns made no call.
    if ((err as { code?: string }).code === '42P01') return byDecision;
    throw err;
  }
  for (const r of rows) {
    const status: ActionCallStatus = r.status === 'started' ? 'unknown' : r.status;
    const call = { name: r.action, args: r.arguments, status, httpStatus: r.http_status, result: r.result, error: r.status === 'started' ? 'the turn recorded its start and no outcome' : r.error, latencyMs: r.latency_ms ?? 0 };
    const list = byDecision.get(r.decision_id) ?? [];
    list.push({ ...call, line: describeCall(call) });
    byDecision.set(r.decision_id, list);
  }
  return byDecision;
}

/** What the replayed decision reads for a call the turn did not make: replay never calls out. */
export const NOT_RECORDED = 'not recorded in the original turn; replay makes no calls';

const unrecorded = (c: Pick<ReplayCall, 'status' | 'error'>) => c.status === 'skipped' && c.error === NOT_RECORDED;

/**
 * The port of a replayed turn: a call with the same action and arguments (key order ignored) as
 * one the turn made gets that call's recorded outcome; the same call asked twice gets the next
 * record, then the last one again. Anything else is `skipped`: replay makes no request.
 */
export function recordedPort(recorded: readonly ReplayCall[]): ActionPort {
  const made = recorded.filter(madeCall);
  const used = new Set<ReplayCall>();
  return {
    call: async (_agent, request) => {
      if (request.refused !== null) return noAnswer('refused', request.refused);
      const key = canonicalJson(request.args ?? {});
      const same = made.filter((c) => c.name === request.action.name && canonicalJson(c.args ?? {}) === key);
      const record = same.find((c) => !used.has(c)) ?? same.at(-1);
      if (!record) return noAnswer('skipped', NOT_RECORDED);
      used.add(record);
      const { status, httpStatus, result, error, latencyMs } = record;
      return reportedOutcome(request.action, { status, httpStatus, result, error, latencyMs, resultBytes: result ? Buffer.byteLength(JSON.stringify(result)) : 0 });
    },
  };
}


/** The stored messages with these ids. */
export async function storedMessages(db: pg.ClientBase, ids: string[]): Promise<Map<string, Pick<TranscriptEntry, 'direction' | 'text' | 'payload'>>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query(`SELECT id::text, direction, text, payload FROM messages WHERE id = ANY($1::bigint[])`, [ids]);
  return new Map(rows.map((r) => [r.id, { direction: r.direction, text: r.text, payload: r.payload }]));
}

/**
 * Decides a stored turn again with `agent` (the current or an edited configuration) on the context
 * rebuilt from its snapshot, and says what changed. Only a turn whose input is rebuilt exactly is
 * decided again: one whose messages are gone or changed, or whose snapshot this version cannot
 * read, is reported with why, never decided on a different input and counted as a change.
 */
export async function replayTurn(
  engine: DecisionEngine,
  agent: AgentConfig,
  turn: StoredTurn,
  messages: ReadonlyMap<string, Pick<TranscriptEntry, 'direction' | 'text' | 'payload'>>,
  prices: PriceTable,
): Promise<ReplayRow> {
  const row: ReplayRow = {
    decisionId: turn.decisionId,
    conversationId: turn.conversationId,
    inboxConversationId: turn.inboxConversationId,
    createdAt: turn.createdAt,
    kind: turn.kind,
    contextExact: false,
    promptChanged: false,
    missingMessages: [],
    skipped: null,
    then: turn.then,
    now: null,
    changes: [],
    unrecordedCalls: 0,
    latencyMs: 0,
    usage: { promptTokens: 0, completionTokens: 0, cachedTokens: 0 },
    costUsd: null,
    context: { mode: agent.mode, language: null, contactProfile: null, contactAttributes: [], summary: null, agentTurns: 0, transcript: [] },
  };
  try {
    if (turn.context?.v !== 1) return { ...row, skipped: `its stored context has version ${String(turn.context?.v)}, which this version cannot read` };
    const { context, missing } = contextFromSnapshot(turn.context, messages);
    // The excerpts message exists for an agent with knowledge: proven as the turn had it, whatever the edited file says.
    const asThen = { ...agent, knowledge: context.knowledge ? (agent.knowledge ?? ({} as NonNullable<AgentConfig['knowledge']>)) : undefined };
    // As the engine hashes them: the prompt as sent (redacted), the context as stored.
    const hashes = decisionPromptHashes(asThen, context, turn.kind);
    // An edited file without knowledge decides without the excerpts; one that adds it has none stored
    // for this turn (the turn searched nothing), which docs/evals.md states as a limit.
    if (!agent.knowledge) delete context.knowledge;
    // The prompt the edited file builds: the same one unless it dropped the agent's knowledge.
    const now = asThen.knowledge === agent.knowledge ? hashes : decisionPromptHashes(agent, context, turn.kind);
    Object.assign(row, { context, missingMessages: missing, contextExact: missing.length === 0 && hashes.context === turn.contextHash, promptChanged: now.prompt !== turn.promptHash });
    if (missing.length) return { ...row, skipped: `${missing.length} message(s) of its window are no longer stored` };
    if (!row.contextExact) return { ...row, skipped: 'the rebuilt input does not hash to what the turn had (a stored message or its context changed since)' };

    const outcome = await engine.decide(agent, context, { kind: turn.kind, actions: recordedPort(turn.then.calls) });
    const d = outcome.decision;
    row.now = {
      action: d.action,
      // As stored: the decision's own message, not the canned handover line sent in its place.
      message: d.message,
      topics: d.topics,
      attributes: d.contactAttributes,
      reason: d.reason,
      guardrails: outcome.guardrails,
      failure: outcome.failure,
      calls: outcome.actionCalls.map(({ id: _id, ...call }) => call),
    };
    row.unrecordedCalls = outcome.actionCalls.filter(unrecorded).length;
    row.latencyMs = outcome.latencyMs;
    row.usage = { ...outcome.usage };
    row.costUsd = costOf(outcome.model, outcome.usage, prices);
    row.changes = outcome.unavailable ? [] : changesBetween(turn.then, row.now);
    if (outcome.unavailable) row.skipped = `the LLM endpoint gave no answer (${outcome.failure})`;
    return row;
  } catch (err) {
    // One unreadable turn must not cost the report of the others.
    return { ...row, now: null, changes: [], skipped: `could not be replayed: ${(err as Error)?.message ?? String(err)}` };
  }
}

export function changesBetween(then: ReplayedDecision, now: ReplayedDecision): Change[] {
  const changes: Change[] = [];
  if (then.action !== now.action) changes.push('action');
  const set = (topics: string[]) => JSON.stringify([...new Set(topics.map((t) => t.toLowerCase()))].sort());
  if (set(then.topics) !== set(now.topics)) changes.push('topics');
  const map = (a: Record<string, string>) => JSON.stringify(Object.entries(a).sort(([x], [y]) => x.localeCompare(y)));
  if (map(then.attributes) !== map(now.attributes)) changes.push('attributes');
  // The calls made, as a sorted list: the same lookups in another order are no change.
  const calls = (d: ReplayedDecision) => JSON.stringify((d.calls ?? []).filter(madeCall).map((c) => `${c.name}${canonicalJson(c.args ?? {})}`).sort());
  if (calls(then) !== calls(now)) changes.push('calls');
  return changes;
}

export function replayTotals(rows: ReplayRow[], withoutSnapshot: number): ReplayTotals {
  const replayed = rows.filter((r) => r.now && !r.skipped);
  const transitions: Record<string, number> = {};
  for (const r of replayed) {
    if (r.changes.includes('action')) {
      const key = `${r.then.action} → ${r.now!.action}`;
      transitions[key] = (transitions[key] ?? 0) + 1;
    }
  }
  const tokens = sumUsage(replayed.map((r) => r.usage));
  const priced = replayed.filter((r) => r.costUsd !== null);
  return {
    turns: rows.length + withoutSnapshot,
    replayed: replayed.length,
    exact: rows.filter((r) => r.contextExact).length,
    notExact: rows.filter((r) => !r.contextExact).length,
    withoutSnapshot,
    promptChanged: rows.filter((r) => r.promptChanged).length,
    changed: replayed.filter((r) => r.changes.length > 0).length,
    actionChanged: replayed.filter((r) => r.changes.includes('action')).length,
    topicsChanged: replayed.filter((r) => r.changes.includes('topics')).length,
    attributesChanged: replayed.filter((r) => r.changes.includes('attributes')).length,
    callsChanged: replayed.filter((r) => r.changes.includes('calls')).length,
    unrecorded: { turns: replayed.filter((r) => r.unrecordedCalls > 0).length, calls: replayed.reduce((n, r) => n + r.unrecordedCalls, 0) },
    actionCalls: replayCallStats(rows),
    transitions,
    llmFailures: replayed.filter((r) => r.now!.failure).length,
    unavailable: rows.filter((r) => r.now && r.skipped).length,
    tokens,
    costUsd: priced.length ? priced.reduce((sum, r) => sum + r.costUsd!, 0) : null,
  };
}

function replayCallStats(rows: ReplayRow[]): ReplayTotals['actionCalls'] {
  const names = new Set(rows.flatMap((r) => [...r.then.calls, ...(r.now?.calls ?? [])].map((c) => c.name)));
  const stats = [...names].sort().map((name) => {
    const then = rows.flatMap((r) => r.then.calls.filter((c) => c.name === name));
    const now = rows.flatMap((r) => (r.now?.calls ?? []).filter((c) => c.name === name));
    const latencies = then.filter(madeCall).map((c) => c.latencyMs).sort((a, b) => a - b);
    return [
      name,
      {
        then: then.length,
        now: now.length,
        notRecorded: now.filter(unrecorded).length,
        latencyMsThen: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies.at(-1) ?? null },
      },
    ] as const;
  });
  return Object.fromEntries(stats);
}
