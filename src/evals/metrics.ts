import { ACTIONS, EXPECTED_HANDOVER_REASONS, acceptedActions, acceptedHandoverReasons, type EvalAction, type ExpectedHandoverReason, type Thresholds } from './case.schema.js';
import { attributeValue, costOf, decidedHandoverReason, normalize, outOfPolicyCount } from './score.js';
import { madeCall, unfixturedCall } from './fixture-actions.js';
import type { ActionCallStats, ActionStats, CaseRun, JudgeVerdict, Metrics, PriceTable, ThresholdResult, Usage } from './types.js';
import { sumUsage } from '../llm/llm.client.js';

/*
 * Definitions, for every report:
 *
 * - A run with `error` set (the eval could not run the case) counts in `runs`, `errors` and `cases`
 *   and as not passed; it is left out of every other count (matrix, accuracies, attributes, message
 *   checks, out-of-policy, latency), since the agent never decided anything. Its tokens and cost,
 *   if any, still count: they were spent.
 * - Rates are null when there was nothing to count; a threshold treats null as met (see checkThresholds).
 */

/** Where a run is counted in the confusion matrix: [row, column]. */
export function matrixCell(run: CaseRun): [expected: EvalAction, decided: EvalAction] {
  const accepted = acceptedActions(run.expect);
  const decided = run.decided.action;
  // A case accepting several actions expects whichever the agent chose, if it chose one of them:
  // a hit on the diagonal. A miss is charged to the first accepted action, the case's preferred one.
  return [accepted.includes(decided) ? decided : accepted[0], decided];
}

/**
 * Where a handover is counted in the matrix of reasons: [row, column], as matrixCell counts
 * actions. `none` is a handover without a reason.
 */
export function reasonCell(run: CaseRun): [expected: ExpectedHandoverReason, decided: ExpectedHandoverReason] {
  const accepted = acceptedHandoverReasons(run.expect) ?? [];
  const decided = decidedHandoverReason(run.decided);
  return [accepted.includes(decided) || !accepted.length ? decided : accepted[0], decided];
}

/** The key that scopes a case id to its agent, as flaky cases and comparisons name it. */
export function caseKey(run: Pick<CaseRun, 'agentId' | 'caseId'>): string {
  return `${run.agentId}/${run.caseId}`;
}

/**
 * Every aggregate of a report, as the `Metrics` interface describes it:
 *
 * - passRate: passed runs / all runs. passAllK: cases whose every run passed / cases (τ-bench's
 *   pass^k). cases: distinct agent + case id. repeat: the most runs of one case. flaky: cases
 *   with some runs passed and some failed, as "agent/case".
 * - confusion: rows are the expected action, columns the decided one (see matrixCell).
 *   perAction: precision = diagonal / column sum, recall = diagonal / row sum, support = row sum.
 * - actionAccuracy: runs whose action check passed / runs. handoverRecall: of the runs whose only
 *   acceptable action is handover, the share that handed over. topicAccuracy: over the runs whose
 *   case lists topics.
 * - attributes, per key, over the runs whose case lists attributes: tp = the expected value was
 *   set; fn = an expected value was missing or different; fp = the agent set a value the case did
 *   not want (a different value, a key expected null, or a key the case does not mention). A wrong
 *   value is thus both a fn and a fp.
 * - messageChecks: each messageIncludes and messageExcludes substring is one check.
 * - callAccuracy: over the runs whose case lists expect.calls, the share whose calls made (not
 *   refused) were exactly that set of actions. actionCalls, per action: every call asked for and
 *   its status; over the runs with expect.calls, expected and made, expected and not made, made
 *   and not expected. unfixturedCalls: calls answered "no fixture in this case", and their runs.
 * - handoverReasonAccuracy: over the runs that handed over and whose case lists
 *   expect.handoverReason, the share whose reason the case accepts (a missed handover is
 *   handoverRecall's to count, not this). handoverReasonConfusion: the same runs, rows the expected
 *   reason and columns the decided one (see reasonCell), in the taxonomy's order, `none` last.
 * - outOfPolicy: refused topics, refused attribute names and guardrails fired, each summed; total
 *   counts a guardrail that only reports a refused topic or attribute once (see outOfPolicyCount).
 * - guardrailsFired: grouped by their text with every number replaced by N, so that "confidence
 *   0.4 is under 0.6" and "confidence 0.5 is under 0.6" are one row, "confidence N is under N".
 * - latencyMs: nearest-rank percentiles. tokens: the agent's LLM calls; judgeTokens: the judge's;
 *   contactTokens: the simulated contacts' (none of them in the others).
 * - costUsd: the sum of the runs' estimates (the agent's calls only); null only when no run was
 *   priced; unpricedModels names the models whose runs are not in it. judgeCostUsd and
 *   contactCostUsd: the judge's and the simulated contacts' calls, priced from `prices` (by the
 *   judge's model and by each run's contactModel); null without `prices` or when none was priced.
 */
