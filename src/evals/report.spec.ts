import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActionCallSummary } from '../actions/action.port.js';
import type { CaseExpect } from './case.schema.js';
import { NO_FIXTURE } from './fixture-actions.js';
import { compareReports, readReport } from './compare.js';
import { checkThresholds, computeByAgent, computeByTag, computeMetrics } from './metrics.js';
import { cell, FAILING_RUNS_SHOWN, renderMarkdown, renderSummary, writeReport } from './report.js';
import { fakeRun } from '../../test/support/eval-runs.js';
import type { CaseRun, Decided, EvalReport, PriceTable, RunInfo } from './types.js';

function run(id: string, expect: CaseExpect, decided: Partial<Decided> = {}, extra: Partial<CaseRun> = {}): CaseRun {
  return fakeRun(id, expect, { message: 'Hello.', reason: 'looked fine', ...decided }, { latencyMs: 800, usage: { promptTokens: 1200, completionTokens: 80, cachedTokens: 1000 }, costUsd: 0.0004, ...extra });
}

const INFO: RunInfo = {
  kind: 'eval',
  startedAt: '2025-06-01T09:00:00.000Z',
  finishedAt: '2025-06-01T09:00:42.000Z',
  agents: ['acme'],
  agentsFile: 'agents.yaml',
  caseFiles: ['cases/acme.yaml'],
  llm: 'gpt-4.1-mini',
  scripted: false,
  judgeModel: 'gpt-4.1',
  repeat: 1,
  concurrency: 4,
  gated: true,
};

function report(runs: CaseRun[], info: Partial<RunInfo> = {}, prices?: PriceTable): EvalReport {
  const metrics = computeMetrics(runs, prices);
  return {
    info: { ...INFO, ...info },
    metrics,
    byAgent: computeByAgent(runs),
    byTag: computeByTag(runs),
    thresholds: checkThresholds(metrics, { handoverRecall: 0.9, passRate: 0.5 }),
    runs,
  };
}

const RUNS: CaseRun[] = [
  run('greets', { action: 'reply', messageIncludes: ['hello'] }, {}, { tags: ['smalltalk'] }),
  run('refund-angry', { action: 'handover' }, { action: 'handover' }, { line: 20, tags: ['refunds'] }),
  run(
    'wants-human',
    { action: 'handover', topics: ['Complaint'], attributes: { order_number: 'A-1' }, messageExcludes: ['sorry'] },
    { message: 'Sorry | we can\nhelp', topics: ['Complaint', 'VIP'], reason: 'thought\nit could answer' },
    {
      line: 30,
      tags: ['refunds'],
      outOfPolicy: { topics: ['VIP'], attributes: [], guardrails: ['dropped topics outside the allow-list: VIP'] },
      judge: { status: 'fail', reason: 'ignored the request for a human', model: 'gpt-4.1', usage: { promptTokens: 300, completionTokens: 20, cachedTokens: 0 }, latencyMs: 400 },
    },
  ),
  run('closes', { action: 'resolve' }, { action: 'resolve' }, { line: 40 }),
];

