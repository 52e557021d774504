import { parseAgents } from '../config/agents.loader.js';
import type { ConversationContext } from '../agent/decision.js';
import { applyGuardrails } from '../agent/guardrails.js';
import { buildDecisionPrompt, stableInstructions } from '../agent/prompt.builder.js';
import { proposal } from '../../test/support/decisions.js';
import { caseContext } from '../evals/case-context.js';
import { parseCaseFile } from '../evals/case.loader.js';
import { asciiDigits, availabilityAt, availabilityHandover, formatOpening, mentionsOpening, outsideHoursHandoverMessage, outsideHoursMessage, type Availability } from './availability.js';

const agentWith = (outsideHours: string) =>
  parseAgents(
    `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Be kind.
    contactAttributes: { order_number: The order number }
    businessHours:
      timeZone: Europe/Berlin
      weekly: { mon: ['09:00-17:00'], tue: ['09:00-17:00'], wed: ['09:00-17:00'], thu: ['09:00-17:00'], fri: ['09:00-17:00'] }
      outsideHours: ${outsideHours}
`,
    { S: 'aa' },
  )[0];

const answerOnly = agentWith('answer-only');
const collect = agentWith('collect-and-handover');
// Saturday 28 November 2026, 10:00 in Berlin: back Monday 30 November, 09:00 CET (08:00Z).
const saturday = new Date('2026-11-28T09:00:00Z');
const closed = availabilityAt(answerOnly.businessHours, saturday)!;

const ctx = (availability: Availability | undefined, language = 'en'): ConversationContext => ({
  mode: 'inception',
  language,
  contactProfile: null,
  contactAttributes: [],
  summary: null,
  transcript: [{ direction: 'inbound', text: 'Where is my parcel?', payload: null, pending: true }],
  agentTurns: 0,
  ...(availability ? { availability } : {}),
});