export function computeMetrics(runs: readonly CaseRun[], prices?: PriceTable): Metrics {
  const decided = runs.filter((r) => !r.error);

  const byCase = new Map<string, boolean[]>();
  for (const run of runs) {
    const key = caseKey(run);
    const results = byCase.get(key);
    if (results) results.push(passedRun(run));
    else byCase.set(key, [passedRun(run)]);
  }
  const caseResults = [...byCase.values()];
  const passed = runs.filter(passedRun).length;

  const confusion = emptyMatrix();
  for (const run of decided) {
    const [row, column] = matrixCell(run);
    confusion[row][column] += 1;
  }

  const handoverOnly = decided.filter((r) => {
    const accepted = new Set(acceptedActions(r.expect));
    return accepted.size === 1 && accepted.has('handover');
  });
  const withTopics = decided.filter((r) => r.expect.topics);
  const withCalls = decided.filter((r) => r.expect.calls);
  const reasoned = decided.filter((r) => r.expect.handoverReason !== undefined && r.decided.action === 'handover');
  const unfixtured = decided.map((r) => (r.decided.calls ?? []).filter(unfixturedCall).length);

  let messageTotal = 0;
  let messageFailed = 0;
  for (const run of decided) {
    messageTotal += (run.expect.messageIncludes?.length ?? 0) + (run.expect.messageExcludes?.length ?? 0);
    messageFailed += (run.checks.missingIncludes?.length ?? 0) + (run.checks.presentExcludes?.length ?? 0);
  }

  const judged = runs.map((r) => r.judge).filter((j) => j !== null);
  const judgeCalls = judged.filter((j): j is Extract<JudgeVerdict, { status: 'pass' | 'fail' }> => j.status === 'pass' || j.status === 'fail');
  const priced = runs.filter((r) => r.costUsd !== null);
  const latencies = decided.map((r) => r.latencyMs).sort((a, b) => a - b);
  const simulated = runs.filter((r): r is CaseRun & { contactUsage: Usage } => r.contactUsage !== undefined);

  return {
    runs: runs.length,
    cases: byCase.size,
    passed,
    passRate: ratio(passed, runs.length),
    passAllK: ratio(caseResults.filter((results) => results.every(Boolean)).length, caseResults.length),
    // A loop, not Math.max(...): a spread of 125k arguments overflows the stack.
    repeat: runs.length ? runs.reduce((most, r) => Math.max(most, r.repeat), 0) + 1 : 0,
    flaky: [...byCase].filter(([, results]) => results.some(Boolean) && !results.every(Boolean)).map(([key]) => key),
    actionAccuracy: ratio(decided.filter((r) => r.checks.action).length, decided.length),
    confusion,
    perAction: perAction(confusion),
    handoverRecall: ratio(handoverOnly.filter((r) => r.decided.action === 'handover').length, handoverOnly.length),
    topicAccuracy: ratio(withTopics.filter((r) => r.checks.topics === true).length, withTopics.length),
    callAccuracy: ratio(withCalls.filter((r) => r.checks.calls === true).length, withCalls.length),
    handoverReasonAccuracy: ratio(reasoned.filter((r) => r.checks.handoverReason === true).length, reasoned.length),
    handoverReasonConfusion: reasonConfusion(reasoned),
    actionCalls: actionCallStats(decided),
    unfixturedCalls: { calls: sum(unfixtured), runs: unfixtured.filter((n) => n > 0).length },
    attributes: attributeStats(decided),
    messageChecks: { passed: messageTotal - messageFailed, total: messageTotal },
    outOfPolicy: {
      total: sum(decided.map((r) => outOfPolicyCount(r.outOfPolicy))),
      topics: sum(decided.map((r) => r.outOfPolicy.topics.length)),
      attributes: sum(decided.map((r) => r.outOfPolicy.attributes.length)),
      guardrails: sum(decided.map((r) => r.outOfPolicy.guardrails.length)),
      runsWithAny: decided.filter((r) => r.outOfPolicy.topics.length + r.outOfPolicy.attributes.length + r.outOfPolicy.guardrails.length > 0)
        .length,
    },
    guardrailsFired: rank(decided.flatMap((r) => r.outOfPolicy.guardrails)),
    llmFailures: decided.filter((r) => r.failure !== null).length,
    errors: runs.length - decided.length,
    judge: {
      judged: judgeCalls.length,
      passed: judged.filter((j) => j.status === 'pass').length,
      failed: judged.filter((j) => j.status === 'fail').length,
      skipped: judged.filter((j) => j.status === 'skipped').length,
      errors: judged.filter((j) => j.status === 'error').length,
    },
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies.at(-1) ?? null },
    tokens: sumUsage(runs.map((r) => r.usage)),
    judgeTokens: sumUsage(judgeCalls.map((j) => j.usage)),
    contactTokens: sumUsage(simulated.map((r) => r.contactUsage)),
    costUsd: priced.length ? sum(priced.map((r) => r.costUsd ?? 0)) : null,
    // An eval error before any LLM call has no cost to miss: its model is not "unpriced".
    unpricedModels: [...new Set(runs.filter((r) => r.costUsd === null && !(r.error && !usedTokens(r.usage))).map((r) => r.model))].sort(),
    judgeCostUsd: prices ? pricedSum(judgeCalls.map((j) => costOf(j.model, j.usage, prices))) : null,
    contactCostUsd: prices
      ? pricedSum(simulated.filter((r) => usedTokens(r.contactUsage)).map((r) => (r.contactModel ? costOf(r.contactModel, r.contactUsage, prices) : null)))
      : null,
  };
}

