import type { ManipulateConversation } from './inbox.schemas.js';

/**
 * The bridge's only way to act on Inbox 2.0. Every method validates its request before anything is
 * sent and throws the typed errors of `inbox.errors.ts`:
 * - `ConversationLostError` on `404` (never retried): the VA no longer owns the conversation;
 * - `InboxRequestError` on other 4xx (never retried); `InvalidInboxRequestError` before sending;
 * - `InboxUnavailableError` when `429`/`5xx`/network/timeouts outlast the retry bound;
 * - `InboxAuthError` when the credentials are refused.
 */
export abstract class InboxClient {
  abstract manipulateConversation(conversationId: string, body: ManipulateConversation): Promise<void>;
  abstract uploadAttachment(conversationId: string, filename: string, bytes: Buffer, contentType: string): Promise<void>;
  abstract overwriteContactAttributes(contactProfileId: string, attributes: Record<string, string>): Promise<void>;
}