describe(renderMarkdown.name, () => {
  const sut = renderMarkdown(report(RUNS));

  it('puts handover recall on its own line of the summary', () => {
    // refund-angry handed over, wants-human did not.
    expect(sut).toContain('| **Handover recall** | **50%** of the cases that must hand over |');
    expect(sut).toContain('| Pass rate | 75% (3 of 4 runs) |');
    expect(sut).toContain('| Estimated cost | $0.0016 |');
    expect(sut).toContain('| Tokens | prompt 4,800 (cached 4,000) · completion 320 |');
  });

  it('shows the confusion matrix with recall per row and precision per column', () => {
    // The row sums count runs (a case run three times counts three times).
    expect(sut).toContain('| expected ↓ · decided → | reply | resolve | handover | runs | recall |');
    expect(sut).toContain('| **handover** | 1 | 0 | 1 | 2 | 50% |');
    expect(sut).toContain('| precision | 50% | 100% | 100% |  |  |');
  });

  it('marks each threshold met or missed', () => {
    expect(sut).toContain('| Handover recall | ≥ 90% | 50% | ✘ |');
    expect(sut).toContain('| Pass rate | ≥ 50% | 75% | ✔ |');
  });

  it('details every failing run: where, expected against decided, the reason and the guardrails, escaped for the table', () => {
    expect(sut).toContain('### `cases/acme.yaml`\n\n#### ✘ acme/wants-human: `cases/acme.yaml:30`');
    expect(sut).toContain('**Missed handover.** Failed: action; topics; attribute order_number; message contains “sorry”.');
    expect(sut).toContain('Failed: action; topics; attribute order_number; message contains “sorry”.');
    expect(sut).toContain('| Action | handover | reply ✘ |');
    expect(sut).toContain('| Topics | Complaint | Complaint, VIP ✘ |');
    expect(sut).toContain('| Attribute `order_number` | A-1 | (not set) ✘ |');
    expect(sut).toContain('| Message | excludes “sorry” ✘ | “Sorry \\| we can<br>help” |');
    expect(sut).toContain('- **Agent’s reason:** thought it could answer');
    expect(sut).toContain('- **Guardrails fired:** dropped topics outside the allow-list: VIP');
    expect(sut).not.toContain('✘ acme/greets');
  });

  it('counts cases and runs in words that agree with the number', () => {
    expect(sut).toContain('- **Runs:** 4 (4 cases; 4 at a time)');
    const one = renderMarkdown(report([RUNS[2]]));
    expect(one).toContain('- **Runs:** 1 (1 case; 4 at a time)');
    expect(one).toContain('| Pass rate | 0% (0 of 1 run) |');
    expect(one).toContain('| Out of policy | 1 in 1 run (topics 1, attributes 0, guardrails fired 1) |');
    expect(one).toContain('1 failing run: 1 missed handover.');
    expect(renderSummary(report([RUNS[0]]))).toContain('Passed 1/1 run (100%).');
  });

  it('says the LLM was scripted once, not again after a label that says so', () => {
    expect(renderMarkdown(report(RUNS, { llm: 'scripted (keyword matcher, no API key)', scripted: true, gated: false }))).toContain(
      '- **LLM:** scripted (keyword matcher, no API key)\n',
    );
    expect(renderMarkdown(report(RUNS, { llm: 'canned', scripted: true, gated: false }))).toContain('- **LLM:** canned (scripted)\n');
  });

  it('keeps the judge in its own section, after the deterministic results', () => {
    const judge = sut.indexOf('## LLM judge');
    expect(judge).toBeGreaterThan(sut.indexOf('## Summary'));
    expect(sut.indexOf('ignored the request for a human')).toBeGreaterThan(judge);
    expect(sut.slice(judge)).toContain('| 1 | 0 | 1 | 0 | 0 |');
  });

  it('ranks guardrails and counts passes per tag', () => {
    expect(sut).toContain('| dropped topics outside the allow-list: VIP | 1 |');
    expect(sut).toContain('| refunds | 1 | 2 | 50% |');
  });

  it('says plainly that a scripted run proves plumbing, not judgement', () => {
    expect(renderMarkdown(report(RUNS, { scripted: true, gated: false }))).toMatch(/proves the plumbing .*not the agent’s judgement/);
    expect(sut).not.toContain('Scripted LLM');
  });

  it('names the unpriced models instead of calling them free', () => {
    const unpriced = renderMarkdown(report(RUNS.map((r) => ({ ...r, model: 'llama-3', costUsd: null }))));
    expect(unpriced).toContain('| Estimated cost | unpriced: llama-3 |');
  });

  it('shows pass^k and the flaky cases when cases ran several times', () => {
    const again = RUNS.map((r) => ({ ...r, repeat: 1, passed: r.caseId === 'greets' ? false : r.passed }));
    const md = renderMarkdown(report([...RUNS, ...again], { repeat: 2 }));
    expect(md).toContain('| Pass^2 (every run of a case passed) | 50% of 4 cases |');
    expect(md).toContain('- acme/greets (`cases/acme.yaml:10`): passed 1 of 2 runs');
    expect(md).toContain('#### ✘ acme/greets (run 2 of 2)');
  });

  it('names a pass-rate threshold that gated on pass^k', () => {
    const again = RUNS.map((r) => ({ ...r, repeat: 1, passed: r.caseId === 'greets' ? false : r.passed }));
    // 5 of 8 runs passed (62.5%), 2 of 4 cases passed both runs (50%): the 50% minimum is met on pass^2.
    const r = report([...RUNS, ...again], { repeat: 2 });
    expect(r.thresholds).toContainEqual({ name: 'passRate', basis: 'pass^k', limit: 0.5, actual: 0.5, ok: true });
    expect(renderMarkdown(r)).toContain('| Pass rate (pass^2) | ≥ 50% | 50% | ✔ |');
    const failing = { ...r, thresholds: checkThresholds(r.metrics, { passRate: 0.6 }) };
    expect(renderMarkdown(failing)).toContain('| Pass rate (pass^2) | ≥ 60% | 50% | ✘ |');
    expect(renderSummary(failing)).toContain('Thresholds: 1 of 1 failed:\n  Pass rate (pass^2) 50% (≥ 60%)');
  });

  it('shows the simulated contact’s tokens and cost apart from the agent’s', () => {
    const sim = run('simulated', { action: 'reply' }, {}, {
      line: 50,
      kind: 'simulation',
      contactModel: 'contact-1',
      contactUsage: { promptTokens: 2500, completionTokens: 300, cachedTokens: 0 },
    });
    // 2500 × $2 + 300 × $8 per million: $0.0074.
    const r = report([...RUNS, sim], {}, { 'contact-1': { input: 2, output: 8 } });
    const md = renderMarkdown(r);
    expect(md).toContain('| Tokens | prompt 6,000 (cached 5,000) · completion 400; simulated contact: prompt 2,500 · completion 300 |');
    expect(md).toContain('| Estimated cost | $0.0020; simulated contact: $0.0074 |');
    expect(renderSummary(r)).toContain('Simulated contact (not in the agent’s tokens or cost): prompt 2,500 · completion 300 tokens, $0.0074');
    // Nothing of it when no case was simulated.
    expect(sut).not.toContain('simulated contact');
    expect(renderSummary(report(RUNS))).not.toContain('Simulated contact');
  });

  it('groups a guardrail whose figures differ into one row, with an example', () => {
    const low = (id: string, confidence: string) =>
      run(id, { action: 'handover' }, { action: 'handover' }, { outOfPolicy: { topics: [], attributes: [], guardrails: [`confidence ${confidence} is under 0.6`] } });
    const md = renderMarkdown(report([...RUNS, low('l1', '0.4'), low('l2', '0.55'), low('l3', '0.4')]));
    expect(md).toContain('| Guardrail | Times | Example |');
    expect(md).toContain('| confidence N is under N | 3 | confidence 0.4 is under 0.6 |');
    expect(md).toContain('| dropped topics outside the allow-list: VIP | 1 |  |');
  });
});

