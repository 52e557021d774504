import fc from 'fast-check';
import type { ConversationState, OpenedBy } from './conversation.types.js';
import { TIMERS, transition, type Delivered, type Input, type MachineConfig, type Prior, type TimerName } from './state-machine.js';

const cfg: MachineConfig = { hasNudge: true, onContactTimeout: 'resolve' };
const ENDED: ConversationState[] = ['handed_over', 'resolved', 'lost'];
const ALL_STATES: ConversationState[] = ['active', ...ENDED];
const OPENERS: OpenedBy[] = ['started', 'delegated', 'message'];
const PRIORS: Array<Prior | undefined> = [undefined, ...ALL_STATES.flatMap((state) => OPENERS.map((openedBy) => ({ state, openedBy })))];
const DELIVERED: Delivered[] = ['reply', 'opening', 'greeting', 'nudge', 'resolve', 'handover', 'fallback'];

const disarmAll = TIMERS.map((timer) => ({ type: 'disarm', timer }));
const active = (openedBy: OpenedBy = 'started'): Prior => ({ state: 'active', openedBy });
const ended = (state: ConversationState): Prior => ({ state, openedBy: 'started' });

function allInputs(): Input[] {
  const timers = TIMERS.flatMap((timer): Input[] => [
    { type: 'timer', timer, unanswered: true, outboundThisSession: false },
    { type: 'timer', timer, unanswered: false, outboundThisSession: true },
  ]);
  const delivered = DELIVERED.flatMap((what): Input[] => [
    { type: 'delivered', what, pendingInbound: false },
    { type: 'delivered', what, pendingInbound: true },
    { type: 'refused', what },
  ]);
  const opening = [true, false].flatMap((waiting): Input[] => [
    { type: 'started', waiting },
    { type: 'delegated', waiting },
  ]);
  return [...opening, { type: 'inbound' }, { type: 'lost' }, ...delivered, ...timers];
}

