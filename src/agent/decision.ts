import type { ActionCallSummary } from '../actions/action.port.js';
import type { RetrievedChunk } from '../knowledge/retrieval.js';
import type { Availability } from '../policy/availability.js';
import { z } from 'zod';
import { LLM_HANDOVER_REASONS, type HandoverReason } from './handover-reasons.js';

export type DecisionAction = 'reply' | 'resolve' | 'handover';

/** What the LLM must answer, exactly (every field required; "" and [] for none). */
export const LlmDecisionSchema = z
  .object({
    action: z.enum(['reply', 'resolve', 'handover']),
    message: z.string(),
    topics: z.array(z.string()),
    contactAttributes: z.array(z.object({ name: z.string(), value: z.string() }).strict()),
    confidence: z.number().min(0).max(1),
    reason: z.string(),
    handoverNote: z.string(),
    sources: z.array(z.string()),
    factual: z.boolean(),
    // Optional here so that an answer from before the field existed (stored, replayed) still parses.
    handoverReason: z.enum(['', ...LLM_HANDOVER_REASONS]).optional(),
  })
  .strict();
export type LlmDecision = z.infer<typeof LlmDecisionSchema>;

/** The same shape as JSON Schema for `response_format` (strict mode: all required, no extras). */
export const DECISION_JSON_SCHEMA = {
  name: 'decision',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['action', 'message', 'topics', 'contactAttributes', 'confidence', 'reason', 'handoverNote', 'sources', 'factual', 'handoverReason'],
    properties: {
      action: { type: 'string', enum: ['reply', 'resolve', 'handover'] },
      message: { type: 'string' },
      topics: { type: 'array', items: { type: 'string' } },
      contactAttributes: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'value'],
          properties: { name: { type: 'string' }, value: { type: 'string' } },
        },
      },
      confidence: { type: 'number' },
      reason: { type: 'string' },
      handoverNote: { type: 'string' },
      sources: { type: 'array', items: { type: 'string' } },
      factual: { type: 'boolean' },
      handoverReason: { type: 'string', enum: ['', ...LLM_HANDOVER_REASONS] },
    },
  },
};

export const SummarySchema = z.object({ summary: z.string() }).strict();
export const SUMMARY_JSON_SCHEMA = {
  name: 'summary',
  schema: { type: 'object', additionalProperties: false, required: ['summary'], properties: { summary: { type: 'string' } } },
};

/** A decision as the bridge acts on it: after guardrails, attributes as a map. */
export interface Decision {
  action: DecisionAction;
  message: string;
  topics: string[];
  contactAttributes: Record<string, string>;
  confidence: number;
  reason: string;
  handoverNote: string;
  /** The retrieved chunks the message relies on (ids the guardrail kept). */
  sources: string[];
  /** The message states facts about the company (its products, orders, policies): it needs a source when grounding is required. */
  factual: boolean;
  /** For a handover: why, in the bridge's taxonomy (set by the LLM, or by the guardrail or failure that forced it). */
  handoverReason?: HandoverReason;
}

export interface TranscriptEntry {
  direction: 'inbound' | 'outbound';
  text: string | null;
  payload: string | null;
  /** An inbound message this turn answers (not yet handled by an earlier turn). */
  pending?: boolean;
}

/** The text of the contact's messages a turn answers (not yet handled by an earlier turn). */
export function pendingContactText(ctx: Pick<ConversationContext, 'transcript'>): string[] {
  return ctx.transcript.filter((e) => e.direction === 'inbound' && e.pending && e.text).map((e) => e.text!);
}

/** What the engine knows of a conversation when it decides. */
export interface ConversationContext {
  mode: 'inception' | 'delegation';
  language: string | null;
  contactProfile: Record<string, unknown> | null;
  /** `source` as the platform sends it (AGENT, MEDIUM, CRM_CONFIRMED), when it does. */
  contactAttributes: Array<{ attribute: string; value: string; source?: string }>;
  /** Running summary of messages older than the transcript window. */
  summary: string | null;
  /** The most recent messages of the session, oldest first. */
  transcript: TranscriptEntry[];
  /** Turns the agent already took in this session. */
  agentTurns: number;
  channel?: Record<string, unknown> | null;
  medium?: Record<string, unknown> | null;
  /** The chunks of the agent's knowledge retrieved for this turn (agents with `knowledge` only). */
  knowledge?: RetrievedChunk[];
  /** Set when the knowledge base could not be searched for this turn. */
  knowledgeFailure?: string;
  /** The action calls made so far in this decision (set by the engine for the guardrails). */
  actionCalls?: ActionCallSummary[];
  /** Whether people can take the conversation now (agents with `businessHours` only): src/policy/availability.ts. */
  availability?: Availability;
}