describe('action calls in report.md', () => {
  const call = (status: ActionCallSummary['status'], error: string | null, result: Record<string, unknown> | null = null): ActionCallSummary => ({
    id: 'act-1',
    name: 'order_status',
    args: { order_number: 'A-12345' },
    status,
    httpStatus: status === 'ok' ? 200 : null,
    result,
    error,
    latencyMs: 0,
    line: '',
  });
  const runs = [
    run('status', { action: 'reply', calls: ['order_status'] }, { calls: [call('ok', null, { status: 'shipped', carrier: 'DHL' })] }),
    run('no-lookup', { action: 'reply', calls: [] }, { calls: [call('ok', null, { status: 'shipped' })] }, { line: 20 }),
    run('unwritten', { action: 'reply' }, { calls: [call('skipped', NO_FIXTURE)] }, { line: 30 }),
  ];
  const r = report(runs);
  const md = renderMarkdown(r);
  const failing = (id: string) => md.slice(md.indexOf(`#### ✘ acme/${id}`)).split('\n#### ')[0];

  it('shows expected vs made accuracy, the calls without a fixture, and a table per action', () => {
    expect(md).toContain('| Action calls (expected vs made) | 50% |');
    expect(md).toContain('| Calls without a fixture (case files to complete) | 1 in 1 run |');
    expect(md).toContain('| order_status | 3 | 2 | 0 | 0 | 1 | 1 | 0 | 1 |');
    expect(renderSummary(r)).toContain("Action calls, expected vs made: 50% · 1 call without a fixture in 1 run (add them to the case's actions:)");
  });

  it('shows a failing run’s calls, as the handover note would list them', () => {
    expect(failing('no-lookup')).toContain('Failed: calls.');
    expect(failing('no-lookup')).toContain('| Calls | none | order_status ✘ |');
    expect(failing('no-lookup')).toContain('- **Calls:** order_status(order_number=A-12345): status=shipped');
    expect(failing('unwritten')).toContain('Failed: no fixture in this case for order_status(order_number=A-12345).');
    expect(failing('unwritten')).toContain('- **Calls:** order_status(order_number=A-12345) failed: not made (no fixture in this case)');
    expect(md).not.toContain('#### ✘ acme/status');
  });

  it('has no action call section where no run called or expected a call', () => {
    expect(renderMarkdown(report(RUNS))).not.toContain('## Action calls');
    expect(renderSummary(report(RUNS))).not.toContain('Action calls');
  });
});

