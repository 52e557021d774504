import type { AgentConfig } from '../config/agents.schema.js';
import type { BusinessHoursConfig } from './business-hours.schema.js';
import { isOpen, nextOpening } from './business-hours.js';
import type { PolicyHandover } from './policy-handover.js';

/** What Inbox 2.0's user-presence API said of an organisation: `off` when the agent does not ask it. */
export type PresenceState = 'someone' | 'nobody' | 'unknown' | 'off';

/**
 * Whether people can take a conversation at one instant, as the turn decided it: an input of the
 * decision (ConversationContext.availability), stored with it so replay rebuilds the same prompt.
 */
export interface Availability {
  /** The instant it was decided for (ISO). */
  at: string;
  /** People can take the conversation now: inside the hours, and (when presence is known) someone online. */
  available: boolean;
  /** Why not: outside the hours (or a closure), or nobody online inside them. */
  why?: 'closed' | 'nobody_online';
  /** When people are back (ISO): the next opening; null when unknown (nobody online) or never. */
  opening: string | null;
  timeZone: string;
  mode: BusinessHoursConfig['outsideHours'];
  presence: PresenceState;
}

/** The availability of an agent with business hours at an instant; undefined for an agent without them. */
export function availabilityAt(hours: BusinessHoursConfig | undefined, at: Date, presence: PresenceState = 'off'): Availability | undefined {
  if (!hours) return undefined;
  const base = { at: at.toISOString(), timeZone: hours.timeZone, mode: hours.outsideHours, presence };
  if (!isOpen(hours, at)) {
    const opening = nextOpening(hours, at);
    return { ...base, available: false, why: 'closed', opening: opening ? opening.toISOString() : null };
  }
  // Only a definite "nobody" counts: an unknown or failed presence answer falls back to the clock.
  if (presence === 'nobody') return { ...base, available: false, why: 'nobody_online', opening: null };
  return { ...base, available: true, opening: null };
}

/** A BCP 47 tag Intl knows, from the conversation's language; English otherwise. */
export function localeOf(language: string | null | undefined): string {
  if (!language) return 'en';
  try {
    return Intl.DateTimeFormat.supportedLocalesOf([language.replace(/_/g, '-')])[0] ?? 'en';
  } catch {
    return 'en';
  }
}

/** The opening time as the contact reads it: in their language, in the agent's time zone, naming the zone. */
export function formatOpening(a: Pick<Availability, 'opening' | 'timeZone'>, language: string | null | undefined): string | undefined {
  if (!a.opening) return undefined;
  return new Intl.DateTimeFormat(localeOf(language), {
    timeZone: a.timeZone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
  }).format(new Date(a.opening));
}

/** `messages.outsideHours` with `{opening}` filled; the plain handover message when there is no opening to tell. */
export function outsideHoursMessage(agent: Pick<AgentConfig, 'messages'>, a: Availability, language: string | null | undefined): string {
  const opening = formatOpening(a, language);
  return opening ? agent.messages.outsideHours.replaceAll('{opening}', opening) : agent.messages.handover;
}

/**
 * Whether a message tells the opening time: its hour, as a number on its own (`9`, `09:00`, `9h`,
 * `9 Uhr`), on a 12-hour clock (`9 am`, `3pm`), or as hour and minutes on a 12-hour clock whatever
 * marks the half of the day (`2:30 م` for 14:30). Digits of any script count (`٩:٠٠`, `۱۴:۳۰`,
 * `९:००`: formatOpening writes them for ar-EG, fa, hi-IN-u-nu-deva). A heuristic, meant to catch a
 * handover line that forgot the time, not to parse every language.
 */
export function mentionsOpening(message: string, a: Pick<Availability, 'opening' | 'timeZone'>): boolean {
  if (!a.opening) return true;
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: a.timeZone, hourCycle: 'h23', hour: 'numeric', minute: '2-digit' }).formatToParts(new Date(a.opening));
  const hour = Number(parts.find((p) => p.type === 'hour')?.value);
  const minute = parts.find((p) => p.type === 'minute')?.value ?? '00';
  const h12 = hour % 12 === 0 ? 12 : hour % 12;
  const h24 = new RegExp(`(?<![\\d:.])0?${hour}(?!\\d)`);
  const twelve = new RegExp(`(?<![\\d:.])${h12}(?:[:.]\\d\\d)?\\s*(?:a\\.?m|p\\.?m)`, 'i');
  const clock12 = new RegExp(`(?<![\\d:.])0?${h12}[:.]${minute}(?!\\d)`);
  const text = asciiDigits(message);
  return h24.test(text) || twelve.test(text) || clock12.test(text);
}