/** Metrics per agent id, for a run over several agents. */
export function computeByAgent(runs: readonly CaseRun[], prices?: PriceTable): Record<string, Metrics> {
  const agents = [...new Set(runs.map((r) => r.agentId))].sort();
  return Object.fromEntries(agents.map((id) => [id, computeMetrics(runs.filter((r) => r.agentId === id), prices)]));
}

/** Runs and passed runs per tag, tags sorted; a run with several tags counts under each. */
export function computeByTag(runs: readonly CaseRun[]): Record<string, { runs: number; passed: number }> {
  const tags = [...new Set(runs.flatMap((r) => r.tags))].sort();
  return Object.fromEntries(
    tags.map((tag) => {
      const tagged = runs.filter((r) => r.tags.includes(tag));
      return [tag, { runs: tagged.length, passed: tagged.filter(passedRun).length }];
    }),
  );
}

// Rates are divisions: 0.7 * 30 / 30 must not fail a 0.7 minimum by a rounding error.
const EPSILON = 1e-9;

/**
 * The case file's thresholds against the metrics of its runs, in a fixed order, only the ones set.
 * handoverRecall, actionAccuracy, topicAccuracy, callAccuracy, handoverReasonAccuracy and passRate
 * are minimums; maxOutOfPolicy is a maximum on metrics.outOfPolicy.total. A rate that is null had
 * nothing to measure (no case must hand over, no case lists topics…) and meets its minimum: a
 * threshold cannot fail on cases the file does not have.
 *
 * passRate gates on the share of passed runs when each case ran once, and on pass^k
 * (metrics.passAllK, the share of cases that passed every one of their runs) when cases ran
 * several times (metrics.repeat > 1): a case that passes 2 runs of 3 is not settled, and must not
 * meet the threshold by its good runs. Its result says which in `basis`.
 */
