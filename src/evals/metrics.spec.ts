import type { ActionCallSummary } from '../actions/action.port.js';
import type { CaseExpect } from './case.schema.js';
import { NO_FIXTURE } from './fixture-actions.js';
import { checkThresholds, computeByAgent, computeByTag, computeMetrics, percentile } from './metrics.js';
import { fakeRun } from '../../test/support/eval-runs.js';
import type { CaseRun, Decided, JudgeVerdict, Metrics } from './types.js';

interface RunSpec {
  id: string;
  expect: CaseExpect;
  decided?: Partial<Decided>;
  extra?: Partial<CaseRun>;
}

function run({ id, expect, decided = {}, extra = {} }: RunSpec): CaseRun {
  return fakeRun(id, expect, decided, extra);
}

const judged = (status: 'pass' | 'fail', promptTokens: number, completionTokens: number): JudgeVerdict => ({
  status,
  reason: `judge says ${status}`,
  model: 'judge-1',
  usage: { promptTokens, completionTokens, cachedTokens: 0 },
  latencyMs: 50,
});

const LOW_CONFIDENCE = 'confidence 0.4 is under 0.6';
const LOWER_CONFIDENCE = 'confidence 0.35 is under 0.6';

/*
 * Ten runs, one per case. Expected (row) → decided (column):
 *   reply:    c1 reply, c2 reply, c3 handover
 *   resolve:  c4 resolve, c5 reply, c10 handover (c10 accepts resolve or reply: charged to resolve)
 *   handover: c6, c7, c9 handover (c9 accepts reply or handover: a hit), c8 reply
 * Passed: c1, c4, c6, c9.
 */
const TEN: CaseRun[] = [
  run({ id: 'c1', expect: { action: 'reply', topics: ['Billing'] }, decided: { topics: ['billing'], attributes: { order_number: 'Q' } }, extra: { tags: ['billing', 'en'], judge: judged('pass', 100, 10) } }),
  run({ id: 'c2', expect: { action: 'reply', topics: ['Billing', 'Shipping'] }, decided: { topics: ['Billing'] }, extra: { tags: ['billing'], judge: judged('fail', 200, 20) } }),
  run({
    id: 'c3',
    expect: { action: 'reply', attributes: { email: 'x@y.z' } },
    decided: { action: 'handover' },
    extra: {
      failure: 'the LLM answered invalid JSON twice',
      outOfPolicy: { topics: ['VIP'], attributes: [], guardrails: ['dropped topics outside the allow-list: VIP', LOW_CONFIDENCE] },
      judge: { status: 'skipped', reason: 'no judge model' },
    },
  }),
  run({
    id: 'c4',
    expect: { action: 'resolve', topics: [], messageIncludes: ['refund'], messageExcludes: ['sorry'] },
    decided: { action: 'resolve', message: 'Refund done.' },
    extra: { judge: { status: 'error', reason: 'timeout' } },
  }),
  run({ id: 'c5', expect: { action: 'resolve', messageExcludes: ['guarantee'] }, decided: { message: 'We guarantee it.' } }),
  run({ id: 'c6', expect: { action: 'handover', attributes: { order_number: 'A-1', iban: null } }, decided: { action: 'handover', attributes: { order_number: 'a-1 ' } }, extra: { tags: ['handover'] } }),
  run({ id: 'c7', expect: { action: 'handover', attributes: { order_number: 'A-2' } }, decided: { action: 'handover', attributes: { order_number: 'A-3' } }, extra: { tags: ['handover'] } }),
  run({ id: 'c8', expect: { action: 'handover', attributes: { order_number: null } }, decided: { attributes: { order_number: 'X' } }, extra: { tags: ['handover'] } }),
  run({ id: 'c9', expect: { action: ['reply', 'handover'], attributes: { email: 'a@b.c' } }, decided: { action: 'handover', attributes: { email: 'A@B.C', order_number: 'Z' } } }),
  run({
    id: 'c10',
    expect: { action: ['resolve', 'reply'] },
    decided: { action: 'handover' },
    extra: {
      model: 'mystery',
      costUsd: null,
      outOfPolicy: { topics: [], attributes: ['iban'], guardrails: ['dropped attribute outside the configured keys: iban', LOWER_CONFIDENCE] },
    },
  }),
].map((r, i) => ({ ...r, latencyMs: (i + 1) * 100 }));

