import type { AgentConfig } from '../config/agents.schema.js';
import { ATTRIBUTE_KEY } from '../config/agents.schema.js';
import type { HandoverReason } from './handover-reasons.js';
import { outsideHoursHandoverMessage } from '../policy/availability.js';
import { pendingContactText, type ConversationContext, type Decision, type LlmDecision } from './decision.js';

export interface GuardedDecision {
  decision: Decision;
  /** Each guardrail that changed something, in words for the audit trail and the handover note. */
  fired: string[];
  /** Set when a guardrail turned the LLM's reply or resolve into a handover: why, for the human. */
  forcedHandover?: string;
}

/**
 * Keeps whatever the LLM proposed inside what the team allowed. Pure: the same proposal and
 * context always give the same decision. Order matters: filtering first, then the reasons to hand
 * over, so a forced handover still carries the valid topics and attributes.
 */
export function applyGuardrails(agent: AgentConfig, proposed: LlmDecision, ctx: ConversationContext): GuardedDecision {
  const fired: string[] = [];

  const allowed = new Map(agent.topics.map((t) => [t.toLowerCase(), t]));
  const topics = [...new Set(proposed.topics.map((t) => allowed.get(t.trim().toLowerCase())).filter((t): t is string => !!t))];
  const dropped = proposed.topics.filter((t) => !allowed.has(t.trim().toLowerCase()));
  if (dropped.length) fired.push(`dropped topics outside the allow-list: ${dropped.join(', ')}`);

  // Own keys only, into a map: "constructor" or "__proto__" must not pass for a configured key.
  const accepted = new Map<string, string>();
  for (const { name, value } of proposed.contactAttributes) {
    const clean = value.trim();
    if (!Object.hasOwn(agent.contactAttributes, name) || !ATTRIBUTE_KEY.test(name)) {
      fired.push(`dropped attribute outside the configured keys: ${name}`);
    } else if (!clean) {
      fired.push(`dropped empty attribute: ${name}`);
    } else if (clean.length > agent.limits.maxAttributeLength) {
      fired.push(`dropped attribute over ${agent.limits.maxAttributeLength} characters: ${name}`);
    } else {
      accepted.set(name, clean);
    }
  }
  const contactAttributes = Object.fromEntries(accepted);

  let message = proposed.message.trim();
  if (message.length > agent.limits.maxMessageLength) {
    message = truncate(message, agent.limits.maxMessageLength);
    fired.push(`message cut to ${agent.limits.maxMessageLength} characters`);
  }

  // A citation must name a chunk this turn retrieved, or a call of this turn that returned a result:
  // an invented or stale id, or a failed lookup, proves nothing.
  const retrieved = new Set([...(ctx.knowledge ?? []).map((c) => c.id), ...(ctx.actionCalls ?? []).filter((c) => c.status === 'ok').map((c) => c.id)]);
  const sources = [...new Set(proposed.sources.map((id) => id.trim()).filter((id) => retrieved.has(id)))];
  const unknownSources = proposed.sources.filter((id) => !retrieved.has(id.trim()));
  if (unknownSources.length) fired.push(`dropped sources not retrieved for this turn: ${unknownSources.join(', ')}`);

  const handoverReason = proposed.action === 'handover' ? proposed.handoverReason || unstatedReason(ctx) : undefined;
  const decision: Decision = {
    action: proposed.action,
    message,
    topics,
    contactAttributes,
    confidence: proposed.confidence,
    reason: proposed.reason.trim(),
    handoverNote: proposed.handoverNote.trim(),
    sources,
    factual: proposed.factual,
    ...(handoverReason ? { handoverReason } : {}),
  };

  let forcedHandover: string | undefined;
  const forceHandover = (why: string, reason: HandoverReason) => {
    fired.push(why);
    forcedHandover = why;
    decision.action = 'handover';
    decision.handoverReason = reason;
    // The rejected reply is not sent; the contact gets the agent's handover message instead.
    decision.message = '';
  };

  const asksForHuman = pendingContactText(ctx).find((text) => mentionsAny(text, agent.humanRequestPhrases));
  const uncertain = (ctx.actionCalls ?? []).find((c) => c.status === 'unknown');
  if (uncertain && decision.action !== 'handover') {
    // An earlier attempt of this turn started a call with side effects and never learned its end: a person checks.
    forceHandover(`the outcome of ${uncertain.name} is unknown (an earlier attempt may have made it); a person must check`, 'tool_failure');
  } else if (asksForHuman !== undefined && decision.action !== 'handover') {
    forceHandover('the contact asked for a human', 'customer_request');
  } else if (decision.action !== 'handover' && ctx.agentTurns >= agent.limits.maxTurns) {
    forceHandover(`the agent reached its limit of ${agent.limits.maxTurns} turns`, 'usage_limit');
  } else if (decision.action === 'reply' && !decision.message) {
    forceHandover('the LLM chose to reply but wrote no message', 'llm_failure');
  } else if (decision.action !== 'handover' && decision.confidence < agent.limits.minConfidence) {
    forceHandover(`confidence ${decision.confidence} is under ${agent.limits.minConfidence}`, 'low_confidence');
  } else if (agent.knowledge?.requireGrounding && decision.action !== 'handover' && decision.message && decision.factual && decision.sources.length === 0) {
    // Grounding: a fact the team's articles do not back is a guess (in a reply or a closing line); a person answers instead.
    forceHandover(
      ctx.knowledgeFailure
        ? `the knowledge base could not be searched (${ctx.knowledgeFailure}), and the reply states facts`
        : retrieved.size === 0
          ? 'the knowledge base has no answer to this question'
          : 'the reply states facts but cites no article of the knowledge base nor a lookup',
      'missing_knowledge',
    );
  }

  // Nobody available (business hours, presence): src/policy/availability.ts.
  const away = ctx.availability?.available === false ? ctx.availability : undefined;
  if (away?.mode === 'collect-and-handover' && decision.action !== 'handover') {
    if (decision.action === 'resolve') forceHandover('nobody is available to finish the request: the agent collects the details and hands over instead of resolving', 'outside_hours');
  } else if (away?.mode === 'collect-and-handover' && !forcedHandover && decision.handoverReason !== 'customer_request') {
    decision.handoverReason = 'outside_hours';
  }
  if (away && decision.action === 'handover') {
    const told = outsideHoursHandoverMessage(agent, away, ctx.language, decision.message);
    if (told !== undefined) {
      if (decision.message) fired.push('the handover message did not say when people are back; messages.outsideHours was sent instead');
      decision.message = told;
    }
  }
  return { decision, fired, ...(forcedHandover ? { forcedHandover } : {}) };
}

/**
 * The LLM handed over without saying why: a failed lookup of this turn explains it best; else an
 * Inception agent could not help, and a Delegation agent handing back has (usually) done its task,
 * which is no failure at all (no reason).
 */
function unstatedReason(ctx: ConversationContext): HandoverReason | undefined {
  if ((ctx.actionCalls ?? []).some((c) => c.status !== 'ok' && c.status !== 'refused')) return 'tool_failure';
  return ctx.mode === 'delegation' ? undefined : 'unsupported_request';
}

/** Whole-word, case-insensitive: "human" matches "a Human please" but not "humanity". */
export function mentionsAny(text: string, phrases: readonly string[]): boolean {
  const normalized = ` ${text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ')} `;
  return phrases.some((p) => {
    const phrase = p.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
    return phrase.length > 0 && normalized.includes(` ${phrase} `);
  });
}

function truncate(text: string, max: number): string {
  const cut = text.slice(0, max - 1);
  const lastSpace = cut.lastIndexOf(' ');
  return `${(lastSpace > max * 0.6 ? cut.slice(0, lastSpace) : cut).trimEnd()}…`;
}
