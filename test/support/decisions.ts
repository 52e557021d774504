import type { LlmDecision } from '../../src/agent/decision.js';

/** What an LLM might answer: a plain reply unless the test says otherwise. */
export const proposal = (p: Partial<LlmDecision> = {}): LlmDecision => ({
  action: 'reply',
  message: 'Happy to help.',
  topics: [],
  contactAttributes: [],
  confidence: 0.9,
  reason: 'because',
  handoverNote: '',
  sources: [],
  factual: false,
  ...p,
});
