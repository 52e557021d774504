import type { DecisionOutcome } from '../agent/decision.engine.js';
import type { ConversationContext, Decision } from '../agent/decision.js';
import type { AgentConfig } from '../config/agents.schema.js';
import type { ManipulateConversation } from '../inbox/inbox.schemas.js';
import type { Conversation } from './conversation.types.js';
import type { CannedSend, Delivered } from './state-machine.js';
import type { EndReason } from '../agent/handover-reasons.js';

type NoteWriter = (why: string, llmNote?: string) => string;

/** The platform never overwrites an attribute that has a value: only the new ones are sent. */
export function freshAttributes(attributes: Record<string, string>, knownKeys: Iterable<string>): Record<string, string> {
  const known = new Set(knownKeys);
  return Object.fromEntries(Object.entries(attributes).filter(([key]) => !known.has(key)));
}

/** What the contact reads after a decision: a handover without a message of its own sends the agent's. */
export function contactMessage(agent: AgentConfig, d: Pick<Decision, 'action' | 'message'>): string {
  return d.action === 'handover' ? d.message || agent.messages.handover : d.message;
}

/** One manipulate call carries the whole decision: message, topics, attributes, note and completion. */
/** One outbox call: what it carries, and, for a call that ends the session, why (session_outcomes). */
export interface PlannedCall {
  kind: Delivered;
  body: ManipulateConversation;
  endReason?: EndReason;
}

export function decisionCall(agent: AgentConfig, conversation: Conversation, outcome: DecisionOutcome, note: NoteWriter): PlannedCall {
  const d = outcome.decision;
  const body: ManipulateConversation = {};
  const message = contactMessage(agent, d);
  if (message) body.sendMessage = { text: message };
  if (d.topics.length) body.applyTopics = d.topics;
  const fresh = freshAttributes(d.contactAttributes, conversation.contactAttributes.map((a) => a.attribute));
  if (Object.keys(fresh).length) body.setContactAttributes = fresh;
  if (d.action === 'handover') {
    const why = outcome.failure
      ? `the LLM failed (${outcome.failure})`
      : outcome.forcedHandover && !outcome.proposed
        ? outcome.forcedHandover // a policy decided before any LLM request
        : outcome.forcedHandover
        ? `${outcome.forcedHandover} (the LLM wanted to ${outcome.proposed?.action ?? 'reply'}: ${d.reason || 'no reason given'})`
        : d.reason || 'the agent decided to hand over';
    body.applyConversationNotes = [{ text: note(why, d.handoverNote) }];
    body.complete = 'HANDOVER';
  }
  if (d.action === 'resolve') body.complete = 'RESOLVED';
  // A handover without a reason is a Delegation agent handing back a finished task.
  const endReason: EndReason | undefined = d.action === 'resolve' ? 'confirmed' : d.action === 'handover' ? d.handoverReason : undefined;
  // An opening is a question, except when a policy hands it over before any LLM request (a spent budget).
  return { kind: outcome.kind === 'opening' && d.action === 'reply' ? 'opening' : d.action, body, ...(endReason ? { endReason } : {}) };
}

/**
 * The calls the bridge makes on its own, from the agent's configured messages. `why` is said in the
 * fallback's note: the call the platform refused.
 */
export function cannedCall(agent: AgentConfig, send: CannedSend, note: NoteWriter, why = ''): PlannedCall {
  const m = agent.messages;
  const topic = agent.timeouts.timeoutTopic ? { applyTopics: [agent.timeouts.timeoutTopic] } : {};
  switch (send.what) {
    case 'greeting':
      return { kind: 'greeting', body: { sendMessage: { text: m.greeting } } };
    case 'nudge':
      return { kind: 'nudge', body: { sendMessage: { text: m.nudge } } };
    case 'vaTimeout':
      return {
        kind: 'handover',
        endReason: 'va_deadline',
        body: {
          sendMessage: { text: m.error },
          applyConversationNotes: [{ text: note(`no answer was ready before the virtual-agent deadline (${agent.timeouts.virtualAgent / 1000}s, minus a ${agent.timeouts.virtualAgentMargin / 1000}s margin)`) }],
          complete: 'HANDOVER',
        },
      };
    case 'fallback':
      // Nothing the platform could refuse again: no message to the contact, no topic, only the note.
      return { kind: 'fallback', endReason: 'tool_failure', body: { applyConversationNotes: [{ text: note(why || 'the platform refused a call') }], complete: 'HANDOVER' } };
    case 'contactTimeout':
      return send.complete === 'RESOLVED'
        ? { kind: 'resolve', endReason: 'assumed', body: { sendMessage: { text: m.contactTimeout }, ...topic, complete: 'RESOLVED' } }
        : {
            kind: 'handover',
            endReason: 'contact_timeout',
            body: {
              sendMessage: { text: m.handover },
              ...topic,
              applyConversationNotes: [{ text: note(`the contact did not answer within ${agent.timeouts.contact / 1000}s`) }],
              complete: 'HANDOVER',
            },
          };
  }
}

export type { ConversationContext };