describe(computeMetrics.name, () => {
  const sut = computeMetrics(TEN, { 'judge-1': { input: 1, output: 10 } });

  it('builds the confusion matrix, a hit on the diagonal when the decided action is acceptable', () => {
    expect(sut.confusion).toEqual({
      reply: { reply: 2, resolve: 0, handover: 1 },
      resolve: { reply: 1, resolve: 1, handover: 1 },
      handover: { reply: 1, resolve: 0, handover: 3 },
    });
  });

  it('gives precision by column, recall and support by row', () => {
    expect(sut.perAction.reply).toEqual({ precision: 2 / 4, recall: 2 / 3, support: 3 });
    expect(sut.perAction.resolve).toEqual({ precision: 1, recall: 1 / 3, support: 3 });
    expect(sut.perAction.handover).toEqual({ precision: 3 / 5, recall: 3 / 4, support: 4 });
  });

  it('measures action accuracy, handover recall over handover-only cases, and topic accuracy', () => {
    expect(sut.actionAccuracy).toBe(0.6);
    // c6, c7 and c8 accept only handover; c9 also accepts reply and is not counted.
    expect(sut.handoverRecall).toBe(2 / 3);
    // c1 right, c2 missing Shipping, c4 expects no topic and got none.
    expect(sut.topicAccuracy).toBe(2 / 3);
  });

  it('counts attribute hits, wrong or unwanted values, and misses per key', () => {
    expect(sut.attributes).toEqual({
      // c9 right; c3 missed it.
      email: { tp: 1, fp: 0, fn: 1, precision: 1, recall: 0.5 },
      // c6 right; c7 wrong (fp and fn); c8 set where null was expected; c9 set where not mentioned. c1 lists no attributes: not counted.
      order_number: { tp: 1, fp: 3, fn: 1, precision: 0.25, recall: 0.5 },
    });
  });

  it('counts each message substring as one check', () => {
    expect(sut.messageChecks).toEqual({ passed: 2, total: 3 });
  });

  it('counts the pass rate over runs and cases', () => {
    expect(sut).toMatchObject({ runs: 10, cases: 10, passed: 4, passRate: 0.4, passAllK: 0.4, repeat: 1, flaky: [], errors: 0, llmFailures: 1 });
  });

  it('sums out-of-policy proposals without counting a refused topic twice, and ranks the guardrails', () => {
    expect(sut.outOfPolicy).toEqual({ total: 4, topics: 1, attributes: 1, guardrails: 4, runsWithAny: 2 });
    // 0.4 and 0.35 under 0.6 are the same guardrail: one row, with the first as its example.
    expect(sut.guardrailsFired).toEqual([
      { guardrail: 'confidence N is under N', count: 2, example: LOW_CONFIDENCE },
      { guardrail: 'dropped attribute outside the configured keys: iban', count: 1 },
      { guardrail: 'dropped topics outside the allow-list: VIP', count: 1 },
    ]);
  });

  it('takes nearest-rank latency percentiles, sums tokens and the priced costs, and names the unpriced model', () => {
    expect(sut.latencyMs).toEqual({ p50: 500, p95: 1000, max: 1000 });
    expect(sut.tokens).toEqual({ promptTokens: 10_000, completionTokens: 1000, cachedTokens: 2000 });
    expect(sut.costUsd).toBeCloseTo(0.009, 12);
    expect(sut.unpricedModels).toEqual(['mystery']);
  });

  it('counts the judge apart, with its tokens and cost', () => {
    expect(sut.judge).toEqual({ judged: 2, passed: 1, failed: 1, skipped: 1, errors: 1 });
    expect(sut.judgeTokens).toEqual({ promptTokens: 300, completionTokens: 30, cachedTokens: 0 });
    expect(sut.judgeCostUsd).toBeCloseTo((300 * 1 + 30 * 10) / 1e6, 15);
    expect(computeMetrics(TEN).judgeCostUsd).toBeNull();
  });

  it('counts no simulated contact when no case was simulated', () => {
    expect(sut.contactTokens).toEqual({ promptTokens: 0, completionTokens: 0, cachedTokens: 0 });
    expect(sut.contactCostUsd).toBeNull();
  });

  it('leaves an eval error out of the matrix and the rates but counts it as a failed run', () => {
    const error = run({ id: 'c11', expect: { action: 'handover' }, decided: { action: 'handover' }, extra: { error: 'no agent "x"', model: '', costUsd: null, latencyMs: 0, usage: { promptTokens: 0, completionTokens: 0, cachedTokens: 0 } } });
    const withError = computeMetrics([...TEN, error]);
    expect(withError).toMatchObject({ runs: 11, cases: 11, passed: 4, errors: 1, actionAccuracy: 0.6, handoverRecall: 2 / 3 });
    expect(withError.passRate).toBe(4 / 11);
    expect(withError.confusion).toEqual(sut.confusion);
    expect(withError.latencyMs).toEqual(sut.latencyMs);
    expect(withError.unpricedModels).toEqual(['mystery']);
  });

  it('is all nulls and zeros over no run', () => {
    const empty = computeMetrics([]);
    expect(empty).toMatchObject({ runs: 0, cases: 0, passRate: null, passAllK: null, repeat: 0, actionAccuracy: null, handoverRecall: null, costUsd: null });
    expect(empty.latencyMs).toEqual({ p50: null, p95: null, max: null });
    expect(empty.perAction.reply).toEqual({ precision: null, recall: null, support: 0 });
  });
});

