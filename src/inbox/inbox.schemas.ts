import { z } from 'zod';
import { ATTRIBUTE_KEY } from '../config/agents.schema.js';

export const ATTACHMENT_NAME = /^[A-Za-z0-9._-]+$/;
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;

const nonBlank = z.string().refine((s) => s.trim().length > 0, 'must not be empty');

const outgoingMessage = z
  .object({ text: nonBlank.optional(), attachment: z.string().regex(ATTACHMENT_NAME).optional() })
  .strict()
  .refine((m) => m.text !== undefined || m.attachment !== undefined, 'a message needs text or an attachment');

/** The body of `POST /inbox/v1/virtual-agent/conversations/{id}`, as the contract defines it. */
export const ManipulateConversationSchema = z
  .object({
    indicateTyping: z.enum(['START', 'STOP']).optional(),
    sendMessage: outgoingMessage.optional(),
    sendMessages: z.array(outgoingMessage).min(1).optional(),
    applyTopics: z.array(nonBlank).min(1).optional(),
    applyTags: z.array(z.object({ messageId: nonBlank, tag: nonBlank }).strict()).min(1).optional(),
    applyConversationNotes: z.array(z.object({ text: nonBlank }).strict()).min(1).optional(),
    setContactAttributes: z
      .record(z.string().regex(ATTRIBUTE_KEY, 'attribute keys must match ^[a-zA-Z0-9_]+$'), z.string())
      .refine((r) => Object.keys(r).length > 0, 'must set at least one attribute')
      .optional(),
    complete: z.enum(['HANDOVER', 'RESOLVED']).optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'the request does nothing');

export type ManipulateConversation = z.infer<typeof ManipulateConversationSchema>;

export const ContactAttributesOverwriteSchema = z
  .record(z.string().regex(ATTRIBUTE_KEY, 'attribute keys must match ^[a-zA-Z0-9_]+$'), z.string())
  .refine((r) => Object.keys(r).length > 0, 'must set at least one attribute');

export const TokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
});
