/** The platform answered `404`: the conversation is gone or no longer ours (a human took it, it timed out). */
export class ConversationLostError extends Error {
  override name = 'ConversationLostError';
  constructor(
    readonly conversationId: string,
    /** True when an earlier attempt of this same call may have been applied (its answer was lost). */
    readonly afterAmbiguousAttempt = false,
  ) {
    super(`conversation ${conversationId} is not assigned to this virtual agent (404)`);
  }
}

/** Refused before sending: the request breaks the contract. Never retried. */
export class InvalidInboxRequestError extends Error {
  override name = 'InvalidInboxRequestError';
}

/** The platform refused the request (`400` and other 4xx). Never retried. */
export class InboxRequestError extends Error {
  override name = 'InboxRequestError';
  constructor(
    readonly status: number,
    readonly answer: string,
    what: string,
  ) {
    super(`${what} was refused with ${status}: ${answer.slice(0, 500)}`);
  }
}

/** Credentials refused by the token endpoint, or a fresh token refused again. */
export class InboxAuthError extends Error {
  override name = 'InboxAuthError';
}

/** `429`, `5xx`, network errors or timeouts outlasted the retry bound. */
export class InboxUnavailableError extends Error {
  override name = 'InboxUnavailableError';
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(message);
  }
}