export function checkThresholds(metrics: Metrics, thresholds: Thresholds): ThresholdResult[] {
  const results: ThresholdResult[] = [];
  const minimum = (name: 'handoverRecall' | 'actionAccuracy' | 'topicAccuracy' | 'callAccuracy' | 'handoverReasonAccuracy') => {
    const limit = thresholds[name];
    if (limit === undefined) return;
    const actual = metrics[name];
    results.push({ name, limit, actual, ok: meets(actual, limit) });
  };
  minimum('handoverRecall');
  minimum('actionAccuracy');
  minimum('topicAccuracy');
  minimum('callAccuracy');
  minimum('handoverReasonAccuracy');
  if (thresholds.passRate !== undefined) {
    const passK = metrics.repeat > 1;
    const actual = passK ? metrics.passAllK : metrics.passRate;
    results.push({ name: 'passRate', basis: passK ? 'pass^k' : 'runs', limit: thresholds.passRate, actual, ok: meets(actual, thresholds.passRate) });
  }
  if (thresholds.maxOutOfPolicy !== undefined) {
    const actual = metrics.outOfPolicy.total;
    results.push({ name: 'maxOutOfPolicy', limit: thresholds.maxOutOfPolicy, actual, ok: actual <= thresholds.maxOutOfPolicy });
  }
  return results;
}

