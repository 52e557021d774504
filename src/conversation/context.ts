import type { ConversationContext, TranscriptEntry } from '../agent/decision.js';
import type { AgentConfig } from '../config/agents.schema.js';
import type { ConversationRow, MessageRow } from './conversation.repository.js';

export function toEntry(m: MessageRow): TranscriptEntry & { id: string } {
  return { id: m.id, direction: m.direction, text: m.text, payload: m.payload, pending: m.direction === 'inbound' && m.handled_at === null };
}

/** What the engine sees: the running summary plus at most `historyWindow` recent messages. */
export function contextFor(agent: AgentConfig, conversation: ConversationRow, transcript: MessageRow[]): ConversationContext {
  return {
    mode: conversation.mode,
    language: conversation.language,
    contactProfile: conversation.contact_profile,
    contactAttributes: conversation.contact_attributes ?? [],
    channel: conversation.channel,
    medium: conversation.medium,
    summary: conversation.summary,
    // Until the next summary step folds them, older messages simply drop out of the window.
    transcript: transcript.slice(-agent.limits.historyWindow).map(toEntry),
    agentTurns: conversation.agent_turns,
  };
}