describe('action calls', () => {
  const call = (name: string, status: ActionCallSummary['status'], error: string | null = null): ActionCallSummary => ({
    id: 'act-1',
    name,
    args: { order_number: 'A-12345' },
    status,
    httpStatus: null,
    result: null,
    error,
    latencyMs: 0,
    line: '',
  });
  // a: expected and made; b: expected, only refused; c: none expected, one made; d: no expectation; e: no fixture.
  const runs = [
    run({ id: 'a', expect: { action: 'reply', calls: ['order_status'] }, decided: { calls: [call('order_status', 'ok'), call('order_status', 'http_error', 'HTTP 404')] } }),
    run({ id: 'b', expect: { action: 'reply', calls: ['order_status'] }, decided: { calls: [call('order_status', 'refused', 'not a value the contact gave')] } }),
    run({ id: 'c', expect: { action: 'reply', calls: [] }, decided: { calls: [call('track', 'timeout', 'no answer within 3000 ms')] } }),
    run({ id: 'd', expect: { action: 'reply' }, decided: { calls: [call('order_status', 'ok')] } }),
    run({ id: 'e', expect: { action: 'reply' }, decided: { calls: [call('order_status', 'skipped', NO_FIXTURE), call('track', 'skipped', `${NO_FIXTURE} for these arguments`)] } }),
  ];

  it('measures expected vs made calls over the cases that list them, and counts every call by action and outcome', () => {
    const sut = computeMetrics([...TEN, ...runs]);
    expect(sut.callAccuracy).toBe(1 / 3);
    expect(sut.actionCalls).toEqual({
      order_status: { asked: 5, byStatus: { ok: 2, http_error: 1, refused: 1, skipped: 1 }, expectedMade: 1, expectedNotMade: 1, madeNotExpected: 0 },
      track: { asked: 2, byStatus: { timeout: 1, skipped: 1 }, expectedMade: 0, expectedNotMade: 0, madeNotExpected: 1 },
    });
    expect(sut.unfixturedCalls).toEqual({ calls: 2, runs: 1 });
    expect(runs.find((r) => r.caseId === 'e')!.passed).toBe(false);
    expect(checkThresholds(sut, { callAccuracy: 0.5 })).toEqual([{ name: 'callAccuracy', limit: 0.5, actual: 1 / 3, ok: false }]);
  });

  it('has no call accuracy where no case lists expect.calls', () => {
    expect(computeMetrics(TEN)).toMatchObject({ callAccuracy: null, actionCalls: {}, unfixturedCalls: { calls: 0, runs: 0 } });
  });
});

