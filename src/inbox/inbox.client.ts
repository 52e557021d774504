import type { AgentConfig } from '../config/agents.schema.js';
import type { ManipulateConversation } from './inbox.schemas.js';
import type { OnlineAgents } from './presence.schema.js';

/**
 * The bridge's only way to act on Inbox 2.0. Every method validates its request before anything is
 * sent and throws the typed errors of `inbox.errors.ts`:
 * - `ConversationLostError` on `404` (never retried): the VA no longer owns the conversation;
 * - `InboxRequestError` on other 4xx (never retried); `InvalidInboxRequestError` before sending;
 * - `InboxUnavailableError` when `429`/`5xx`/network/timeouts outlast the retry bound;
 * - `InboxAuthError` when the credentials are refused.
 */
export interface CallOptions {
  /**
   * Runs before every attempt, retries included; a throw ends the call without sending. The outbox
   * uses it to check that the call is still wanted (its lease held, its session current) each time.
   */
  beforeAttempt?: () => Promise<void>;
}

export abstract class InboxClient {
  /** The client of an agent's own organisation (`inbox:` in the agents file); this one when it names none. */
  forAgent(_agent: Pick<AgentConfig, 'organisation'>): InboxClient {
    return this;
  }

  abstract manipulateConversation(conversationId: string, body: ManipulateConversation, options?: CallOptions): Promise<void>;
  abstract uploadAttachment(conversationId: string, filename: string, bytes: Buffer, contentType: string): Promise<void>;
  abstract overwriteContactAttributes(contactProfileId: string, attributes: Record<string, string>): Promise<void>;

  /**
   * Who of the organisation is online (`GET /inbox/v1/user-presence/online-agents`, presence.schema.ts).
   * One attempt, no retries: its callers cache it and never wait on it. Throws `InboxAuthError` or
   * `InboxRequestError` (401/403: the app may not call it) like the other calls.
   */
  onlineAgents(): Promise<OnlineAgents> {
    return Promise.reject(new Error('this Inbox client cannot ask for presence'));
  }
}
