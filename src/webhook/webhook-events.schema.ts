import { z } from 'zod';

// Every object is loose: the platform adds fields at any time and they must survive into the event log.
const loose = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape);

export const EVENT_TYPES = ['CONVERSATION_STARTED', 'CONVERSATION_DELEGATED', 'INBOUND_MESSAGE_RECEIVED'] as const;
export type KnownEventType = (typeof EVENT_TYPES)[number];

/** Nanosecond timestamps (`…26.635984618Z`) are cut to milliseconds, which is all a Date holds. */
const timestamp = z.string().transform((text, ctx) => {
  const ms = Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'is not an ISO-8601 time' });
    return z.NEVER;
  }
  return new Date(ms);
});

export const EnvelopeSchema = loose({
  timestamp,
  idempotencyKey: z.string().min(1).max(200),
  version: z.number().int().optional(),
  type: z.string().min(1).max(100),
  data: z.unknown(),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

const ref = loose({ id: z.string().optional(), name: z.string().optional() });
const contactProfile = loose({
  id: z.string().optional(),
  mediumContactProfileId: z.string().optional(),
  primaryIdentifier: z.string().optional(),
  secondaryIdentifier: z.string().optional(),
  pictureUrl: z.string().optional(),
  vip: z.boolean().optional(),
});
const contactAttribute = loose({ attribute: z.string(), value: z.string(), source: z.string().optional() });

export const ConversationOpenedSchema = loose({
  conversationId: z.string().min(1),
  medium: ref.nullish(),
  channel: ref.nullish(),
  language: z.string().nullish(),
  contactProfile: contactProfile.nullish(),
  contactAttributes: z.array(contactAttribute).nullish(),
});
export type ConversationOpened = z.infer<typeof ConversationOpenedSchema>;

export const InboundMessageSchema = loose({
  conversationId: z.string().min(1),
  message: loose({
    messageId: z.string().nullish(),
    text: z.string().nullish(),
    payload: z.string().nullish(),
  }),
  trigger: loose({ type: z.string().nullish(), action: z.string().nullish() }).nullish(),
  conversationTopics: z.array(z.string()).nullish(),
  channel: ref.nullish(),
  contactProfile: contactProfile.nullish(),
  medium: ref.nullish(),
});
export type InboundMessage = z.infer<typeof InboundMessageSchema>;

export type ParsedEvent =
  | { type: 'CONVERSATION_STARTED' | 'CONVERSATION_DELEGATED'; data: ConversationOpened }
  | { type: 'INBOUND_MESSAGE_RECEIVED'; data: InboundMessage }
  | { type: 'UNKNOWN'; data: unknown };

/** Parses `data` for a known type; an unknown type is kept as it is (the platform will add types). */
export type ParsedEventResult = { success: true; data: ParsedEvent } | { success: false; error: z.ZodError };

export function parseEventData(envelope: Envelope): ParsedEventResult {
  switch (envelope.type) {
    case 'CONVERSATION_STARTED':
    case 'CONVERSATION_DELEGATED': {
      const type = envelope.type;
      const result = ConversationOpenedSchema.safeParse(envelope.data);
      return result.success ? { success: true, data: { type, data: result.data } } : { success: false, error: result.error };
    }
    case 'INBOUND_MESSAGE_RECEIVED': {
      const result = InboundMessageSchema.safeParse(envelope.data);
      return result.success
        ? { success: true, data: { type: envelope.type, data: result.data } }
        : { success: false, error: result.error };
    }
    default:
      return { success: true, data: { type: 'UNKNOWN', data: envelope.data } };
  }
}