describe(transition.name, () => {
  it('is total: every prior and input gives a state and a list of effects', () => {
    for (const prior of PRIORS) for (const input of allInputs()) {
      const sut = transition(prior, input, cfg);
      expect(ALL_STATES).toContain(sut.state);
      expect(Array.isArray(sut.effects)).toBe(true);
    }
  });

  it('does nothing but record, for any input but an opening or a loss, once the conversation has ended', () => {
    for (const state of ENDED) for (const input of allInputs()) {
      if (['started', 'delegated', 'lost'].includes(input.type)) continue;
      expect(transition(ended(state), input, cfg)).toEqual({ state, effects: [] });
    }
  });

  it('never leaves an active conversation waiting on nothing: every input that keeps it active arms, keeps or sends something', () => {
    // A transition that disarms every deadline of an active conversation must send (close) or end it.
    for (const prior of PRIORS) for (const input of allInputs()) {
      const sut = transition(prior, input, cfg);
      if (sut.state !== 'active') continue;
      const disarmsEverything = TIMERS.every((timer) => sut.effects.some((e) => e.type === 'disarm' && e.timer === timer));
      const armsOrSends = sut.effects.some((e) => e.type === 'arm' || e.type === 'send' || e.type === 'requestTurn');
      if (disarmsEverything) expect({ prior, input, armsOrSends: armsOrSends || input.type === 'started' }).toMatchObject({ armsOrSends: true });
    }
  });

  it('asks for at most one turn per transition', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PRIORS), fc.constantFrom(...allInputs()), (prior, input) => {
        expect(transition(prior, input, cfg).effects.filter((e) => e.type === 'requestTurn').length).toBeLessThanOrEqual(1);
      }),
    );
  });

  describe('Inception', () => {
    it('opens a new conversation without a new session or a turn (it waits for the contact)', () => {
      expect(transition(undefined, { type: 'started', waiting: false }, cfg)).toEqual({ state: 'active', openedBy: 'started', reason: 'started', effects: disarmAll });
    });

    it('starts a new session when an ended conversation is started again', () => {
      for (const state of ENDED) expect(transition(ended(state), { type: 'started', waiting: false }, cfg).effects).toContainEqual({ type: 'newSession' });
    });

    it('answers a contact message with a turn and starts the VA clock, stopping the contact’s', () => {
      expect(transition(active(), { type: 'inbound' }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'contactNudge' },
        { type: 'disarm', timer: 'contactDeadline' },
        { type: 'arm', timer: 'vaDeadline' },
        { type: 'requestTurn' },
      ]);
    });

    it('after a delivered reply, stops the VA clock and starts the nudge and the contact deadline', () => {
      expect(transition(active(), { type: 'delivered', what: 'reply', pendingInbound: false }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'firstQuestion' },
        { type: 'disarm', timer: 'vaDeadline' },
        { type: 'arm', timer: 'contactNudge' },
        { type: 'arm', timer: 'contactDeadline' },
      ]);
    });

    it('arms no nudge for an agent without contactNudge', () => {
      const effects = transition(active(), { type: 'delivered', what: 'reply', pendingInbound: false }, { ...cfg, hasNudge: false }).effects;
      expect(effects).not.toContainEqual({ type: 'arm', timer: 'contactNudge' });
    });

    it('keeps the VA clock and asks for another turn when messages arrived during the turn', () => {
      expect(transition(active(), { type: 'delivered', what: 'reply', pendingInbound: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'firstQuestion' },
        { type: 'arm', timer: 'vaDeadline' },
        { type: 'requestTurn' },
      ]);
    });

    it('ends on a delivered resolve or handover, with every timer disarmed', () => {
      expect(transition(active(), { type: 'delivered', what: 'resolve', pendingInbound: false }, cfg)).toEqual({ state: 'resolved', reason: 'resolved by the agent', effects: disarmAll });
      expect(transition(active(), { type: 'delivered', what: 'handover', pendingInbound: true }, cfg)).toEqual({ state: 'handed_over', reason: 'handed over by the agent', effects: disarmAll });
    });

    it('hands over with the error message when the VA deadline passes unanswered, closing what is pending', () => {
      expect(transition(active(), { type: 'timer', timer: 'vaDeadline', unanswered: true, outboundThisSession: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'vaDeadline' },
        { type: 'closePending' },
        { type: 'send', send: { what: 'vaTimeout', complete: 'HANDOVER' } },
      ]);
    });

    it('ignores a VA deadline when nothing is left unanswered', () => {
      expect(transition(active(), { type: 'timer', timer: 'vaDeadline', unanswered: false, outboundThisSession: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'vaDeadline' },
      ]);
    });

    it('nudges once, then closes per onContactTimeout', () => {
      const timer = (t: TimerName): Input => ({ type: 'timer', timer: t, unanswered: false, outboundThisSession: true });
      expect(transition(active(), timer('contactNudge'), cfg).effects).toEqual([{ type: 'disarm', timer: 'contactNudge' }, { type: 'send', send: { what: 'nudge' } }]);
      expect(transition(active(), { type: 'delivered', what: 'nudge', pendingInbound: false }, cfg).effects).toEqual([{ type: 'disarm', timer: 'contactNudge' }]);
      expect(transition(active(), timer('contactDeadline'), cfg).effects).toEqual([
        ...disarmAll,
        { type: 'closePending' },
        { type: 'send', send: { what: 'contactTimeout', complete: 'RESOLVED' } },
      ]);
      expect(transition(active(), timer('contactDeadline'), { ...cfg, onContactTimeout: 'handover' }).effects).toContainEqual({
        type: 'send',
        send: { what: 'contactTimeout', complete: 'HANDOVER' },
      });
    });
  });

  describe('out-of-order delivery', () => {
    it('opens a conversation it has never seen on a contact message, on the usual clock', () => {
      expect(transition(undefined, { type: 'inbound' }, cfg)).toEqual({
        state: 'active',
        openedBy: 'message',
        reason: 'opened by an inbound message',
        effects: [{ type: 'disarm', timer: 'contactNudge' }, { type: 'disarm', timer: 'contactDeadline' }, { type: 'arm', timer: 'vaDeadline' }, { type: 'requestTurn' }],
      });
    });

    it('keeps the session and every deadline when the start arrives after the first message', () => {
      const sut = transition(active('message'), { type: 'started', waiting: true }, cfg);
      expect(sut).toEqual({ state: 'active', openedBy: 'started', reason: 'started (after its first contact message)', effects: [] });
    });

    it('keeps the session of a late delegation, and still guards the first question', () => {
      const sut = transition(active('message'), { type: 'delegated', waiting: false }, cfg);
      expect(sut.effects).toEqual([{ type: 'arm', timer: 'firstQuestion' }, { type: 'requestTurn' }]);
    });

    it('stores and does not answer a message for an ended conversation (no event says it is ours again)', () => {
      for (const state of ENDED) expect(transition(ended(state), { type: 'inbound' }, cfg)).toEqual({ state, effects: [] });
    });

    it('answers, in the new session, the messages that arrived before the event that reopened the conversation', () => {
      for (const state of ENDED) {
        for (const type of ['started', 'delegated'] as const) {
          const sut = transition(ended(state), { type, waiting: true }, cfg);
          expect(sut.state).toBe('active');
          expect(sut.effects.slice(0, 2)).toEqual([{ type: 'newSession' }, ...disarmAll.slice(0, 1)]);
          expect(sut.effects).toContainEqual({ type: 'adoptWaiting' });
          // Adopted after everything was disarmed, so the VA clock runs for them.
          const armed = sut.effects.findIndex((e) => e.type === 'arm' && e.timer === 'vaDeadline');
          expect(armed).toBeGreaterThan(sut.effects.findIndex((e) => e.type === 'disarm' && e.timer === 'vaDeadline'));
          expect(sut.effects.filter((e) => e.type === 'requestTurn')).toHaveLength(1);
        }
      }
    });
  });

  describe('Delegation', () => {
    it('asks for the opening question at once and arms the first-question deadline', () => {
      expect(transition(undefined, { type: 'delegated', waiting: false }, cfg)).toEqual({
        state: 'active',
        openedBy: 'delegated',
        reason: 'delegated',
        effects: [...disarmAll, { type: 'arm', timer: 'firstQuestion' }, { type: 'requestTurn' }],
      });
    });

    it('starts a new session when a known conversation is delegated again, whatever its state', () => {
      for (const state of ALL_STATES) {
        const sut = transition({ state, openedBy: 'delegated' }, { type: 'delegated', waiting: false }, cfg);
        expect(sut.state).toBe('active');
        expect(sut.effects).toContainEqual({ type: 'newSession' });
      }
    });

    it('sends the greeting when the first-question deadline passes with nothing sent', () => {
      expect(transition(active(), { type: 'timer', timer: 'firstQuestion', unanswered: false, outboundThisSession: false }, cfg).effects).toContainEqual({
        type: 'send',
        send: { what: 'greeting' },
      });
      expect(transition(active(), { type: 'timer', timer: 'firstQuestion', unanswered: false, outboundThisSession: true }, cfg).effects).toEqual([
        { type: 'disarm', timer: 'firstQuestion' },
      ]);
    });

    it('after the opening or the greeting, waits for the contact like after any reply', () => {
      for (const what of ['opening', 'greeting'] as const) {
        expect(transition(active(), { type: 'delivered', what, pendingInbound: false }, cfg).effects).toContainEqual({ type: 'arm', timer: 'contactDeadline' });
      }
    });
  });

  describe('refused calls', () => {
    it('hands over with the fallback when the platform refuses any call for good', () => {
      for (const what of DELIVERED.filter((w) => w !== 'fallback')) {
        expect(transition(active(), { type: 'refused', what }, cfg).effects).toEqual([
          { type: 'closePending' },
          { type: 'send', send: { what: 'fallback', complete: 'HANDOVER' } },
        ]);
      }
    });

    it('lets the conversation go, saying why, when even the fallback is refused', () => {
      const sut = transition(active(), { type: 'refused', what: 'fallback' }, cfg);
      expect(sut.state).toBe('lost');
      expect(sut.reason).toMatch(/refused even the fallback/);
      expect(sut.effects).toEqual([...disarmAll, { type: 'closePending' }]);
    });

    it('ends as handed over when the fallback is delivered', () => {
      expect(transition(active(), { type: 'delivered', what: 'fallback', pendingInbound: false }, cfg).state).toBe('handed_over');
    });
  });

  describe('ownership', () => {
    it('marks any conversation lost on a 404, disarms every timer and closes what was pending', () => {
      for (const prior of PRIORS) {
        expect(transition(prior, { type: 'lost' }, cfg)).toEqual({ state: 'lost', reason: expect.stringMatching(/404/), effects: [...disarmAll, { type: 'closePending' }] });
      }
    });

    it('does not answer a lost conversation’s messages until it is started or delegated again', () => {
      expect(transition(ended('lost'), { type: 'inbound' }, cfg)).toEqual({ state: 'lost', effects: [] });
      expect(transition(ended('lost'), { type: 'started', waiting: false }, cfg).state).toBe('active');
    });
  });
});