describe('handover reasons', () => {
  const handover = (id: string, expect: CaseExpect, handoverReason?: Decided['handoverReason']) =>
    run({ id, expect, decided: { action: 'handover', ...(handoverReason ? { handoverReason } : {}) } });
  // h1, h2 and h4 right; h3 wrong; h5 no reason where one was expected; h6 a missed handover; h7 names no reason.
  const runs = [
    handover('h1', { action: 'handover', handoverReason: 'customer_request' }, 'customer_request'),
    handover('h2', { action: 'handover', handoverReason: ['policy_restriction', 'unsupported_request'] }, 'unsupported_request'),
    handover('h3', { action: 'handover', handoverReason: ['policy_restriction', 'unsupported_request'] }, 'low_confidence'),
    handover('h4', { action: 'handover', handoverReason: 'none' }),
    handover('h5', { action: ['reply', 'handover'], handoverReason: 'customer_request' }),
    run({ id: 'h6', expect: { action: 'handover', handoverReason: 'customer_request' } }),
    handover('h7', { action: 'handover' }, 'missing_knowledge'),
  ];

  it('measures the share of handovers with an acceptable reason, over the handovers whose case names one', () => {
    const sut = computeMetrics([...TEN, ...runs]);
    // h6 did not hand over: handover recall counts it, not this. h7 names no reason.
    expect(sut.handoverReasonAccuracy).toBe(3 / 5);
    expect(runs.map((r) => r.checks.handoverReason)).toEqual([true, true, false, true, false, false, undefined]);
  });

  it('counts expected against decided reasons, in the taxonomy’s order, `none` last, every reason that occurs a column', () => {
    const sut = computeMetrics(runs);
    expect(sut.handoverReasonConfusion).toEqual({
      customer_request: { customer_request: 1, unsupported_request: 0, policy_restriction: 0, low_confidence: 0, none: 1 },
      // h2 chose one of the accepted reasons: on the diagonal; h3 did not: under the case's first.
      unsupported_request: { customer_request: 0, unsupported_request: 1, policy_restriction: 0, low_confidence: 0, none: 0 },
      policy_restriction: { customer_request: 0, unsupported_request: 0, policy_restriction: 0, low_confidence: 1, none: 0 },
      none: { customer_request: 0, unsupported_request: 0, policy_restriction: 0, low_confidence: 0, none: 1 },
    });
    expect(Object.keys(sut.handoverReasonConfusion.none)).toEqual(['customer_request', 'unsupported_request', 'policy_restriction', 'low_confidence', 'none']);
  });

  it('has no accuracy and an empty matrix where no handover has an expected reason, and gates on a minimum', () => {
    expect(computeMetrics(TEN)).toMatchObject({ handoverReasonAccuracy: null, handoverReasonConfusion: {} });
    const sut = computeMetrics(runs);
    expect(checkThresholds(sut, { handoverReasonAccuracy: 0.8, callAccuracy: 0.5, passRate: 0 })).toEqual([
      { name: 'callAccuracy', limit: 0.5, actual: null, ok: true },
      { name: 'handoverReasonAccuracy', limit: 0.8, actual: 0.6, ok: false },
      // h1, h2, h4 and h7 passed.
      { name: 'passRate', basis: 'runs', limit: 0, actual: 4 / 7, ok: true },
    ]);
  });
});

