/** The request is not from Inbox 2.0: signature missing or wrong, or outside the replay window. */
export class SignatureError extends Error {
  override name = 'SignatureError';
}

/** The body is not JSON, or a known event's data does not match its schema. */
export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

export class UnknownAgentError extends Error {
  override name = 'UnknownAgentError';
  constructor(agentId: string) {
    super(`no agent "${agentId}" is configured`);
  }
}

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
  constructor(limit: number) {
    super(`body is larger than ${limit} bytes`);
  }
}