describe('handover reasons in report.md', () => {
  const handover = (id: string, expect: CaseExpect, handoverReason?: Decided['handoverReason'], line = 10) =>
    run(id, expect, { action: 'handover', message: '', ...(handoverReason ? { handoverReason } : {}) }, { line });
  const runs = [
    handover('human', { action: 'handover', handoverReason: 'customer_request' }, 'customer_request'),
    handover('refund', { action: 'handover', handoverReason: ['policy_restriction', 'unsupported_request'] }, 'low_confidence', 20),
    handover('hand-back', { action: 'handover', handoverReason: 'none' }, undefined, 30),
    run('missed', { action: 'handover', handoverReason: 'customer_request' }, {}, { line: 40 }),
  ];
  const r = { ...report(runs), thresholds: checkThresholds(computeMetrics(runs), { handoverReasonAccuracy: 0.9 }) };
  const md = renderMarkdown(r);
  const failing = (id: string) => md.slice(md.indexOf(`#### ✘ acme/${id}`)).split('\n#### ')[0];

  it('shows the accuracy in the summary and gates on it', () => {
    expect(md).toContain('| Handover reason accuracy | 66.7% of the handovers whose case names a reason |');
    expect(md).toContain('| Handover reason accuracy | ≥ 90% | 66.7% | ✘ |');
    expect(renderSummary(r)).toContain('Handover reason accuracy: 66.7%');
  });

  it('counts expected against decided reasons, without the missed handover', () => {
    expect(md).toContain('## Handover reasons');
    expect(md).toContain('| expected ↓ · decided → | customer_request | policy_restriction | low_confidence | none | runs |');
    expect(md).toContain('| **customer_request** | 1 | 0 | 0 | 0 | 1 |');
    expect(md).toContain('| **policy_restriction** | 0 | 0 | 1 | 0 | 1 |');
    expect(md).toContain('| **none** | 0 | 0 | 0 | 1 | 1 |');
  });

  it('shows a failing run’s reason against the accepted ones', () => {
    expect(failing('refund')).toContain('Failed: handover reason.');
    expect(failing('refund')).toContain('| Handover reason | policy_restriction or unsupported_request | low_confidence ✘ |');
    expect(failing('missed')).toContain('Failed: action; handover reason.');
    expect(failing('missed')).toContain('| Handover reason | customer_request | (no handover) ✘ |');
    expect(md).not.toContain('#### ✘ acme/human');
    expect(md).not.toContain('#### ✘ acme/hand-back');
  });

  it('shows a failing handover’s reason where the case names none', () => {
    const other = renderMarkdown(report([run('noted', { action: 'handover', topics: ['Billing'] }, { action: 'handover', handoverReason: 'missing_knowledge' })]));
    expect(other).toContain('| Handover reason | (not checked) | missing_knowledge |');
  });

  it('has no reason section or line where no handover has an expected reason', () => {
    expect(renderMarkdown(report(RUNS))).not.toMatch(/Handover reason/);
    expect(renderSummary(report(RUNS))).not.toContain('Handover reason');
  });
});

