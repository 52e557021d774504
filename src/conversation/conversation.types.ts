export type ConversationMode = 'inception' | 'delegation';
export type ConversationState = 'active' | 'handed_over' | 'resolved' | 'lost';
/** The event that opened the current session; `message` until the late opening event arrives. */
export type OpenedBy = 'started' | 'delegated' | 'message';

export interface ContactAttribute {
  attribute: string;
  value: string;
  source?: string;
}

/** A conversation as services see it: camelCase, mapped at the repository edge. */
export interface Conversation {
  id: string;
  agentId: string;
  inboxConversationId: string;
  mode: ConversationMode;
  state: ConversationState;
  openedBy: OpenedBy;
  session: number;
  contactProfile: Record<string, unknown> | null;
  contactAttributes: ContactAttribute[];
  language: string | null;
  channel: Record<string, unknown> | null;
  medium: Record<string, unknown> | null;
  agentTurns: number;
  summary: string | null;
  summarizedThrough: string | null;
  vaDeadlineAt: Date | null;
  firstQuestionAt: Date | null;
  nudgeAt: Date | null;
  contactDeadlineAt: Date | null;
  nextDeadlineAt: Date | null;
}

export interface Message {
  id: string;
  direction: 'inbound' | 'outbound';
  text: string | null;
  payload: string | null;
  inboxMessageId: string | null;
  handledAt: Date | null;
}

/** Whether the contact is waiting for an answer, and whether the agent has said anything this session. */
export interface Exchange {
  unanswered: boolean;
  outboundThisSession: boolean;
}
