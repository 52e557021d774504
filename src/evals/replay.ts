import type pg from 'pg';
import { contextFromSnapshot, guardrailInputs, promptHashes, type ContextSnapshot, type IdentifiedContext } from '../agent/context-snapshot.js';
import type { DecisionEngine } from '../agent/decision.engine.js';
import type { TranscriptEntry } from '../agent/decision.js';
import { buildDecisionPrompt, type PromptKind } from '../agent/prompt.builder.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { sumUsage } from '../llm/llm.client.js';
import type { EvalAction } from './case.schema.js';
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

export interface ReplayedDecision {
  action: EvalAction;
  message: string;
  topics: string[];
  attributes: Record<string, string>;
  reason: string;
  guardrails: string[];
  failure: string | null;
}

export type Change = 'action' | 'topics' | 'attributes';

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
      then: { action: r.action, message: r.message, topics: r.topics, attributes: r.contact_attributes, reason: r.reason, guardrails: r.guardrails, failure: r.failure },
      context: r.context,
      contextHash: r.context_hash,
      promptHash: r.prompt_hash,
    }),
  );
  return { turns: turns.filter((t) => t.context !== null), withoutSnapshot: turns.filter((t) => t.context === null).length };
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
    const hashes = promptHashes(buildDecisionPrompt(asThen, context, turn.kind), guardrailInputs(context, turn.kind));
    // An edited file without knowledge decides without the excerpts; one that adds it has none stored
    // for this turn (the turn searched nothing), which docs/evals.md states as a limit.
    if (!agent.knowledge) delete context.knowledge;
    // The prompt the edited file builds: the same one unless it dropped the agent's knowledge.
    const now = asThen.knowledge === agent.knowledge ? hashes : promptHashes(buildDecisionPrompt(agent, context, turn.kind), guardrailInputs(context, turn.kind));
    Object.assign(row, { context, missingMessages: missing, contextExact: missing.length === 0 && hashes.context === turn.contextHash, promptChanged: now.prompt !== turn.promptHash });
    if (missing.length) return { ...row, skipped: `${missing.length} message(s) of its window are no longer stored` };
    if (!row.contextExact) return { ...row, skipped: 'the rebuilt input does not hash to what the turn had (a stored message or its context changed since)' };

    const outcome = await engine.decide(agent, context, { kind: turn.kind });
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
    };
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
    transitions,
    llmFailures: replayed.filter((r) => r.now!.failure).length,
    unavailable: rows.filter((r) => r.now && r.skipped).length,
    tokens,
    costUsd: priced.length ? priced.reduce((sum, r) => sum + r.costUsd!, 0) : null,
  };
}