describe('the failing runs of report.md', () => {
  // In file order: a wrong topic, a wrong action, a missed handover, an eval error, then in another file a missed handover.
  const runs = [
    run('topic', { action: 'reply', topics: ['Billing'] }, {}, { line: 10 }),
    run('wrong-action', { action: 'resolve' }, {}, { line: 20 }),
    run('missed-a', { action: 'handover' }, {}, { line: 30 }),
    run('not-run', { action: 'reply' }, {}, { line: 40, error: 'no agent "acme"' }),
    run('fine', { action: 'reply' }, {}, { line: 50 }),
    run('missed-b', { action: 'handover' }, { action: 'resolve' }, { file: 'cases/other.yaml', line: 5 }),
    // Accepts a reply too: a wrong action, not a missed handover.
    run('either', { action: ['handover', 'resolve'] }, {}, { file: 'cases/other.yaml', line: 15 }),
  ];
  const md = renderMarkdown(report(runs));
  const section = md.slice(md.indexOf('## Failing runs'));
  const headings = section.split('\n').filter((l) => l.startsWith('###'));

  it('puts missed handovers first, then other wrong actions, then the rest, under a heading per case file', () => {
    expect(section).toContain('6 failing runs: 2 missed handovers, 2 other wrong actions, 2 failing other checks or not run.');
    expect(headings).toEqual([
      '### `cases/acme.yaml`',
      '#### ✘ acme/missed-a: `cases/acme.yaml:30`',
      '#### ✘ acme/wrong-action: `cases/acme.yaml:20`',
      '#### ✘ acme/topic: `cases/acme.yaml:10`',
      '#### ✘ acme/not-run: `cases/acme.yaml:40`',
      '### `cases/other.yaml`',
      '#### ✘ acme/missed-b: `cases/other.yaml:5`',
      '#### ✘ acme/either: `cases/other.yaml:15`',
    ]);
    expect(section).not.toContain('more failing run');
  });

  it(`shows ${FAILING_RUNS_SHOWN} at most, the worst, and says where the others are`, () => {
    const many = [
      ...Array.from({ length: 50 }, (_, i) => run(`topic-${i}`, { action: 'reply', topics: ['Billing'] }, {}, { line: 100 + i })),
      ...Array.from({ length: 5 }, (_, i) => run(`missed-${i}`, { action: 'handover' }, {}, { line: 200 + i })),
    ];
    const text = renderMarkdown(report(many));
    const shown = text.split('\n').filter((l) => l.startsWith('#### ✘'));
    expect(shown).toHaveLength(40);
    // The five missed handovers, though last in the file, and the first 35 of the others.
    expect(shown.slice(0, 5)).toEqual(Array.from({ length: 5 }, (_, i) => `#### ✘ acme/missed-${i}: \`cases/acme.yaml:${200 + i}\``));
    expect(shown.at(-1)).toBe('#### ✘ acme/topic-34: `cases/acme.yaml:134`');
    expect(text).toContain('… and 15 more failing runs, not shown here: every run is in report.json and results.jsonl.');
  });
});

