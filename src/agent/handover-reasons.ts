/**
 * Why a conversation was handed over, in one taxonomy for the whole bridge: the LLM picks the first
 * five when it hands over on its own; guardrails, failures and timers set the rest. The console
 * ranks them and `session_outcomes.reason` keeps them (its migration freezes this list).
 */
export const HANDOVER_REASONS = [
  'customer_request',
  'missing_knowledge',
  'unsupported_request',
  'policy_restriction',
  'low_confidence',
  'tool_failure',
  'llm_failure',
  'va_deadline',
  'contact_timeout',
  'usage_limit',
  'outside_hours',
] as const;
export type HandoverReason = (typeof HANDOVER_REASONS)[number];

/** The reasons the LLM may give: what it can know from the conversation. */
export const LLM_HANDOVER_REASONS = ['customer_request', 'missing_knowledge', 'unsupported_request', 'policy_restriction', 'low_confidence'] as const;

/** How a resolved session ended: the contact confirmed (the agent resolved) or the contact timeout assumed it. */
export type Resolution = 'confirmed' | 'assumed';

/** What an ending call carries to the session's outcome (actions.end_reason). */
export type EndReason = HandoverReason | Resolution;
