import type { IdentifiedContext } from '../agent/context-snapshot.js';
import type { ConversationContext, TranscriptEntry } from '../agent/decision.js';
import type { AgentConfig } from '../config/agents.schema.js';
import type { Conversation, Message } from './conversation.types.js';

/**
 * At most this many unanswered contact messages go into one turn; a flood beyond it is answered by
 * the next turn. Far above any real burst, it only bounds the prompt.
 */
export const MAX_PENDING_PER_TURN = 50;

export function toEntry(m: Message): TranscriptEntry & { id: string } {
  return { id: m.id, direction: m.direction, text: m.text, payload: m.payload, pending: m.direction === 'inbound' && m.handledAt === null };
}

/**
 * The messages a turn shows the LLM: the last `historyWindow` messages, reaching further back when
 * more contact messages than that are unanswered, so that every message the turn answers (and marks
 * handled) was seen by the LLM and by the human-request guardrail.
 */
export function turnWindow<T extends Pick<Message, 'direction' | 'handledAt'>>(agent: AgentConfig, transcript: T[]): T[] {
  const pending = transcript.filter((m) => m.direction === 'inbound' && m.handledAt === null).slice(0, MAX_PENDING_PER_TURN);
  let start = Math.max(0, transcript.length - agent.limits.historyWindow);
  if (pending.length) start = Math.min(start, transcript.indexOf(pending[0]));
  const end = pending.length ? Math.max(transcript.indexOf(pending.at(-1)!) + 1, Math.min(transcript.length, start + agent.limits.historyWindow)) : transcript.length;
  return transcript.slice(start, end);
}

/** What the engine sees: the running summary plus the turn's window of recent messages. */
export function contextFor(agent: AgentConfig, conversation: Conversation, transcript: Message[]): IdentifiedContext {
  return {
    mode: conversation.mode,
    language: conversation.language,
    contactProfile: conversation.contactProfile,
    contactAttributes: conversation.contactAttributes,
    channel: conversation.channel,
    medium: conversation.medium,
    summary: conversation.summary,
    // Until the next summary step folds them, older messages simply drop out of the window.
    transcript: turnWindow(agent, transcript).map(toEntry),
    agentTurns: conversation.agentTurns,
  };
}
