/**
 * The rules of a conversation, in one pure function: (state, input) → (state, effects).
 * No I/O here; the orchestrator turns effects into rows, jobs and REST calls.
 *
 * Inception: CONVERSATION_STARTED opens it; each contact message asks for a turn and starts the VA
 * deadline (the platform's "Timeout virtual agent", minus a margin). A delivered reply stops that
 * clock and starts the contact's (an optional nudge, then the contact deadline). A delivered
 * resolve or handover ends it. A 404 from the platform means a human (or the platform) has it: lost.
 *
 * Delegation: CONVERSATION_DELEGATED opens it (again) and asks at once for an opening question; if
 * none has gone out by the first-question deadline, the configured greeting goes instead. From then
 * on it behaves as Inception. A handover returns it per the platform's handoff rule.
 */
import type { ConversationState } from './conversation.types.js';

export type TimerName = 'vaDeadline' | 'firstQuestion' | 'contactNudge' | 'contactDeadline';
export const TIMERS: readonly TimerName[] = ['vaDeadline', 'firstQuestion', 'contactNudge', 'contactDeadline'];

/** What the bridge can send on its own, without an LLM decision. */
export type CannedSend =
  | { what: 'greeting' }
  | { what: 'nudge' }
  | { what: 'vaTimeout'; complete: 'HANDOVER' }
  | { what: 'contactTimeout'; complete: 'RESOLVED' | 'HANDOVER' };

export type Delivered = 'reply' | 'opening' | 'greeting' | 'nudge' | 'resolve' | 'handover';

export type Input =
  | { type: 'started' }
  | { type: 'delegated' }
  | { type: 'inbound' }
  /** A REST call carrying this was delivered; `pendingInbound`: contact messages still unanswered. */
  | { type: 'delivered'; what: Delivered; pendingInbound: boolean }
  | { type: 'timer'; timer: TimerName; unanswered: boolean; outboundThisSession: boolean }
  | { type: 'lost' };

export type Effect =
  | { type: 'newSession' }
  | { type: 'requestTurn'; kind: 'turn' | 'opening' }
  | { type: 'arm'; timer: TimerName }
  | { type: 'disarm'; timer: TimerName }
  | { type: 'send'; send: CannedSend };

export interface MachineConfig {
  hasNudge: boolean;
  onContactTimeout: 'resolve' | 'handover';
}

export interface Transition {
  state: ConversationState;
  effects: Effect[];
  /** Why the state changed, for the conversation's `state_reason`. */
  reason?: string;
}

const disarmAll: Effect[] = TIMERS.map((timer) => ({ type: 'disarm', timer }));

/** `state` is undefined for a conversation the bridge has never seen. */
export function transition(state: ConversationState | undefined, input: Input, cfg: MachineConfig): Transition {
  switch (input.type) {
    case 'started':
      return { state: 'active', reason: 'started', effects: [...disarmAll, ...(state ? [{ type: 'newSession' } as const] : [])] };

    case 'delegated':
      return {
        state: 'active',
        reason: 'delegated',
        effects: [
          ...disarmAll,
          ...(state ? [{ type: 'newSession' } as const] : []),
          { type: 'arm', timer: 'firstQuestion' },
          { type: 'requestTurn', kind: 'opening' },
        ],
      };

    case 'lost':
      return { state: 'lost', reason: 'the platform answered 404: the conversation is no longer assigned to this agent', effects: disarmAll };
  }

  // Every other input only matters while the VA owns the conversation.
  if (state !== 'active') return { state: state ?? 'active', effects: [] };

  switch (input.type) {
    case 'inbound':
      // The contact spoke: their clock stops, ours starts (if not already running for an earlier message).
      return {
        state,
        effects: [
          { type: 'disarm', timer: 'contactNudge' },
          { type: 'disarm', timer: 'contactDeadline' },
          { type: 'arm', timer: 'vaDeadline' },
          { type: 'requestTurn', kind: 'turn' },
        ],
      };

    case 'delivered':
      switch (input.what) {
        case 'resolve':
          return { state: 'resolved', reason: 'resolved by the agent', effects: disarmAll };
        case 'handover':
          return { state: 'handed_over', reason: 'handed over by the agent', effects: disarmAll };
        case 'nudge':
          return { state, effects: [{ type: 'disarm', timer: 'contactNudge' }] };
        case 'reply':
        case 'opening':
        case 'greeting':
          if (input.pendingInbound) {
            // Messages arrived during the turn: still our move, on the clock of the oldest of them.
            return { state, effects: [{ type: 'disarm', timer: 'firstQuestion' }, { type: 'arm', timer: 'vaDeadline' }, { type: 'requestTurn', kind: 'turn' }] };
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

    case 'timer':
      switch (input.timer) {
        case 'firstQuestion':
          return input.outboundThisSession
            ? { state, effects: [{ type: 'disarm', timer: 'firstQuestion' }] }
            : { state, effects: [{ type: 'disarm', timer: 'firstQuestion' }, { type: 'send', send: { what: 'greeting' } }] };
        case 'vaDeadline':
          return input.unanswered
            ? { state, effects: [{ type: 'disarm', timer: 'vaDeadline' }, { type: 'send', send: { what: 'vaTimeout', complete: 'HANDOVER' } }] }
            : { state, effects: [{ type: 'disarm', timer: 'vaDeadline' }] };
        case 'contactNudge':
          return { state, effects: [{ type: 'disarm', timer: 'contactNudge' }, { type: 'send', send: { what: 'nudge' } }] };
        case 'contactDeadline':
          return {
            state,
            effects: [
              ...disarmAll,
              { type: 'send', send: { what: 'contactTimeout', complete: cfg.onContactTimeout === 'resolve' ? 'RESOLVED' : 'HANDOVER' } },
            ],
          };
      }
  }
  return { state, effects: [] };
}
