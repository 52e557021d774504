import type { ConversationContext } from '../agent/decision.js';
import type { ActionConfig } from './action.schema.js';

const normalize = (text: string) => text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Attribute sources the bridge takes as the contact's own or the platform's verified data. `AGENT`
 * (set by an agent, this virtual agent included) is not: a value the model stored itself must not
 * vouch for a lookup later, so it has to be found in what the contact wrote.
 */
const TRUSTED_SOURCES = new Set(['MEDIUM', 'CRM_CONFIRMED']);

/** The value as a whole token of the text: `A-12345` is not in "A-123456", `12` not in "0612345678". */
function wroteToken(text: string, value: string): boolean {
  return new RegExp(`(?:^|[^\\p{L}\\p{N}])${escape(value)}(?=$|[^\\p{L}\\p{N}])`, 'u').test(text);
}

/**
 * The `requires` rule: each attribute an action requires must come from the contact, not from the
 * model. Where the action takes an argument of the same name, its value must be the attribute as the
 * platform knows it (from the medium or a CRM, not one an agent set) or appear, as a whole token, in
 * what the contact wrote in the messages the model saw; so a model cannot look up an order number it
 * made up or read in an article or an earlier result. An attribute with no such argument must simply
 * be known. Returns why the call is refused, or null.
 */
export function provenanceProblem(action: ActionConfig, args: Record<string, unknown>, ctx: Pick<ConversationContext, 'contactAttributes' | 'transcript'>): string | null {
  const declared = (action.parameters as { properties?: Record<string, unknown> }).properties ?? {};
  const contactText = normalize(ctx.transcript.filter((e) => e.direction === 'inbound' && e.text).map((e) => e.text).join('\n'));
  for (const attribute of action.requires) {
    const attributes = ctx.contactAttributes.filter((a) => a.attribute === attribute);
    if (!Object.hasOwn(declared, attribute) || args[attribute] === undefined) {
      if (attributes.length === 0) return `the contact's ${attribute} is not known yet: ask the contact for it first`;
      continue;
    }
    const value = normalize(String(args[attribute]));
    const trusted = attributes.filter((a) => a.source !== undefined && TRUSTED_SOURCES.has(a.source)).map((a) => normalize(a.value));
    if (trusted.includes(value)) continue;
    if (value && wroteToken(contactText, value)) continue;
    return `${attribute}: the value is not one the contact gave: ask the contact for it`;
  }
  return null;
}
