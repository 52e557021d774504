/**
 * The rules of a conversation, in one pure function: (state, input) → (state, effects).
 * No I/O here; the repositories turn effects into rows (the intake statement is even compiled from
 * this function's answers), and the services turn them into jobs and REST calls.
 *
 * Inception: CONVERSATION_STARTED opens it; each contact message asks for a turn and starts the VA
 * deadline (the platform's "Timeout virtual agent", minus a margin). A delivered reply stops that
 * clock and starts the contact's (an optional nudge, then the contact deadline). A delivered
 * resolve or handover ends it. A 404 from the platform means a human (or the platform) has it: lost.
 *
 * Delegation: CONVERSATION_DELEGATED opens it (again) and asks at once for an opening question; if
 * none has gone out by the first-question deadline, the configured greeting goes instead. From then
 * on it behaves as Inception. A handover returns it per the platform's handoff rule.
 *
 * Deliveries arrive out of order (retries, several web replicas), so the rules cover it: a contact
 * message for a conversation never seen opens it ("opened by a message") and the late start then
 * keeps that session and its deadlines; a contact message for an ended conversation waits, and the
 * start that follows takes it into the new session and answers it.
 */
import type { ConversationState, OpenedBy } from './conversation.types.js';

export type TimerName = 'vaDeadline' | 'firstQuestion' | 'contactNudge' | 'contactDeadline';
export const TIMERS: readonly TimerName[] = ['vaDeadline', 'firstQuestion', 'contactNudge', 'contactDeadline'];

/** What the bridge can send on its own, without an LLM decision. */
export type CannedSend =
  | { what: 'greeting' }
  | { what: 'nudge' }
  | { what: 'vaTimeout'; complete: 'HANDOVER' }
  | { what: 'contactTimeout'; complete: 'RESOLVED' | 'HANDOVER' }
  /** The platform refused a call (4xx): hand over with a note and nothing the platform could refuse again. */
  | { what: 'fallback'; complete: 'HANDOVER' };

/** What a REST call carried, as the state machine cares about it. */
export type Delivered = 'reply' | 'opening' | 'greeting' | 'nudge' | 'resolve' | 'handover' | 'fallback';

/** What the machine knows of a conversation before an input; undefined for one never seen. */
export interface Prior {
  state: ConversationState;
  openedBy: OpenedBy;
}

export type Input =
  /** `waiting`: contact messages that arrived before this event and are still unanswered. */
  | { type: 'started'; waiting: boolean }
  | { type: 'delegated'; waiting: boolean }
  | { type: 'inbound' }
  /** A REST call carrying this was delivered; `pendingInbound`: contact messages still unanswered. */
  | { type: 'delivered'; what: Delivered; pendingInbound: boolean }
  /** The platform refused a call for good (a 4xx other than 404): resending it cannot help. */
  | { type: 'refused'; what: Delivered }
  | { type: 'timer'; timer: TimerName; unanswered: boolean; outboundThisSession: boolean }
  | { type: 'lost' };

export type Effect =
  /** A new session: turn count, summary and transcript start afresh; calls planned in the old one are dropped. */
  | { type: 'newSession' }
  /** The unanswered contact messages that came before this opening event join the (new) session. */
  | { type: 'adoptWaiting' }
  | { type: 'requestTurn' }
  | { type: 'arm'; timer: TimerName }
  | { type: 'disarm'; timer: TimerName }
  | { type: 'send'; send: CannedSend }
  /** The conversation is being closed: every pending contact message counts as answered, planned calls are dropped. */
  | { type: 'closePending' };

export interface MachineConfig {
  hasNudge: boolean;
  onContactTimeout: 'resolve' | 'handover';
}

export interface Transition {
  state: ConversationState;
  /** Set when the input (re)opens the conversation: which event owns this session. */
  openedBy?: OpenedBy;
  effects: Effect[];
  /** Why the state changed, for the conversation's `state_reason`. */
  reason?: string;
}

export const OPENED_BY_MESSAGE = 'opened by an inbound message';
export const LOST_REASON = 'the platform answered 404: the conversation is no longer assigned to this agent';
export const REFUSED_REASON = 'the platform refused even the fallback handover; its own timeout will move the conversation';

const disarmAll: Effect[] = TIMERS.map((timer) => ({ type: 'disarm', timer }));
/** The contact spoke: their clock stops, ours starts (if not already running for an earlier message). */
const contactClock: Effect[] = [
  { type: 'disarm', timer: 'contactNudge' },
  { type: 'disarm', timer: 'contactDeadline' },
  { type: 'arm', timer: 'vaDeadline' },
];
const contactSpoke: Effect[] = [...contactClock, { type: 'requestTurn' }];

