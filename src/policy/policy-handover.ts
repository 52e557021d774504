import type { HandoverReason } from '../agent/handover-reasons.js';

/**
 * A policy's verdict that this turn is handed over without asking the LLM (a spent budget, an
 * agent set to hand over outside business hours). The turn records it as a decision like any
 * other, with no LLM request, and sends `message` with the note.
 */
export interface PolicyHandover {
  /** The taxonomy's reason (session_outcomes, the console). */
  reason: Extract<HandoverReason, 'usage_limit' | 'outside_hours'>;
  /** The guardrail line recorded with the decision, and the first line of the note: why, in words. */
  why: string;
  /** What the contact reads. */
  message: string;
}
