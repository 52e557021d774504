import type { ConversationContext } from '../agent/decision.js';
import { clip } from '../common/clip.js';
import type { ActionConfig } from './action.schema.js';

const normalize = (text: string) => text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

/**
 * The `requires` rule: each attribute an action requires must come from the contact, not from the
 * model. Where the action takes an argument of the same name, its value must be the attribute
 * already known for the contact or appear in what the contact wrote in the messages the model saw,
 * so a model cannot look up an order number it made up or read in an article. An attribute with no
 * such argument must simply be known. Returns why the call is refused, or null.
 */
export function provenanceProblem(action: ActionConfig, args: Record<string, unknown>, ctx: Pick<ConversationContext, 'contactAttributes' | 'transcript'>): string | null {
  const declared = (action.parameters as { properties?: Record<string, unknown> }).properties ?? {};
  const contactText = normalize(ctx.transcript.filter((e) => e.direction === 'inbound' && e.text).map((e) => e.text).join('\n'));
  for (const attribute of action.requires) {
    const known = ctx.contactAttributes.find((a) => a.attribute === attribute)?.value;
    if (!Object.hasOwn(declared, attribute) || args[attribute] === undefined) {
      if (!known) return `the contact's ${attribute} is not known yet: ask the contact for it first`;
      continue;
    }
    const value = normalize(String(args[attribute]));
    if (known !== undefined && normalize(known) === value) continue;
    if (value && contactText.includes(value)) continue;
    return `${attribute} "${clip(String(args[attribute]), 40)}" is not a value the contact gave: ask the contact for it`;
  }
  return null;
}