export function transition(prior: Prior | undefined, input: Input, cfg: MachineConfig): Transition {
  switch (input.type) {
    case 'started':
    case 'delegated':
      return open(prior, input);

    case 'inbound':
      // Never seen: the platform only sends a contact message to the VA that owns the conversation,
      // so its opening event is merely late. Answer on the usual clock; the start keeps this session.
      if (!prior) return { state: 'active', openedBy: 'message', reason: OPENED_BY_MESSAGE, effects: contactSpoke };
      // Ended: stored, not answered, unless an opening event follows (it adopts the message).
      if (prior.state !== 'active') return { state: prior.state, effects: [] };
      return { state: 'active', effects: contactSpoke };

    case 'lost':
      // A human has it now: what was pending is theirs, and nothing planned may still go out.
      return { state: 'lost', reason: LOST_REASON, effects: [...disarmAll, { type: 'closePending' }] };
  }

  // Every other input only matters while the VA owns the conversation.
  if (prior?.state !== 'active') return { state: prior?.state ?? 'lost', effects: [] };
  const state = prior.state;

  switch (input.type) {
    case 'delivered':
      switch (input.what) {
        case 'resolve':
          return { state: 'resolved', reason: 'resolved by the agent', effects: disarmAll };
        case 'handover':
          return { state: 'handed_over', reason: 'handed over by the agent', effects: disarmAll };
        case 'fallback':
          return { state: 'handed_over', reason: 'handed over after the platform refused a call', effects: disarmAll };
        case 'nudge':
          return { state, effects: [{ type: 'disarm', timer: 'contactNudge' }] };
        case 'reply':
        case 'opening':
        case 'greeting':
          if (input.pendingInbound) {
            // Messages arrived during the turn: still our move, on the clock of the oldest of them.
            return { state, effects: [{ type: 'disarm', timer: 'firstQuestion' }, { type: 'arm', timer: 'vaDeadline' }, { type: 'requestTurn' }] };
          }
          return {
            state,
            effects: [
              { type: 'disarm', timer: 'firstQuestion' },
              { type: 'disarm', timer: 'vaDeadline' },
              ...(cfg.hasNudge ? [{ type: 'arm', timer: 'contactNudge' } as const] : []),
              { type: 'arm', timer: 'contactDeadline' },
            ],
          };
      }
      break;

    case 'refused':
      // Resending the same call cannot help. Hand over with the least the platform could refuse;
      // if it refuses even that, the conversation is no longer ours to keep: say so and stop.
      if (input.what === 'fallback') return { state: 'lost', reason: REFUSED_REASON, effects: [...disarmAll, { type: 'closePending' }] };
      return { state, effects: [{ type: 'closePending' }, { type: 'send', send: { what: 'fallback', complete: 'HANDOVER' } }] };

    case 'timer':
      switch (input.timer) {
        case 'firstQuestion':
          return input.outboundThisSession
            ? { state, effects: [{ type: 'disarm', timer: 'firstQuestion' }] }
            : { state, effects: [{ type: 'disarm', timer: 'firstQuestion' }, { type: 'send', send: { what: 'greeting' } }] };
        case 'vaDeadline':
          return input.unanswered
            ? { state, effects: [{ type: 'disarm', timer: 'vaDeadline' }, { type: 'closePending' }, { type: 'send', send: { what: 'vaTimeout', complete: 'HANDOVER' } }] }
            : { state, effects: [{ type: 'disarm', timer: 'vaDeadline' }] };
        case 'contactNudge':
          return { state, effects: [{ type: 'disarm', timer: 'contactNudge' }, { type: 'send', send: { what: 'nudge' } }] };
        case 'contactDeadline':
          return {
            state,
            effects: [
              ...disarmAll,
              { type: 'closePending' },
              { type: 'send', send: { what: 'contactTimeout', complete: cfg.onContactTimeout === 'resolve' ? 'RESOLVED' : 'HANDOVER' } },
            ],
          };
      }
  }
  return { state, effects: [] };
}

/** CONVERSATION_STARTED / _DELEGATED. */
function open(prior: Prior | undefined, input: { type: 'started' | 'delegated'; waiting: boolean }): Transition {
  const delegated = input.type === 'delegated';
  const opening: Effect[] = delegated ? [{ type: 'arm', timer: 'firstQuestion' }, { type: 'requestTurn' }] : [];

  // The start of a session that one of its contact messages opened already: keep the session, its
  // transcript and every deadline armed since (the message's VA deadline, or the contact's clock if
  // the agent has answered meanwhile).
  if (prior?.state === 'active' && prior.openedBy === 'message') {
    return { state: 'active', openedBy: input.type, reason: `${input.type} (after its first contact message)`, effects: opening };
  }
  if (!prior) return { state: 'active', openedBy: input.type, reason: input.type, effects: [...disarmAll, ...opening] };

  // Ended, or opened again while active (a re-delegation): a new session. Contact messages that
  // arrived before this event (delivered out of order) belong to it and are answered.
  const effects: Effect[] = [{ type: 'newSession' }, ...disarmAll];
  if (input.waiting) effects.push({ type: 'adoptWaiting' }, ...contactClock);
  if (delegated) effects.push({ type: 'arm', timer: 'firstQuestion' });
  if (input.waiting || delegated) effects.push({ type: 'requestTurn' });
  return { state: 'active', openedBy: input.type, reason: input.type, effects };
}

export const requestsTurn = (t: Transition) => t.effects.some((e) => e.type === 'requestTurn');
export const sendOf = (t: Transition): CannedSend | undefined => t.effects.find((e): e is Extract<Effect, { type: 'send' }> => e.type === 'send')?.send;