function meets(actual: number | null, minimum: number): boolean {
  return actual === null || actual >= minimum - EPSILON;
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p% of them at or under it. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

function passedRun(run: CaseRun): boolean {
  return run.passed && !run.error;
}

function emptyMatrix(): Record<EvalAction, Record<EvalAction, number>> {
  const row = () => Object.fromEntries(ACTIONS.map((a) => [a, 0])) as Record<EvalAction, number>;
  return Object.fromEntries(ACTIONS.map((a) => [a, row()])) as Record<EvalAction, Record<EvalAction, number>>;
}

function perAction(confusion: Record<EvalAction, Record<EvalAction, number>>): Record<EvalAction, ActionStats> {
  const stats = ACTIONS.map((action): [EvalAction, ActionStats] => {
    const hits = confusion[action][action];
    const rowSum = sum(ACTIONS.map((decided) => confusion[action][decided]));
    const columnSum = sum(ACTIONS.map((expected) => confusion[expected][action]));
    return [action, { precision: ratio(hits, columnSum), recall: ratio(hits, rowSum), support: rowSum }];
  });
  return Object.fromEntries(stats) as Record<EvalAction, ActionStats>;
}

function reasonConfusion(runs: readonly CaseRun[]): Metrics['handoverReasonConfusion'] {
  const cells = runs.map(reasonCell);
  const rows = inTaxonomyOrder(cells.map(([row]) => row));
  // Every reason that occurs is a column, so a row's own reason (the diagonal) is there even at 0.
  const columns = inTaxonomyOrder(cells.flat());
  const matrix = Object.fromEntries(rows.map((row) => [row, Object.fromEntries(columns.map((column) => [column, 0]))]));
  for (const [row, column] of cells) matrix[row][column] += 1;
  return matrix;
}

/** Each reason once, in the taxonomy's order, `none` last; one it does not have (a stored report's), after them. */
function inTaxonomyOrder(reasons: readonly ExpectedHandoverReason[]): ExpectedHandoverReason[] {
  const rank = (r: string) => {
    const i = EXPECTED_HANDOVER_REASONS.indexOf(r as ExpectedHandoverReason);
    return i === -1 ? EXPECTED_HANDOVER_REASONS.length : i;
  };
  return [...new Set(reasons)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

type AttributeStats = Metrics['attributes'][string];

function attributeStats(runs: readonly CaseRun[]): Metrics['attributes'] {
  const counts = new Map<string, { tp: number; fp: number; fn: number }>();
  const count = (key: string) => {
    let c = counts.get(key);
    if (!c) counts.set(key, (c = { tp: 0, fp: 0, fn: 0 }));
    return c;
  };
  for (const run of runs) {
    const expected = run.expect.attributes;
    if (!expected) continue;
    const keys = new Set([...Object.keys(expected), ...Object.keys(run.decided.attributes)]);
    for (const key of keys) {
      const want = Object.hasOwn(expected, key) ? expected[key] : null;
      const got = attributeValue(run.decided.attributes, key);
      const right = want !== null && got !== undefined && normalize(got) === normalize(want);
      if (right) count(key).tp += 1;
      if (want !== null && !right) count(key).fn += 1;
      if (got !== undefined && !right) count(key).fp += 1;
    }
  }
  const keys = [...counts.keys()].sort();
  return Object.fromEntries(
    keys.map((key): [string, AttributeStats] => {
      const { tp, fp, fn } = counts.get(key)!;
      return [key, { precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn), tp, fp, fn }];
    }),
  );
}

function actionCallStats(runs: readonly CaseRun[]): Metrics['actionCalls'] {
  const stats = new Map<string, ActionCallStats>();
  const of = (name: string) => {
    let s = stats.get(name);
    if (!s) stats.set(name, (s = { asked: 0, byStatus: {}, expectedMade: 0, expectedNotMade: 0, madeNotExpected: 0 }));
    return s;
  };
  for (const run of runs) {
    const calls = run.decided.calls ?? [];
    for (const call of calls) {
      const s = of(call.name);
      s.asked += 1;
      s.byStatus[call.status] = (s.byStatus[call.status] ?? 0) + 1;
    }
    if (!run.expect.calls) continue;
    const expected = new Set(run.expect.calls);
    const made = new Set(calls.filter(madeCall).map((c) => c.name));
    for (const name of new Set([...expected, ...made])) {
      if (expected.has(name) && made.has(name)) of(name).expectedMade += 1;
      else if (expected.has(name)) of(name).expectedNotMade += 1;
      else of(name).madeNotExpected += 1;
    }
  }
  return Object.fromEntries([...stats].sort(([a], [b]) => a.localeCompare(b)));
}

/** A guardrail's text with every number replaced by N: the guardrail, not its figures of the run. */
export function guardrailPattern(text: string): string {
  return text.replace(/\d+(?:[.,]\d+)*/g, 'N');
}

function rank(items: readonly string[]): Metrics['guardrailsFired'] {
  const groups = new Map<string, Metrics['guardrailsFired'][number]>();
  for (const item of items) {
    const pattern = guardrailPattern(item);
    const group = groups.get(pattern);
    if (group) group.count += 1;
    else groups.set(pattern, pattern === item ? { guardrail: pattern, count: 1 } : { guardrail: pattern, count: 1, example: item });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.guardrail.localeCompare(b.guardrail));
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function pricedSum(costs: ReadonlyArray<number | null>): number | null {
  const known = costs.filter((c) => c !== null);
  return known.length ? sum(known) : null;
}

function usedTokens(usage: Usage): boolean {
  return usage.promptTokens + usage.completionTokens > 0;
}
