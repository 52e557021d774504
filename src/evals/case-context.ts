import type { ConversationContext, TranscriptEntry } from '../agent/decision.js';
import type { PromptKind } from '../agent/prompt.builder.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { turnWindow } from '../conversation/context.js';
import type { CaseEntry, EvalCase } from './case.schema.js';
import { availabilityAt } from '../policy/availability.js';

/** A case's transcript as the bridge stores it: by default the contact messages after the agent's last one are pending. */
export function caseTranscript(entries: CaseEntry[]): TranscriptEntry[] {
  const lastAgent = entries.findLastIndex((e) => 'agent' in e);
  return entries.map((e, i) =>
    'agent' in e
      ? { direction: 'outbound', text: e.agent, payload: null }
      : { direction: 'inbound', text: e.contact, payload: null, pending: e.pending ?? i > lastAgent },
  );
}

/**
 * The context a live turn would build for this conversation state: the same window rule
 * (conversation/context.ts), the contact's name and known attributes, the running summary.
 */
export function caseContext(agent: AgentConfig, c: Pick<EvalCase, 'contactName' | 'contactAttributes' | 'summary' | 'agentTurns'> & { language?: string; at?: string }, transcript: TranscriptEntry[]): ConversationContext {
  const asStored = transcript.map((e) => ({ ...e, handledAt: e.direction === 'inbound' && e.pending ? null : new Date(0) }));
  const availability = c.at ? availabilityAt(agent.businessHours, new Date(c.at)) : undefined;
  return {
    ...(availability ? { availability } : {}),
    mode: agent.mode,
    language: c.language ?? null,
    contactProfile: c.contactName ? { primaryIdentifier: c.contactName } : null,
    contactAttributes: Object.entries(c.contactAttributes).map(([attribute, value]) => ({ attribute, value })),
    summary: c.summary ?? null,
    transcript: turnWindow(agent, asStored).map(({ handledAt: _handled, ...e }) => e),
    agentTurns: c.agentTurns ?? defaultAgentTurns(agent, transcript),
    channel: null,
    medium: null,
  };
}

/** The agent's messages, less a Delegation agent's opening question, which production does not count as a turn. */
function defaultAgentTurns(agent: AgentConfig, transcript: TranscriptEntry[]): number {
  const said = transcript.filter((e) => e.direction === 'outbound').length;
  return agent.mode === 'delegation' && transcript[0]?.direction === 'outbound' ? said - 1 : said;
}

/** A Delegation agent speaks first: with nothing from the contact yet, the turn is its opening question. */
export function caseKind(agent: AgentConfig, transcript: TranscriptEntry[]): PromptKind | { error: string } {
  if (transcript.some((e) => e.direction === 'inbound' && e.pending)) return 'turn';
  if (agent.mode === 'delegation' && transcript.length === 0) return 'opening';
  return {
    error:
      transcript.length === 0
        ? `agent "${agent.id}" is an Inception agent: its cases need a contact message to decide`
        : 'no contact message is pending: nothing for the turn to answer',
  };
}