describe('a large suite', () => {
  it('renders 130,000 runs, many failing and flaky, without overflowing the stack', () => {
    const base = run('x', { action: 'handover' }, {}, { outOfPolicy: { topics: [], attributes: [], guardrails: ['confidence 0.5 is under 0.6'] } });
    const runs = Array.from({ length: 130_000 }, (_, i): CaseRun => ({ ...base, caseId: `c${i % 65_000}`, repeat: i < 65_000 ? 0 : 1, passed: i % 3 === 0 }));
    const r = report(runs, { repeat: 2 });
    const md = renderMarkdown(r, compareReports(r, r));
    expect(md).toContain('- **Runs:** 130000 (65000 cases, each run 2 times; 4 at a time)');
    expect(md).toContain('| confidence N is under N | 130000 |');
    expect(md.split('\n').filter((l) => l.startsWith('#### ✘'))).toHaveLength(FAILING_RUNS_SHOWN);
  });
});

describe(cell.name, () => {
  it('escapes what would break a table row', () => {
    expect(cell('a | b\r\nc\nd')).toBe('a \\| b<br>c<br>d');
  });
});

describe(renderSummary.name, () => {
  it('prints the pass rate, handover recall and the failed thresholds', () => {
    const sut = renderSummary(report(RUNS));
    expect(sut).toContain('Passed 3/4 runs (75%).');
    expect(sut).toContain('Handover recall: 50%');
    expect(sut).toContain('Thresholds: 1 of 2 failed:\n  Handover recall 50% (≥ 90%)');
  });
});

describe(`${compareReports.name}: handover reasons`, () => {
  it('compares the handover reason accuracy over the cases both ran', () => {
    const human = (reason: Decided['handoverReason']) => run('human', { action: 'handover', handoverReason: 'customer_request' }, { action: 'handover', handoverReason: reason });
    const sut = compareReports(report([human('low_confidence')]), report([human('customer_request')]));
    expect(sut.deltas.find((d) => d.name === 'handoverReasonAccuracy')).toEqual({ name: 'handoverReasonAccuracy', before: 0, after: 1, delta: 1, higherIsBetter: true });
    expect(renderMarkdown(report([human('customer_request')]), sut)).toContain('| Handover reason accuracy | 0% | 100% | +100 pts (better) |');
  });
});