const ND = /^\p{Nd}$/u;

/**
 * Every decimal digit (Unicode `Nd`: Arabic-Indic, Persian, Devanagari, Bengali, Thai…) as its ASCII
 * digit. Unicode encodes each script's digits as a contiguous run from 0 to 9 (a stability policy),
 * so a digit's value is its distance from the start of its run, modulo 10.
 */
export function asciiDigits(text: string): string {
  return text.replace(/\p{Nd}/gu, (digit) => {
    const cp = digit.codePointAt(0)!;
    if (cp <= 0x39) return digit;
    let start = cp;
    while (ND.test(String.fromCodePoint(start - 1))) start--;
    return String((cp - start) % 10);
  });
}

/** The turn's policy verdict for an agent set to `outsideHours: handover`: hand over without the LLM. */
export function availabilityHandover(agent: Pick<AgentConfig, 'messages'>, a: Availability | undefined, language: string | null | undefined): PolicyHandover | undefined {
  if (!a || a.available || a.mode !== 'handover') return undefined;
  return { reason: 'outside_hours', why: unavailableWhy(a), message: outsideHoursMessage(agent, a, language) };
}

/** In words, for the note and the audit trail (English, like the rest of the note): why nobody is available and when people are back. */
export function unavailableWhy(a: Availability): string {
  const when = (iso: string) =>
    new Intl.DateTimeFormat('en-GB', { timeZone: a.timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
  const back = a.opening
    ? `people are back ${when(a.opening)} (${a.timeZone})`
    : a.why === 'closed'
      ? 'no opening is scheduled'
      : 'it is within business hours, so someone may be back soon';
  return a.why === 'nobody_online'
    ? `the contact wrote ${when(a.at)} (${a.timeZone}) while nobody was online (Inbox 2.0 presence); ${back}`
    : `the contact wrote outside business hours, ${when(a.at)} (${a.timeZone}); ${back}`;
}

/** The system message that tells the LLM whether people are available now; it follows the stable prefix. */
export function availabilityInstructions(a: Availability, language: string | null | undefined): string {
  if (a.available) return '## Availability now\nHuman colleagues are available now: hand over as usual when the contact needs a person.';
  const opening = formatOpening(a, language);
  const nobody =
    a.why === 'nobody_online'
      ? 'Nobody from the team is online right now, although it is within business hours; a colleague may be back at any time, but you cannot say when.'
      : opening
        ? `Nobody from the team is available now: it is outside business hours. People are back ${opening} (time zone ${a.timeZone}).`
        : 'Nobody from the team is available now: it is outside business hours, and no opening time is known.';
  const tell = opening ? ` tell the contact in your message, in their language, that people are back ${opening}` : ' tell the contact in your message that a colleague will answer here as soon as one is available';
  const what =
    a.mode === 'collect-and-handover'
      ? `Do not try to solve the request and do not resolve the conversation. Ask for the details a colleague will need (the contact attributes listed above) and put what the contact gives in contactAttributes; once you have them, or the contact cannot give them, hand over (action "handover") and${tell}.`
      : `Answer and resolve as usual when you can. When the contact needs a person, hand over (action "handover") and${tell}; do not promise a faster answer.`;
  return `## Availability now\n${nobody}\n${what}`;
}

/**
 * The message of a handover while nobody is available: the LLM's own when it says when people are
 * back, else `messages.outsideHours` with the opening filled (also for a handover a guardrail or a
 * failure forced, whose message is the generic one). Undefined: keep the message as it is.
 */
export function outsideHoursHandoverMessage(agent: Pick<AgentConfig, 'messages'>, a: Availability | undefined, language: string | null | undefined, message: string): string | undefined {
  if (!a || a.available) return undefined;
  if (message && mentionsOpening(message, a)) return undefined;
  if (!message && !a.opening) return undefined; // nothing to tell: the agent's handover message goes out
  return outsideHoursMessage(agent, a, language);
}