describe('availability', () => {
  it('is closed with the next opening outside hours, and open inside them', () => {
    expect(closed).toMatchObject({ available: false, why: 'closed', opening: '2026-11-30T08:00:00.000Z', timeZone: 'Europe/Berlin', mode: 'answer-only', presence: 'off' });
    expect(availabilityAt(answerOnly.businessHours, new Date('2026-11-30T10:00:00Z'))).toMatchObject({ available: true, opening: null });
    expect(availabilityAt(undefined, saturday)).toBeUndefined();
  });

  it('inside hours, only a definite "nobody online" makes it unavailable; unknown presence falls back to the clock', () => {
    const monday = new Date('2026-11-30T10:00:00Z');
    expect(availabilityAt(answerOnly.businessHours, monday, 'nobody')).toMatchObject({ available: false, why: 'nobody_online', opening: null });
    expect(availabilityAt(answerOnly.businessHours, monday, 'unknown')).toMatchObject({ available: true });
    expect(availabilityAt(answerOnly.businessHours, monday, 'someone')).toMatchObject({ available: true });
  });

  it('formats the opening in the contact’s language and the agent’s zone, naming the zone', () => {
    expect(formatOpening(closed, 'en')).toMatch(/Monday, November 30.*9:00.*(GMT\+1|CET)/);
    expect(formatOpening(closed, 'de')).toMatch(/Montag, 30\. November.*09:00.*(MEZ|GMT\+1)/);
    expect(formatOpening(closed, 'not a language!')).toMatch(/Monday/);
    expect(outsideHoursMessage(answerOnly, closed, 'fr')).toMatch(/will be back lundi 30 novembre.*9:00/);
  });

  it('recognises a message that tells the opening hour', () => {
    expect(mentionsOpening('We are back on Monday at 09:00.', closed)).toBe(true);
    expect(mentionsOpening('Wir sind Montag ab 9 Uhr wieder da.', closed)).toBe(true);
    expect(mentionsOpening('Back Monday 9am!', closed)).toBe(true);
    expect(mentionsOpening('A colleague will get back to you.', closed)).toBe(false);
    expect(mentionsOpening('Call 19:00 or 0900-123', closed)).toBe(false);
  });

  it('recognises the opening hour in native digits, as formatOpening writes it for ar-EG and fa', () => {
    // Monday 30 November 2026, 14:30 in Berlin: ar-EG writes it on a 12-hour clock (٢:٣٠ م).
    const afternoon: Availability = { ...closed, opening: '2026-11-30T13:30:00.000Z' };
    for (const language of ['ar-EG', 'fa', 'hi-IN-u-nu-deva']) {
      for (const a of [closed, afternoon]) {
        const told = formatOpening(a, language)!;
        expect(told).toMatch(/\p{Nd}/u);
        expect(told).not.toMatch(/[0-9]/); // the premise: no ASCII digit to find
        expect(mentionsOpening(`${told}`, a)).toBe(true);
        // The LLM's line that copies the time is kept, not replaced by the English messages.outsideHours.
        expect(outsideHoursHandoverMessage(answerOnly, a, language, `— ${told} —`)).toBeUndefined();
      }
    }
    expect(mentionsOpening('سنعود يوم الاثنين الساعة ٩:٠٠ صباحًا.', closed)).toBe(true);
    expect(mentionsOpening('همکاران ما دوشنبه ساعت ۹ برمی‌گردند.', closed)).toBe(true);
    expect(mentionsOpening('همکاران ما دوشنبه ساعت ۱۴:۳۰ برمی‌گردند.', afternoon)).toBe(true);
    expect(mentionsOpening('سنعود يوم الاثنين الساعة ٢:٣٠ مساءً.', afternoon)).toBe(true);
    // Other numbers are not the opening hour, in any script.
    expect(mentionsOpening('سيتواصل معك أحد الزملاء قريبًا.', closed)).toBe(false);
    expect(mentionsOpening('اتصل على ١٩:٠٠', closed)).toBe(false);
    expect(mentionsOpening('سنعود الساعة ٣:٣٠ مساءً.', afternoon)).toBe(false);
    expect(mentionsOpening('شماره سفارش ۱۲۳۴', afternoon)).toBe(false);
    expect(outsideHoursHandoverMessage(answerOnly, closed, 'ar-EG', 'سيتواصل معك أحد الزملاء قريبًا.')).toMatch(/will be back الاثنين، ٣٠ نوفمبر/);
  });

  it('reads the decimal digits of any script as ASCII digits', () => {
    expect(asciiDigits('٠١٢٣٤٥٦٧٨٩ ۰۱۲۳۴۵۶۷۸۹ ०१२३४५६७८९ ০১২৩৪৫৬৭৮৯ ๐๑๒๓๔๕๖๗๘๙ ０１２３４５６７８９ 𝟘𝟙𝟚 𝟶𝟿')).toBe(
      '0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 012 09',
    );
    expect(asciiDigits('09:00, Ⅸ, ½, ²')).toBe('09:00, Ⅸ, ½, ²'); // only decimal digits (Nd), not other numbers
  });

  it('an agent set to hand over outside hours hands over without the LLM, with outside_hours and messages.outsideHours', () => {
    const away = { ...closed, mode: 'handover' as const };
    const verdict = availabilityHandover(answerOnly, away, 'en')!;
    expect(verdict.reason).toBe('outside_hours');
    expect(verdict.message).toContain('Monday, November 30');
    expect(verdict.why).toMatch(/outside business hours, Sat,? 28 Nov 2026,? 10:00 \(Europe\/Berlin\); people are back Mon,? 30 Nov 2026,? 09:00 \(Europe\/Berlin\)/);
    expect(availabilityHandover(answerOnly, closed, 'en')).toBeUndefined(); // answer-only asks the LLM
    expect(availabilityHandover(answerOnly, { ...away, available: true }, 'en')).toBeUndefined();
  });

  describe('in the prompt', () => {
    it('is a system message after the transcript, and the stable prefix does not change', () => {
      const without = buildDecisionPrompt(answerOnly, ctx(undefined), 'turn');
      const withIt = buildDecisionPrompt(answerOnly, ctx(closed), 'turn');
      expect(withIt[0]).toEqual({ role: 'system', content: stableInstructions(answerOnly) });
      expect(withIt.slice(0, without.length)).toEqual(without);
      expect(withIt.at(-1)).toMatchObject({ role: 'system', content: expect.stringContaining('People are back Monday, November 30') });
      expect(withIt.at(-1)!.content).toContain('Europe/Berlin');
    });

    it('in the contact’s language', () => {
      const prompt = buildDecisionPrompt(answerOnly, ctx(closed, 'de'), 'turn');
      expect(prompt.at(-1)!.content).toContain('Montag, 30. November');
    });

    it('says when people are available', () => {
      const open = availabilityAt(answerOnly.businessHours, new Date('2026-11-30T10:00:00Z'))!;
      expect(buildDecisionPrompt(answerOnly, ctx(open), 'turn').at(-1)!.content).toContain('Human colleagues are available now');
    });
  });

  describe('guardrails while nobody is available', () => {
    it('answer-only: a handover that does not say when people are back sends messages.outsideHours', () => {
      const sut = applyGuardrails(answerOnly, proposal({ action: 'handover', message: 'A colleague will help you.', handoverReason: 'missing_knowledge' }), ctx(closed));
      expect(sut.decision.message).toBe(outsideHoursMessage(answerOnly, closed, 'en'));
      expect(sut.decision.handoverReason).toBe('missing_knowledge');
      expect(sut.fired).toContain('the handover message did not say when people are back; messages.outsideHours was sent instead');
    });

    it('answer-only: a handover that says it is kept, and replies and resolves are untouched', () => {
      expect(applyGuardrails(answerOnly, proposal({ action: 'handover', message: 'Our team is back Monday at 9:00.' }), ctx(closed)).decision.message).toBe('Our team is back Monday at 9:00.');
      expect(applyGuardrails(answerOnly, proposal({ action: 'resolve', message: 'Bye!' }), ctx(closed)).decision.action).toBe('resolve');
    });

    it('a forced handover tells the opening too', () => {
      const sut = applyGuardrails(answerOnly, proposal({ action: 'reply', message: 'Sure', confidence: 0.1 }), ctx(closed));
      expect(sut.decision).toMatchObject({ action: 'handover', handoverReason: 'low_confidence', message: outsideHoursMessage(answerOnly, closed, 'en') });
    });

    it('collect-and-handover: a resolve becomes a handover for outside_hours, and the LLM’s own handover counts as outside_hours', () => {
      const away = { ...closed, mode: 'collect-and-handover' as const };
      const resolved = applyGuardrails(collect, proposal({ action: 'resolve', message: 'Done!', contactAttributes: [{ name: 'order_number', value: 'A-1' }] }), ctx(away));
      expect(resolved.decision).toMatchObject({ action: 'handover', handoverReason: 'outside_hours', contactAttributes: { order_number: 'A-1' }, message: outsideHoursMessage(collect, away, 'en') });
      expect(resolved.forcedHandover).toMatch(/instead of resolving/);
      const handedOver = applyGuardrails(collect, proposal({ action: 'handover', message: 'Back Monday 9:00.', handoverReason: 'unsupported_request' }), ctx(away));
      expect(handedOver.decision).toMatchObject({ action: 'handover', handoverReason: 'outside_hours', message: 'Back Monday 9:00.' });
      expect(applyGuardrails(collect, proposal({ action: 'reply', message: 'What is your order number?' }), ctx(away)).decision.action).toBe('reply');
    });

    it('changes nothing when people are available or the agent has no hours', () => {
      const open = availabilityAt(collect.businessHours, new Date('2026-11-30T10:00:00Z'))!;
      expect(applyGuardrails(collect, proposal({ action: 'resolve', message: 'Bye' }), ctx(open)).decision.action).toBe('resolve');
      expect(applyGuardrails(collect, proposal({ action: 'handover', message: 'Hi' }), ctx(undefined)).decision.message).toBe('Hi');
    });
  });

  describe('eval cases with `at`', () => {
    const transcript = [{ direction: 'inbound' as const, text: 'Hi', payload: null, pending: true }];

    it('check the hours at the case’s instant, and ignore them without one', () => {
      const at = caseContext(answerOnly, { contactAttributes: {}, language: 'en', at: '2026-11-28T10:00:00+01:00' }, transcript);
      expect(at.availability).toMatchObject({ available: false, why: 'closed', opening: '2026-11-30T08:00:00.000Z' });
      expect(caseContext(answerOnly, { contactAttributes: {}, language: 'en' }, transcript).availability).toBeUndefined();
    });

    it('take an ISO time with its offset only', () => {
      const file = (at: string) => `agent: acme\ncases:\n  - id: c\n    at: "${at}"\n    transcript: [{ contact: hi }]\n    expect: { action: handover }\n`;
      expect(parseCaseFile(file('2026-12-24T20:00:00+01:00'), 'cases.yaml').cases[0].at).toBe('2026-12-24T20:00:00+01:00');
      expect(() => parseCaseFile(file('2026-12-24 20:00'), 'cases.yaml')).toThrow();
    });
  });
});