describe('repeated runs', () => {
  const rep = (id: string, repeat: number, ok: boolean, agentId = 'acme') =>
    run({ id, expect: { action: 'reply' }, decided: { action: ok ? 'reply' : 'handover' }, extra: { repeat, agentId } });

  it('computes pass^k over cases and lists the flaky ones', () => {
    const sut = computeMetrics([rep('a', 0, true), rep('a', 1, false), rep('b', 0, true), rep('b', 1, true), rep('c', 0, false), rep('c', 1, false)]);
    expect(sut).toMatchObject({ runs: 6, cases: 3, passed: 3, passRate: 0.5, passAllK: 1 / 3, repeat: 2, flaky: ['acme/a'] });
  });

  it('scopes a case id to its agent', () => {
    const sut = computeMetrics([rep('a', 0, true, 'acme'), rep('a', 0, false, 'globex')]);
    expect(sut).toMatchObject({ cases: 2, passAllK: 0.5, flaky: [] });
  });
});

describe('simulated contacts', () => {
  const contact = (promptTokens: number, completionTokens: number, cachedTokens = 0) => ({ promptTokens, completionTokens, cachedTokens });
  const sims = [
    run({ id: 's1', expect: { action: 'reply' }, extra: { kind: 'simulation', contactModel: 'contact-1', contactUsage: contact(1000, 200, 400) } }),
    run({ id: 's2', expect: { action: 'reply' }, extra: { kind: 'simulation', contactModel: 'contact-1', contactUsage: contact(3000, 100) } }),
    // Played by a model the table does not price: not in the cost.
    run({ id: 's3', expect: { action: 'reply' }, extra: { kind: 'simulation', contactModel: 'unknown', contactUsage: contact(500, 50) } }),
  ];
  // $2 / $1 cached / $10 per million tokens.
  const prices = { 'contact-1': { input: 2, cachedInput: 1, output: 10 }, 'gpt-4.1-mini': { input: 0.4, output: 1.6 } };

  it('sums the contact’s tokens apart from the agent’s, and prices them by the run’s contact model', () => {
    const sut = computeMetrics([...TEN, ...sims], prices);
    expect(sut.contactTokens).toEqual({ promptTokens: 4500, completionTokens: 350, cachedTokens: 400 });
    // s1: 600 × 2 + 400 × 1 + 200 × 10 = 3600; s2: 3000 × 2 + 100 × 10 = 7000; s3 unpriced.
    expect(sut.contactCostUsd).toBeCloseTo(10_600 / 1e6, 15);
    // The agent's tokens and cost are the runs' own: 13 runs of the fixture's 1000 / 100 / 200.
    expect(sut.tokens).toEqual({ promptTokens: 13_000, completionTokens: 1300, cachedTokens: 2600 });
    expect(sut.costUsd).toBeCloseTo(0.012, 12);
  });

  it('has no contact cost without a price table or a contact model', () => {
    expect(computeMetrics(sims).contactCostUsd).toBeNull();
    const noModel = sims.map(({ contactModel: _model, ...r }) => r);
    expect(computeMetrics(noModel, prices)).toMatchObject({ contactCostUsd: null, contactTokens: { promptTokens: 4500 } });
  });
});

describe('a large suite', () => {
  it('computes over 150,000 runs without overflowing the stack', () => {
    const base = run({ id: 'x', expect: { action: 'reply' } });
    const runs = Array.from({ length: 150_000 }, (_, i): CaseRun => ({ ...base, caseId: `c${i % 50_000}`, repeat: Math.floor(i / 50_000) }));
    const sut = computeMetrics(runs);
    expect(sut).toMatchObject({ runs: 150_000, cases: 50_000, repeat: 3, passAllK: 1 });
  });
});