describe(compareReports.name, () => {
  const before = report([
    run('a', { action: 'reply' }),
    run('b', { action: 'reply' }, { action: 'handover' }),
    run('c', { action: ['reply', 'resolve'] }),
    run('d', { action: 'reply' }),
  ]);
  const after = report(
    [
      run('a', { action: 'reply' }, { action: 'handover' }),
      run('b', { action: 'reply' }),
      run('c', { action: ['reply', 'resolve'] }, { action: 'resolve' }),
      run('e', { action: 'reply' }),
    ],
    { llm: 'gpt-4.1', startedAt: '2025-06-02T09:00:00.000Z' },
  );
  const sut = compareReports(before, after);

  it('finds exactly the fixed, broken, changed, added and removed cases', () => {
    expect(sut.fixed.map((c) => c.caseId)).toEqual(['b']);
    expect(sut.broken.map((c) => c.caseId)).toEqual(['a']);
    expect(sut.actionChanged.map((c) => [c.caseId, c.before.action, c.after.action])).toEqual([
      ['a', 'reply', 'handover'],
      ['b', 'handover', 'reply'],
      ['c', 'reply', 'resolve'],
    ]);
    expect(sut.added.map((c) => c.caseId)).toEqual(['e']);
    expect(sut.removed.map((c) => c.caseId)).toEqual(['d']);
    expect(sut.notes).toEqual(['the LLM changed: gpt-4.1-mini → gpt-4.1', '1 case only in the baseline, 1 only now: the metrics compare the 3 cases both ran']);
  });

  it('gives the metric deltas over the cases both ran', () => {
    // Over a, b and c: a and c passed before, b and c now. (Each report's own rate is 75%, over other cases.)
    expect(sut.deltas.find((d) => d.name === 'passRate')).toEqual({ name: 'passRate', before: 2 / 3, after: 2 / 3, delta: 0, higherIsBetter: true });
    expect(sut.deltas.find((d) => d.name === 'actionAccuracy')).toEqual({ name: 'actionAccuracy', before: 2 / 3, after: 2 / 3, delta: 0, higherIsBetter: true });
    expect(sut.deltas.find((d) => d.name === 'handoverRecall')).toEqual({ name: 'handoverRecall', before: null, after: null, delta: null, higherIsBetter: true });
    expect(sut.deltas.find((d) => d.name === 'handoverReasonAccuracy')).toEqual({ name: 'handoverReasonAccuracy', before: null, after: null, delta: null, higherIsBetter: true });
    const cost = sut.deltas.find((d) => d.name === 'costUsd')!;
    expect(cost.before).toBeCloseTo(0.0012, 12);
    expect(cost.after).toBeCloseTo(0.0012, 12);
  });

  it('does not call a suite that gained hard cases worse: the shared cases did not change', () => {
    const shared = [run('a', { action: 'reply' }), run('b', { action: 'handover' }, { action: 'handover' }), run('c', { action: 'reply' }, { action: 'handover' })];
    const grown = [
      ...shared,
      run('new-1', { action: 'handover' }),
      run('new-2', { action: 'handover' }),
      run('new-3', { action: 'handover' }, { action: 'handover' }),
    ];
    const before = report(shared);
    const after = report(grown);
    // The reports' own pass rates: 2 of 3 against 3 of 6.
    expect([before.metrics.passRate, after.metrics.passRate]).toEqual([2 / 3, 0.5]);
    const c = compareReports(before, after);
    expect(c.deltas.find((d) => d.name === 'passRate')).toEqual({ name: 'passRate', before: 2 / 3, after: 2 / 3, delta: 0, higherIsBetter: true });
    expect(c.deltas.find((d) => d.name === 'handoverRecall')).toMatchObject({ before: 1, after: 1, delta: 0 });
    expect(c.notes).toEqual(['3 cases only now: the metrics compare the 3 cases both ran']);
    expect(c.added.map((o) => o.caseId)).toEqual(['new-1', 'new-2', 'new-3']);
    expect(renderMarkdown(after, c)).toContain('> 3 cases only now: the metrics compare the 3 cases both ran');

    const shrunk = compareReports(after, report([shared[0]]));
    expect(shrunk.notes).toEqual(['5 cases only in the baseline: the metrics compare the 1 case both ran']);
    expect(shrunk.deltas.find((d) => d.name === 'passRate')).toMatchObject({ before: 1, after: 1, delta: 0 });
    expect(compareReports(before, report([run('z', { action: 'reply' })])).notes).toEqual([
      '3 cases only in the baseline, 1 only now: no case ran in both, the metrics have nothing to compare',
    ]);
  });

  it('folds repeated runs into pass^k: a case failing one of its runs is broken', () => {
    const twice = report([run('a', { action: 'reply' }), run('a', { action: 'reply' }, { action: 'handover' }, { repeat: 1 })]);
    const once = report([run('a', { action: 'reply' })]);
    expect(compareReports(once, twice).broken.map((c) => c.caseId)).toEqual(['a']);
    // The first run decided reply both times: no action change.
    expect(compareReports(once, twice).actionChanged).toEqual([]);
  });

  it('does not call an eval error an action change, but a case that errors now is broken', () => {
    const errored = report([run('a', { action: 'reply' }, { action: 'handover' }, { error: 'no agent "acme"' })]);
    const once = report([run('a', { action: 'reply' })]);
    const sut = compareReports(once, errored);
    expect(sut.actionChanged).toEqual([]);
    expect(sut.broken.map((c) => c.caseId)).toEqual(['a']);
  });

  it('renders the comparison in the report and the summary', () => {
    expect(renderMarkdown(after, sut)).toContain('**Broken: passed before, fail now (1):**\n\n- acme/a (cases/acme.yaml:10): reply → handover');
    expect(renderSummary(after, sut)).toContain('Against the baseline: 1 fixed, 1 broken, 3 changed action; pass rate same over the 3 cases both ran.');
    const same = compareReports(before, before);
    expect(same).toMatchObject({ casesCompared: 4, notes: [] });
    expect(renderSummary(before, same)).toContain('Against the baseline: 0 fixed, 0 broken, 0 changed action; pass rate same.');
  });
});

