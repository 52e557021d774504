import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaseExpect } from './case.schema.js';
import { compareReports, readReport } from './compare.js';
import { checkThresholds, computeByAgent, computeByTag, computeMetrics } from './metrics.js';
import { cell, renderMarkdown, renderSummary, writeReport } from './report.js';
import { fakeRun } from '../../test/support/eval-runs.js';
import type { CaseRun, Decided, EvalReport, RunInfo } from './types.js';

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

function report(runs: CaseRun[], info: Partial<RunInfo> = {}): EvalReport {
  const metrics = computeMetrics(runs);
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
    expect(sut).toContain('| **handover** | 1 | 0 | 1 | 2 | 50% |');
    expect(sut).toContain('| precision | 50% | 100% | 100% |  |  |');
  });

  it('marks each threshold met or missed', () => {
    expect(sut).toContain('| Handover recall | ≥ 90% | 50% | ✘ |');
    expect(sut).toContain('| Pass rate | ≥ 50% | 75% | ✔ |');
  });

  it('details every failing run: where, expected against decided, the reason and the guardrails, escaped for the table', () => {
    expect(sut).toContain('### ✘ acme/wants-human: `cases/acme.yaml:30`');
    expect(sut).toContain('Failed: action; topics; attribute order_number; message contains “sorry”.');
    expect(sut).toContain('| Action | handover | reply ✘ |');
    expect(sut).toContain('| Topics | Complaint | Complaint, VIP ✘ |');
    expect(sut).toContain('| Attribute `order_number` | A-1 | (not set) ✘ |');
    expect(sut).toContain('| Message | excludes “sorry” ✘ | “Sorry \\| we can<br>help” |');
    expect(sut).toContain('- **Agent’s reason:** thought it could answer');
    expect(sut).toContain('- **Guardrails fired:** dropped topics outside the allow-list: VIP');
    expect(sut).not.toContain('### ✘ acme/greets');
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
    expect(md).toContain('### ✘ acme/greets (run 2 of 2)');
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
    expect(sut.notes).toEqual(['the LLM changed: gpt-4.1-mini → gpt-4.1']);
  });

  it('gives the metric deltas', () => {
    expect(sut.deltas.find((d) => d.name === 'passRate')).toEqual({ name: 'passRate', before: 0.75, after: 0.75, delta: 0, higherIsBetter: true });
    expect(sut.deltas.find((d) => d.name === 'actionAccuracy')).toEqual({ name: 'actionAccuracy', before: 0.75, after: 0.75, delta: 0, higherIsBetter: true });
    expect(sut.deltas.find((d) => d.name === 'handoverRecall')).toEqual({ name: 'handoverRecall', before: null, after: null, delta: null, higherIsBetter: true });
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
    expect(renderSummary(after, sut)).toContain('Against the baseline: 1 fixed, 1 broken, 3 changed action; pass rate same.');
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

  it('refuses a file that is not a report, naming it', () => {
    const path = join(dir, 'x.json');
    writeFileSync(path, '{"info": {"kind": "other"}, "runs": []}');
    expect(() => readReport(path)).toThrow(`report ${path} is not an eval report.json: info.kind is not "eval" or "replay"`);
    writeFileSync(path, '{"info": {"kind": "eval"}, "runs": {}}');
    expect(() => readReport(path)).toThrow('runs is not a list');
    writeFileSync(path, 'not json');
    expect(() => readReport(path)).toThrow(`report ${path} is not JSON`);
    expect(() => readReport(join(dir, 'missing.json'))).toThrow(`report ${join(dir, 'missing.json')} cannot be read`);
  });
});
