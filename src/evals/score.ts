import type { LlmDecision } from '../agent/decision.js';
import { NO_HANDOVER_REASON, acceptedActions, acceptedHandoverReasons, type CaseExpect, type ExpectedHandoverReason } from './case.schema.js';
import { argsInclude, callText, madeCall, unfixturedCall } from './fixture-actions.js';
import type { Checks, Decided, OutOfPolicy } from './types.js';

/** Case-insensitive, with runs of whitespace (a line break the model added, a double space) counted as one space. */
export function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim().toLowerCase();
}

/** The deterministic checks of one run: only the ones the case asks for, and whether they all passed. */
export function checkRun(expect: CaseExpect, decided: Decided): { checks: Checks; passed: boolean } {
  const checks: Checks = { action: acceptedActions(expect).includes(decided.action) };

  if (expect.topics) checks.topics = sameSet(expect.topics, decided.topics);

  if (expect.attributes) {
    checks.attributes = Object.fromEntries(
      Object.entries(expect.attributes).map(([key, want]) => {
        const got = attributeValue(decided.attributes, key);
        return [key, want === null ? got === undefined : got !== undefined && normalize(got) === normalize(want)];
      }),
    );
  }

  // Articles by name (the file name without extension, or the last part of the page URL).
  const cited = new Set((decided.sources ?? []).map(normalize));
  if (expect.sources) checks.missingSources = expect.sources.filter((a) => !cited.has(normalize(a)));
  // No answer in the knowledge base: the agent must hand over, resting on nothing.
  if (expect.grounded === false) checks.grounded = decided.action === 'handover' && cited.size === 0;
  if (expect.grounded === true) checks.grounded = cited.size > 0;

  // A call counts as made when the bridge's checks let it through (answered from a fixture, or not).
  const calls = decided.calls ?? [];
  const made = calls.filter(madeCall);
  if (expect.calls) {
    const names = new Set(made.map((c) => c.name));
    checks.calls = names.size === new Set(expect.calls).size && expect.calls.every((name) => names.has(name));
  }
  if (expect.callArgs) {
    checks.callArgs = Object.fromEntries(
      Object.entries(expect.callArgs).map(([name, args]) => [name, made.some((c) => c.name === name && argsInclude(c.args ?? {}, args))]),
    );
  }
  // Not the agent's fault, but not a pass either: the case never said what the call returns.
  const unfixtured = calls.filter(unfixturedCall);
  if (unfixtured.length) checks.unfixtured = unfixtured.map(callText);

  // Judged on a handover only; a case that must hand over fails it without one, as with `grounded: false`.
  const reasons = acceptedHandoverReasons(expect);
  if (reasons && decided.action === 'handover') checks.handoverReason = reasons.includes(decidedHandoverReason(decided));
  else if (reasons && acceptedActions(expect).every((a) => a === 'handover')) checks.handoverReason = false;

  const message = normalize(decided.message);
  if (expect.messageIncludes) checks.missingIncludes = expect.messageIncludes.filter((s) => !message.includes(normalize(s)));
  if (expect.messageExcludes) checks.presentExcludes = expect.messageExcludes.filter((s) => message.includes(normalize(s)));

  const passed =
    checks.action &&
    checks.topics !== false &&
    Object.values(checks.attributes ?? {}).every(Boolean) &&
    !checks.missingIncludes?.length &&
    !checks.presentExcludes?.length &&
    !checks.missingSources?.length &&
    checks.grounded !== false &&
    checks.calls !== false &&
    Object.values(checks.callArgs ?? {}).every(Boolean) &&
    checks.handoverReason !== false &&
    !checks.unfixtured?.length;
  return { checks, passed };
}

/** A handover's reason as a case names it: `none` when the decision carries none (a Delegation hand-back). */
export function decidedHandoverReason(decided: Pick<Decided, 'handoverReason'>): ExpectedHandoverReason {
  return decided.handoverReason ?? NO_HANDOVER_REASON;
}

/**
 * The value the agent set for a key, or undefined. Own keys only, so a case expecting
 * `constructor: null` is not fooled by Object.prototype; an empty value counts as not set, as the
 * guardrails never send one.
 */
export function attributeValue(attributes: Record<string, string>, key: string): string | undefined {
  if (!Object.hasOwn(attributes, key)) return undefined;
  const value = attributes[key];
  return value.trim() ? value : undefined;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a.map(normalize));
  const right = new Set(b.map(normalize));
  return left.size === right.size && [...left].every((t) => right.has(t));
}

/**
 * What the LLM proposed outside the agent's allow-lists, matched as src/agent/guardrails.ts
 * matches them (topics trimmed and case-insensitive, attribute names exact), each listed once,
 * trimmed.
 */
export function outOfPolicy(
  proposed: LlmDecision | null,
  allowedTopics: readonly string[],
  attributeKeys: readonly string[],
  guardrails: readonly string[],
): OutOfPolicy {
  const allowed = new Set(allowedTopics.map((t) => t.trim().toLowerCase()));
  const keys = new Set(attributeKeys);
  const topics = uniqueBy(
    (proposed?.topics ?? []).map((t) => t.trim()).filter((t) => !allowed.has(t.toLowerCase())),
    (t) => t.toLowerCase(),
  );
  const attributes = uniqueBy(
    (proposed?.contactAttributes ?? []).map((a) => a.name).filter((name) => !keys.has(name)),
    (name) => name,
  );
  return { topics, attributes, guardrails: [...guardrails] };
}

function uniqueBy(items: string[], key: (item: string) => string): string[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/*
 * The guardrails report each refused topic and attribute name too ("dropped topics outside the
 * allow-list: VIP"). Counting those lines as well would count one proposal twice. The prefixes are
 * the ones src/agent/guardrails.ts writes; score.spec.ts runs the real guardrails to keep them true.
 */
const DROP_REPORTS = ['dropped topics outside the allow-list', 'dropped attribute outside the configured keys'];

/** One run's out-of-policy count: each refused topic, each refused attribute name, each other guardrail that fired. */
export function outOfPolicyCount(o: OutOfPolicy): number {
  const others = o.guardrails.filter((g) => !DROP_REPORTS.some((prefix) => g.startsWith(prefix)));
  return o.topics.length + o.attributes.length + others.length;
}

// The cost estimate is shared with the budgets (src/policy/); it lives beside the LLM port.
export { costOf, priceOf } from '../llm/pricing.js';