describe(writeReport.name, () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'eval-report-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes report.md, report.json and one line per run, creating the directory; readReport reads it back', () => {
    const r = report(RUNS);
    const out = join(dir, 'nested', 'run-1');
    const sut = writeReport(out, r);
    expect(sut).toEqual({ dir: out, files: [join(out, 'report.md'), join(out, 'report.json'), join(out, 'results.jsonl')] });
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toBe(renderMarkdown(r));
    const lines = readFileSync(join(out, 'results.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l) as CaseRun)).toEqual(RUNS);
    expect(readReport(join(out, 'report.json'))).toEqual(r);
  });

  it('reads a report with fields it does not know', () => {
    const path = join(dir, 'extra.json');
    const r = report(RUNS);
    const extra = { ...r, future: true, info: { ...r.info, host: 'ci' }, runs: r.runs.map((run) => ({ ...run, trace: 'x' })) };
    writeFileSync(path, JSON.stringify(extra));
    expect(readReport(path)).toEqual(extra);
  });

  it('refuses a file that is not a report, naming it and its first problem', () => {
    const path = join(dir, 'x.json');
    const good = report(RUNS);
    writeFileSync(path, '{"info": {"kind": "other"}, "runs": []}');
    expect(() => readReport(path)).toThrow(`report ${path} is not an eval report.json: ✖ Invalid input: expected "eval"\n  → at info.kind`);
    writeFileSync(path, JSON.stringify({ ...good, runs: {} }));
    expect(() => readReport(path)).toThrow(`report ${path} is not an eval report.json: ✖ Invalid input: expected array, received object\n  → at runs`);
    writeFileSync(path, JSON.stringify({ ...good, metrics: undefined }));
    expect(() => readReport(path)).toThrow(`report ${path} is not an eval report.json: ✖ Invalid input: expected object, received undefined\n  → at metrics`);
    // A run without what a comparison reads: the first one named, not every run.
    const runs = good.runs.map(({ decided: { action: _action, ...decided }, ...r }) => ({ ...r, decided }));
    writeFileSync(path, JSON.stringify({ ...good, runs }));
    expect(() => readReport(path)).toThrow(`report ${path} is not an eval report.json: ✖ Invalid option: expected one of "reply"|"resolve"|"handover"\n  → at runs[0].decided.action`);
    writeFileSync(path, JSON.stringify({ ...good, runs: good.runs.map((r, i) => (i === 2 ? { ...r, repeat: '0' } : r)) }));
    expect(() => readReport(path)).toThrow(`report ${path} is not an eval report.json: ✖ Invalid input: expected number, received string\n  → at runs[2].repeat`);
    writeFileSync(path, JSON.stringify({ info: { ...good.info, kind: 'replay' }, totals: {}, rows: [] }));
    expect(() => readReport(path)).toThrow(`report ${path} is not an eval report.json: it is a replay report, which has no runs to compare`);
    writeFileSync(path, 'not json');
    expect(() => readReport(path)).toThrow(`report ${path} is not JSON`);
    expect(() => readReport(join(dir, 'missing.json'))).toThrow(`report ${join(dir, 'missing.json')} cannot be read`);
  });
});
