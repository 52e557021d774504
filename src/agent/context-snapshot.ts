import { createHash } from 'node:crypto';
import type { ChatMessage } from '../llm/llm.client.js';
import type { RetrievedChunk } from '../knowledge/retrieval.js';
import type { Availability } from '../policy/availability.js';
import type { ConversationContext, TranscriptEntry } from './decision.js';

/**
 * What a decision saw, stored with it (decisions.context) so that replay can decide the same turn
 * again: everything of the context but the message texts, which stay in `messages` and are
 * referred to by id. The summary and attributes are copied because the conversation's own columns
 * move on after the turn.
 */
export interface ContextSnapshot {
  v: 1;
  mode: ConversationContext['mode'];
  language: string | null;
  contactProfile: Record<string, unknown> | null;
  contactAttributes: Array<{ attribute: string; value: string }>;
  summary: string | null;
  agentTurns: number;
  channel: Record<string, unknown> | null;
  medium: Record<string, unknown> | null;
  messages: Array<{ id: string; pending: boolean }>;
  /** The chunks retrieved for the turn, as shown (articles are re-synced: a copy, not a reference). */
  knowledge?: RetrievedChunk[];
  knowledgeFailure?: string;
  /** Whether people were available, as the turn decided it (absent before business hours existed, and for agents without them). */
  availability?: Availability;
}

export type IdentifiedEntry = TranscriptEntry & { id: string };
/** A context whose messages carry their stored ids. */
export type IdentifiedContext = Omit<ConversationContext, 'transcript'> & { transcript: IdentifiedEntry[] };

export function snapshotOf(ctx: IdentifiedContext): ContextSnapshot {
  return {
    v: 1,
    mode: ctx.mode,
    language: ctx.language,
    contactProfile: ctx.contactProfile,
    contactAttributes: ctx.contactAttributes,
    summary: ctx.summary,
    agentTurns: ctx.agentTurns,
    channel: ctx.channel ?? null,
    medium: ctx.medium ?? null,
    messages: ctx.transcript.map((e) => ({ id: e.id, pending: e.pending === true })),
    ...(ctx.knowledge ? { knowledge: ctx.knowledge } : {}),
    ...(ctx.knowledgeFailure ? { knowledgeFailure: ctx.knowledgeFailure } : {}),
    ...(ctx.availability ? { availability: ctx.availability } : {}),
  };
}

/**
 * The context again, from a snapshot and the stored messages; `missing` lists the ids no longer
 * stored (deleted with their conversation, or by retention): the rebuild is then not exact.
 */
export function contextFromSnapshot(
  snapshot: ContextSnapshot,
  messages: ReadonlyMap<string, Pick<TranscriptEntry, 'direction' | 'text' | 'payload'>>,
): { context: IdentifiedContext; missing: string[] } {
  const missing: string[] = [];
  const transcript: IdentifiedEntry[] = [];
  for (const { id, pending } of snapshot.messages) {
    const m = messages.get(id);
    if (!m) missing.push(id);
    else transcript.push({ id, direction: m.direction, text: m.text, payload: m.payload, pending: m.direction === 'inbound' && pending });
  }
  return {
    context: {
      mode: snapshot.mode,
      language: snapshot.language,
      contactProfile: snapshot.contactProfile,
      contactAttributes: snapshot.contactAttributes,
      summary: snapshot.summary,
      agentTurns: snapshot.agentTurns,
      channel: snapshot.channel,
      medium: snapshot.medium,
      transcript,
      ...(snapshot.knowledge ? { knowledge: snapshot.knowledge } : {}),
      ...(snapshot.knowledgeFailure ? { knowledgeFailure: snapshot.knowledgeFailure } : {}),
      ...(snapshot.availability ? { availability: snapshot.availability } : {}),
    },
    missing,
  };
}

/** What the guardrails read besides the prompt: which messages are answered, the turns taken, the kind of turn. */
export function guardrailInputs(ctx: Pick<ConversationContext, 'transcript' | 'agentTurns' | 'knowledgeFailure'>, kind: string): string {
  const inputs: Record<string, unknown> = { kind, agentTurns: ctx.agentTurns, pending: ctx.transcript.map((e) => e.pending === true) };
  if (ctx.knowledgeFailure) inputs.knowledgeFailure = true;
  return JSON.stringify(inputs);
}

/**
 * `prompt`: the whole prompt; it changes when the agent's instructions do. `context`: the prompt
 * less its first message (the agent's stable instructions), plus what the guardrails read, so the
 * same for every version of the agents file: equal hashes prove a replay decides on exactly the
 * input the turn had.
 */
export function promptHashes(prompt: ChatMessage[], guardrails: string): { prompt: string; context: string } {
  return { prompt: hash(prompt, ''), context: hash(prompt.slice(1), guardrails) };
}

function hash(messages: ChatMessage[], extra: string): string {
  const h = createHash('sha256');
  for (const m of messages) h.update(`${m.role}\u0000${m.content}\u0000`);
  h.update(extra);
  return h.digest('hex');
}
