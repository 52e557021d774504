import type { ConversationState } from './conversation.types.js';
import { TIMERS, transition, type Input, type MachineConfig, type TimerName } from './state-machine.js';

const cfg: MachineConfig = { hasNudge: true, onContactTimeout: 'resolve' };
const STATES: Array<ConversationState | undefined> = [undefined, 'active', 'handed_over', 'resolved', 'lost'];
const ENDED: ConversationState[] = ['handed_over', 'resolved', 'lost'];

const disarmAll = TIMERS.map((timer) => ({ type: 'disarm', timer }));

function allInputs(): Input[] {
  const timers = TIMERS.flatMap((timer): Input[] => [
    { type: 'timer', timer, unanswered: true, outboundThisSession: false },
    { type: 'timer', timer, unanswered: false, outboundThisSession: true },
  ]);
  const delivered = (['reply', 'opening', 'greeting', 'nudge', 'resolve', 'handover'] as const).flatMap((what): Input[] => [
    { type: 'delivered', what, pendingInbound: false },
    { type: 'delivered', what, pendingInbound: true },
  ]);
  return [{ type: 'started' }, { type: 'delegated' }, { type: 'inbound' }, { type: 'lost' }, ...delivered, ...timers];
}

describe(transition.name, () => {
  it('is total: every state and input gives a state and a list of effects', () => {
    for (const state of STATES) for (const input of allInputs()) {
      const sut = transition(state, input, cfg);
      expect(['active', 'handed_over', 'resolved', 'lost']).toContain(sut.state);
      expect(Array.isArray(sut.effects)).toBe(true);
    }
  });

  it('does nothing but record, for any input but a (re)start or a loss, once the conversation has ended', () => {
    for (const state of ENDED) for (const input of allInputs()) {
      if (['started', 'delegated', 'lost'].includes(input.type)) continue;
      expect(transition(state, input, cfg)).toEqual({ state, effects: [] });
    }
  });

  describe('Inception', () => {
    it('opens a new conversation without a new session or a turn (it waits for the contact)', () => {
      expect(transition(undefined, { type: 'started' }, cfg)).toEqual({ state: 'active', reason: 'started', effects: disarmAll });
    });

    it('starts a new session when an ended conversation is started again', () => {
      for (const state of ENDED) expect(transition(state, { type: 'started' }, cfg).effects).toContainEqual({ type: 'newSession' });
    });

    it('answers a contact message with a turn and starts the VA clock, stopping the contact’s', () => {
      expect(transition('active', { type: 'inbound' }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'contactNudge' },
        { type: 'disarm', timer: 'contactDeadline' },
        { type: 'arm', timer: 'vaDeadline' },
        { type: 'requestTurn', kind: 'turn' },
      ]);
    });

    it('after a delivered reply, stops the VA clock and starts the nudge and the contact deadline', () => {
      expect(transition('active', { type: 'delivered', what: 'reply', pendingInbound: false }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'firstQuestion' },
        { type: 'disarm', timer: 'vaDeadline' },
        { type: 'arm', timer: 'contactNudge' },
        { type: 'arm', timer: 'contactDeadline' },
      ]);
    });

    it('arms no nudge for an agent without contactNudge', () => {
      const effects = transition('active', { type: 'delivered', what: 'reply', pendingInbound: false }, { ...cfg, hasNudge: false }).effects;
      expect(effects).not.toContainEqual({ type: 'arm', timer: 'contactNudge' });
    });

    it('keeps the VA clock and asks for another turn when messages arrived during the turn', () => {
      expect(transition('active', { type: 'delivered', what: 'reply', pendingInbound: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'firstQuestion' },
        { type: 'arm', timer: 'vaDeadline' },
        { type: 'requestTurn', kind: 'turn' },
      ]);
    });

    it('ends on a delivered resolve or handover, with every timer disarmed', () => {
      expect(transition('active', { type: 'delivered', what: 'resolve', pendingInbound: false }, cfg)).toEqual({ state: 'resolved', reason: 'resolved by the agent', effects: disarmAll });
      expect(transition('active', { type: 'delivered', what: 'handover', pendingInbound: true }, cfg)).toEqual({ state: 'handed_over', reason: 'handed over by the agent', effects: disarmAll });
    });

    it('hands over with the error message when the VA deadline passes unanswered', () => {
      expect(transition('active', { type: 'timer', timer: 'vaDeadline', unanswered: true, outboundThisSession: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'vaDeadline' },
        { type: 'send', send: { what: 'vaTimeout', complete: 'HANDOVER' } },
      ]);
    });

    it('ignores a VA deadline when nothing is left unanswered', () => {
      expect(transition('active', { type: 'timer', timer: 'vaDeadline', unanswered: false, outboundThisSession: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'vaDeadline' },
      ]);
    });

    it('nudges once, then closes per onContactTimeout', () => {
      const timer = (t: TimerName): Input => ({ type: 'timer', timer: t, unanswered: false, outboundThisSession: true });
      expect(transition('active', timer('contactNudge'), cfg).effects).toEqual([{ type: 'disarm', timer: 'contactNudge' }, { type: 'send', send: { what: 'nudge' } }]);
      expect(transition('active', { type: 'delivered', what: 'nudge', pendingInbound: false }, cfg).effects).toEqual([{ type: 'disarm', timer: 'contactNudge' }]);
      expect(transition('active', timer('contactDeadline'), cfg).effects).toEqual([...disarmAll, { type: 'send', send: { what: 'contactTimeout', complete: 'RESOLVED' } }]);
      expect(transition('active', timer('contactDeadline'), { ...cfg, onContactTimeout: 'handover' }).effects).toContainEqual({
        type: 'send',
        send: { what: 'contactTimeout', complete: 'HANDOVER' },
      });
    });
  });

  describe('Delegation', () => {
    it('asks for the opening question at once and arms the first-question deadline', () => {
      expect(transition(undefined, { type: 'delegated' }, cfg)).toEqual({
        state: 'active',
        reason: 'delegated',
        effects: [...disarmAll, { type: 'arm', timer: 'firstQuestion' }, { type: 'requestTurn', kind: 'opening' }],
      });
    });

    it('starts a new session when a known conversation is delegated again, whatever its state', () => {
      for (const state of ['active', ...ENDED] as ConversationState[]) {
        const sut = transition(state, { type: 'delegated' }, cfg);
        expect(sut.state).toBe('active');
        expect(sut.effects).toContainEqual({ type: 'newSession' });
      }
    });

    it('sends the greeting when the first-question deadline passes with nothing sent', () => {
      expect(transition('active', { type: 'timer', timer: 'firstQuestion', unanswered: false, outboundThisSession: false }, cfg).effects).toContainEqual({
        type: 'send',
        send: { what: 'greeting' },
      });
      expect(transition('active', { type: 'timer', timer: 'firstQuestion', unanswered: false, outboundThisSession: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'firstQuestion' },
      ]);
    });

    it('after the opening or the greeting, waits for the contact like after any reply', () => {
      for (const what of ['opening', 'greeting'] as const) {
        expect(transition('active', { type: 'delivered', what, pendingInbound: false }, cfg).effects).toContainEqual({ type: 'arm', timer: 'contactDeadline' });
      }
    });
  });

  describe('ownership', () => {
    it('marks any conversation lost on a 404 and disarms every timer', () => {
      for (const state of STATES) {
        expect(transition(state, { type: 'lost' }, cfg)).toEqual({ state: 'lost', reason: expect.stringMatching(/404/), effects: disarmAll });
      }
    });

    it('does not answer a lost conversation’s messages until it is started or delegated again', () => {
      expect(transition('lost', { type: 'inbound' }, cfg)).toEqual({ state: 'lost', effects: [] });
      expect(transition('lost', { type: 'started' }, cfg).state).toBe('active');
    });
  });
});