describe(computeByTag.name, () => {
  it('counts runs and passes under each of a run’s tags', () => {
    expect(computeByTag(TEN)).toEqual({ billing: { runs: 2, passed: 1 }, en: { runs: 1, passed: 1 }, handover: { runs: 3, passed: 1 } });
  });
});

describe(computeByAgent.name, () => {
  it('computes the metrics of each agent apart', () => {
    const sut = computeByAgent([...TEN.slice(0, 4), ...TEN.slice(4).map((r) => ({ ...r, agentId: 'globex' }))]);
    expect(Object.keys(sut)).toEqual(['acme', 'globex']);
    expect(sut.acme).toMatchObject({ runs: 4, passed: 2 });
    expect(sut.globex).toMatchObject({ runs: 6, passed: 2, handoverRecall: 2 / 3 });
  });
});

describe(checkThresholds.name, () => {
  const metrics = computeMetrics(TEN);

  it('checks minimums and the out-of-policy maximum, only those set, in a fixed order', () => {
    expect(checkThresholds(metrics, { maxOutOfPolicy: 3, passRate: 0.4, topicAccuracy: 0.5, actionAccuracy: 0.7, handoverRecall: 0.6 })).toEqual([
      { name: 'handoverRecall', limit: 0.6, actual: 2 / 3, ok: true },
      { name: 'actionAccuracy', limit: 0.7, actual: 0.6, ok: false },
      { name: 'topicAccuracy', limit: 0.5, actual: 2 / 3, ok: true },
      { name: 'passRate', basis: 'runs', limit: 0.4, actual: 0.4, ok: true },
      { name: 'maxOutOfPolicy', limit: 3, actual: 4, ok: false },
    ]);
    expect(checkThresholds(metrics, { maxOutOfPolicy: 4 })).toEqual([{ name: 'maxOutOfPolicy', limit: 4, actual: 4, ok: true }]);
    expect(checkThresholds(metrics, {})).toEqual([]);
  });

  it('meets a minimum with nothing to measure', () => {
    const noTopics: Metrics = { ...metrics, topicAccuracy: null };
    expect(checkThresholds(noTopics, { topicAccuracy: 0.9 })).toEqual([{ name: 'topicAccuracy', limit: 0.9, actual: null, ok: true }]);
  });

  it('gates the pass rate on pass^k when cases ran several times', () => {
    const rep = (id: string, repeat: number, ok: boolean) => run({ id, expect: { action: 'reply' }, decided: { action: ok ? 'reply' : 'handover' }, extra: { repeat } });
    // 5 of 6 runs passed (83%, over the 60% minimum), but only b passed all three of its runs: pass^3 is 50%.
    const repeated = computeMetrics([rep('a', 0, true), rep('a', 1, false), rep('a', 2, true), rep('b', 0, true), rep('b', 1, true), rep('b', 2, true)]);
    expect(repeated).toMatchObject({ passRate: 5 / 6, passAllK: 0.5, repeat: 3 });
    expect(checkThresholds(repeated, { passRate: 0.6 })).toEqual([{ name: 'passRate', basis: 'pass^k', limit: 0.6, actual: 0.5, ok: false }]);
    expect(checkThresholds(repeated, { passRate: 0.5, actionAccuracy: 0.8 })).toEqual([
      // The other rates stay per run.
      { name: 'actionAccuracy', limit: 0.8, actual: 5 / 6, ok: true },
      { name: 'passRate', basis: 'pass^k', limit: 0.5, actual: 0.5, ok: true },
    ]);
  });

  it('does not fail a minimum on a rounding error', () => {
    expect(checkThresholds({ ...metrics, passRate: 0.7 - 1e-15 }, { passRate: 0.7 })[0].ok).toBe(true);
  });
});

describe(percentile.name, () => {
  it('takes the nearest rank', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
    expect(percentile(values, 50)).toBe(10);
    expect(percentile(values, 95)).toBe(19);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
});
