import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeCall } from '../actions/action.port.js';
import { ACTIONS, CALL_FAILURES, acceptedActions, acceptedHandoverReasons } from './case.schema.js';
import { callText, madeCall } from './fixture-actions.js';
import type { CaseChange, CaseOutcome, Comparison, MetricDelta } from './compare.js';
import { caseKey } from './metrics.js';
import { decidedHandoverReason } from './score.js';
import type { CaseRun, EvalReport, Metrics, ThresholdResult } from './types.js';

const SCRIPTED_NOTE =
  'The LLM was scripted: canned answers, not a model. This run proves the plumbing (cases load, the agent runs, guardrails and checks apply), not the agent’s judgement; its rates say nothing about the prompt.';

/** report.md: what a support lead reads to decide whether a prompt or model change may ship. */
export function renderMarkdown(report: EvalReport, comparison?: Comparison): string {
  const { info, metrics: m } = report;
  const out: string[] = [];
  // Lines are appended one by one: out.push(...lines) of a large section (a flaky case or a
  // judged run per line) would pass each line as an argument and overflow the stack.
  const add = (...chunks: Array<string | readonly string[]>) => {
    for (const chunk of chunks) {
      if (typeof chunk === 'string') out.push(chunk);
      else for (const line of chunk) out.push(line);
    }
  };
  const title = info.kind === 'replay' ? 'Replay' : 'Prompt eval';
  add(`# ${title}: ${info.agents.join(', ') || 'no agent'}`, '');
  add(
    `- **LLM:** ${llmLabel(info.llm, info.scripted)}`,
    `- **Judge:** ${info.judgeModel ? inline(info.judgeModel) : 'none'}`,
    `- **When:** ${when(info.startedAt)} (${duration(info.startedAt, info.finishedAt)})`,
    `- **Case files:** ${info.caseFiles.map((f) => `\`${inline(f)}\``).join(', ') || 'none'}`,
    `- **Agents file:** \`${inline(info.agentsFile)}\``,
    `- **Runs:** ${m.runs} (${count(m.cases, 'case')}${info.repeat > 1 ? `, each run ${info.repeat} times` : ''}; ${info.concurrency} at a time)`,
    '',
  );
  if (info.scripted) add(`> **Scripted LLM.** ${SCRIPTED_NOTE}`, '');

  add('## Summary', '', summaryTable(m), '');
  add(thresholdSection(report), '');
  if (comparison) add(comparisonSection(comparison), '');
  add(actionSection(m), '');
  if (Object.keys(m.handoverReasonConfusion).length) add(reasonSection(m), '');
  add(attributeSection(m), '');
  if (Object.keys(m.actionCalls).length) add(actionCallSection(m), '');
  add(guardrailSection(m), '');
  add(tagSection(report), '');
  if (m.flaky.length) add(flakySection(report), '');
  if (Object.keys(report.byAgent).length > 1) add(agentSection(report), '');
  add(judgeSection(report), '');
  add(failingSection(report));
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** The LLM's label, saying it was scripted unless the label already does. */
function llmLabel(llm: string, scripted: boolean): string {
  return `${inline(llm)}${scripted && !/scripted/i.test(llm) ? ' (scripted)' : ''}`;
}

/** The few lines the CLI prints when a run ends. */
export function renderSummary(report: EvalReport, comparison?: Comparison): string {
  const m = report.metrics;
  const lines: string[] = [];
  if (report.info.scripted) lines.push('Scripted LLM: this proves the plumbing, not the agent’s judgement.');
  lines.push(`Passed ${m.passed}/${count(m.runs, 'run')} (${pct(m.passRate)})${m.repeat > 1 ? `, pass^${m.repeat} ${pct(m.passAllK)}` : ''}.`);
  lines.push(`Handover recall: ${pct(m.handoverRecall)}`);
  if (m.handoverReasonAccuracy !== null) lines.push(`Handover reason accuracy: ${pct(m.handoverReasonAccuracy)}`);
  lines.push(
    `Action accuracy ${pct(m.actionAccuracy)} · topic accuracy ${pct(m.topicAccuracy)} · out of policy ${m.outOfPolicy.total} · LLM failures ${m.llmFailures}${m.errors ? ` · eval errors ${m.errors}` : ''}`,
  );
  if (m.callAccuracy !== null || m.unfixturedCalls.calls) {
    const unfixtured = m.unfixturedCalls.calls ? ` · ${count(m.unfixturedCalls.calls, 'call')} without a fixture in ${count(m.unfixturedCalls.runs, 'run')} (add them to the case's actions:)` : '';
    lines.push(`Action calls, expected vs made: ${pct(m.callAccuracy)}${unfixtured}`);
  }
  if (m.judge.judged + m.judge.errors) lines.push(`Judge (not in the pass rate): ${m.judge.passed}/${m.judge.judged} passed${m.judge.errors ? `, ${count(m.judge.errors, 'error')}` : ''}`);
  if (usedTokens(m.contactTokens)) lines.push(`Simulated contact (not in the agent’s tokens or cost): ${contactUsage(m)}`);
  if (report.thresholds.length) {
    const failed = report.thresholds.filter((t) => !t.ok);
    const gate = report.info.gated ? '' : ' (not gating)';
    lines.push(failed.length ? `Thresholds: ${failed.length} of ${report.thresholds.length} failed${gate}:` : `Thresholds: all ${report.thresholds.length} met${gate}.`);
    // One line per case file, the ten worst files at most: the rest is in report.md.
    const byFile = new Map<string, ThresholdResult[]>();
    for (const t of failed) byFile.set(t.file ?? '', [...(byFile.get(t.file ?? '') ?? []), t]);
    const files = [...byFile].sort((a, b) => b[1].length - a[1].length);
    for (const [file, ts] of files.slice(0, 10)) {
      lines.push(`  ${file ? `${file}: ` : ''}${ts.map((t) => `${thresholdName(t, report)} ${thresholdActual(t)} (${thresholdLimit(t)})`).join(' · ')}`);
    }
    if (files.length > 10) lines.push(`  … and ${count(files.length - 10, 'more file')}, in report.md`);
  }
  if (comparison) {
    const passRate = comparison.deltas.find((d) => d.name === 'passRate');
    // When the suites differ, the delta is over the cases both ran (see compareReports): say so.
    const over = comparison.added.length || comparison.removed.length ? ` over the ${count(comparison.casesCompared, 'case')} both ran` : '';
    lines.push(
      `Against the baseline: ${comparison.fixed.length} fixed, ${comparison.broken.length} broken, ${comparison.actionChanged.length} changed action${passRate ? `; pass rate ${formatDelta(passRate)}${over}` : ''}.`,
    );
    for (const c of comparison.broken) lines.push(`  broken: ${caseKey(c)} (${c.file}:${c.line})`);
  }
  return lines.join('\n');
}

/** Writes report.md, report.json and results.jsonl into dir, creating it. */
export function writeReport(dir: string, report: EvalReport, comparison?: Comparison): { dir: string; files: string[] } {
  mkdirSync(dir, { recursive: true });
  const files = {
    'report.md': renderMarkdown(report, comparison),
    'report.json': `${JSON.stringify(report, null, 2)}\n`,
    'results.jsonl': report.runs.map((run) => `${JSON.stringify(run)}\n`).join(''),
  };
  const written = Object.entries(files).map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  });
  return { dir, files: written };
}

function summaryTable(m: Metrics): string[] {
  const rows: Array<[string, string]> = [['Pass rate', `${pct(m.passRate)} (${m.passed} of ${count(m.runs, 'run')})`]];
  if (m.repeat > 1) rows.push([`Pass^${m.repeat} (every run of a case passed)`, `${pct(m.passAllK)} of ${count(m.cases, 'case')}`]);
  rows.push(
    ['Action accuracy', pct(m.actionAccuracy)],
    ['**Handover recall**', `**${pct(m.handoverRecall)}**${m.handoverRecall === null ? ' (no case must hand over)' : ' of the cases that must hand over'}`],
    ...reasonRows(m),
    ['Topic accuracy', pct(m.topicAccuracy)],
    ...callRows(m),
    ['Message checks', m.messageChecks.total ? `${m.messageChecks.passed} of ${m.messageChecks.total}` : 'n/a'],
    [
      'Out of policy',
      `${m.outOfPolicy.total} in ${count(m.outOfPolicy.runsWithAny, 'run')} (topics ${m.outOfPolicy.topics}, attributes ${m.outOfPolicy.attributes}, guardrails fired ${m.outOfPolicy.guardrails})`,
    ],
    ['LLM failures (agent handed over)', String(m.llmFailures)],
  );
  if (m.errors) rows.push(['Eval errors (case not run)', String(m.errors)]);
  rows.push(
    ['Latency', `p50 ${ms(m.latencyMs.p50)} · p95 ${ms(m.latencyMs.p95)} · max ${ms(m.latencyMs.max)}`],
    [
      'Tokens',
      `prompt ${int(m.tokens.promptTokens)} (cached ${int(m.tokens.cachedTokens)}) · completion ${int(m.tokens.completionTokens)}${
        usedTokens(m.contactTokens) ? `; simulated contact: ${contactTokens(m)}` : ''
      }`,
    ],
    ['Estimated cost', `${cost(m)}${usedTokens(m.contactTokens) ? `; simulated contact: ${contactCost(m)}` : ''}`],
  );
  return table(['Metric', 'Value'], rows);
}

function reasonRows(m: Metrics): Array<[string, string]> {
  if (m.handoverReasonAccuracy === null) return [];
  return [['Handover reason accuracy', `${pct(m.handoverReasonAccuracy)} of the handovers whose case names a reason`]];
}

function callRows(m: Metrics): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (m.callAccuracy !== null) rows.push(['Action calls (expected vs made)', pct(m.callAccuracy)]);
  if (m.unfixturedCalls.calls) rows.push(['Calls without a fixture (case files to complete)', `${m.unfixturedCalls.calls} in ${count(m.unfixturedCalls.runs, 'run')}`]);
  return rows;
}

function cost(m: Metrics): string {
  const unpriced = m.unpricedModels.length ? `unpriced: ${m.unpricedModels.map((x) => x || '(none)').join(', ')}` : '';
  if (m.costUsd === null) return unpriced || 'n/a';
  return unpriced ? `${usd(m.costUsd)} (${unpriced}, not included)` : usd(m.costUsd);
}

function contactTokens(m: Metrics): string {
  return `prompt ${int(m.contactTokens.promptTokens)} · completion ${int(m.contactTokens.completionTokens)}`;
}

function contactCost(m: Metrics): string {
  return m.contactCostUsd === null ? 'n/a (no price for its model)' : usd(m.contactCostUsd);
}

/** The simulated contacts' tokens and cost, on one line. */
function contactUsage(m: Metrics): string {
  return `${contactTokens(m)} tokens, ${contactCost(m)}`;
}

function usedTokens(usage: Metrics['contactTokens'] | undefined): boolean {
  return usage !== undefined && usage.promptTokens + usage.completionTokens > 0;
}

function thresholdSection(report: EvalReport): string[] {
  const out = ['## Thresholds', ''];
  if (!report.thresholds.length) return [...out, 'No thresholds set.'];
  if (!report.info.gated) out.push(`Not gating: a failed threshold does not fail this run${report.info.scripted ? ' (scripted LLM)' : ''}.`, '');
  const withFile = report.thresholds.some((t) => t.file);
  const rows = report.thresholds.map((t) => [
    ...(withFile ? [t.file ?? ''] : []),
    thresholdName(t, report),
    thresholdLimit(t),
    thresholdActual(t),
    t.ok ? '✔' : '✘',
  ]);
  return [...out, ...table([...(withFile ? ['Case file'] : []), 'Threshold', 'Limit', 'Actual', ''], rows)];
}

const THRESHOLD_NAMES: Record<ThresholdResult['name'], string> = {
  handoverRecall: 'Handover recall',
  actionAccuracy: 'Action accuracy',
  topicAccuracy: 'Topic accuracy',
  callAccuracy: 'Action calls (expected vs made)',
  handoverReasonAccuracy: 'Handover reason accuracy',
  passRate: 'Pass rate',
  maxOutOfPolicy: 'Out of policy',
};

/** A passRate threshold that gated on pass^k says so: "Pass rate (pass^3)". */
function thresholdName(t: ThresholdResult, report: EvalReport): string {
  if (t.basis !== 'pass^k') return THRESHOLD_NAMES[t.name];
  const k = report.metrics.repeat > 1 ? report.metrics.repeat : report.info.repeat;
  return `${THRESHOLD_NAMES[t.name]} (pass^${k > 1 ? k : 'k'})`;
}

function thresholdLimit(t: ThresholdResult): string {
  return t.name === 'maxOutOfPolicy' ? `≤ ${t.limit}` : `≥ ${pct(t.limit)}`;
}

function thresholdActual(t: ThresholdResult): string {
  if (t.actual === null) return 'n/a (nothing to measure)';
  return t.name === 'maxOutOfPolicy' ? String(t.actual) : pct(t.actual);
}

function actionSection(m: Metrics): string[] {
  const rows = ACTIONS.map((expected) => [
    `**${expected}**`,
    ...ACTIONS.map((decided) => String(m.confusion[expected][decided])),
    String(m.perAction[expected].support),
    pct(m.perAction[expected].recall),
  ]);
  rows.push(['precision', ...ACTIONS.map((a) => pct(m.perAction[a].precision)), '', '']);
  return [
    '## Actions',
    '',
    'Rows: the expected action; columns: what the agent decided; each run counts once. A case accepting several actions counts on the diagonal when the agent chose one of them, else under its first.',
    '',
    ...table(['expected ↓ · decided →', ...ACTIONS, 'runs', 'recall'], rows),
  ];
}

function reasonSection(m: Metrics): string[] {
  const matrix = m.handoverReasonConfusion;
  const rows = Object.keys(matrix);
  const columns = Object.keys(matrix[rows[0]]);
  return [
    '## Handover reasons',
    '',
    `Over the handovers whose case names a reason (\`expect.handoverReason\`): ${pct(m.handoverReasonAccuracy)} had one the case accepts. Rows: the expected reason; columns: the reason the handover carried (\`none\`: no reason, a Delegation hand-back). A case accepting several counts on the diagonal when the reason was one of them, else under its first. A missed handover is not here: handover recall counts it.`,
    '',
    ...table(
      ['expected ↓ · decided →', ...columns, 'runs'],
      rows.map((row) => [`**${row}**`, ...columns.map((c) => String(matrix[row][c])), String(Object.values(matrix[row]).reduce((a, b) => a + b, 0))]),
    ),
  ];
}

function attributeSection(m: Metrics): string[] {
  const keys = Object.keys(m.attributes);
  const out = ['## Contact attributes', ''];
  if (!keys.length) return [...out, 'No case checks attributes.'];
  out.push('A wrong value counts as both a false positive and a false negative; a key set where the case did not ask for it is a false positive.', '');
  const rows = keys.map((k) => {
    const a = m.attributes[k];
    return [k, pct(a.precision), pct(a.recall), String(a.tp), String(a.fp), String(a.fn)];
  });
  return [...out, ...table(['Attribute', 'Precision', 'Recall', 'Right', 'Wrongly set', 'Missed'], rows)];
}

function actionCallSection(m: Metrics): string[] {
  const rows = Object.entries(m.actionCalls).map(([name, a]) => {
    const failed = CALL_FAILURES.reduce((n, s) => n + (a.byStatus[s] ?? 0), 0);
    return [
      name,
      String(a.asked),
      String(a.byStatus.ok ?? 0),
      String(failed),
      String(a.byStatus.refused ?? 0),
      String(a.byStatus.skipped ?? 0),
      String(a.expectedMade),
      String(a.expectedNotMade),
      String(a.madeNotExpected),
    ];
  });
  return [
    '## Action calls',
    '',
    'Calls are answered from each case’s `actions:` fixtures, never by the team’s systems. Refused: the bridge’s checks stopped the call (schema, `requires`, the limit). No fixture: the case does not say what the call returns, so the run fails until it does. The last three columns count the runs whose case lists `expect.calls`.',
    '',
    ...table(['Action', 'Asked', 'Answered', 'Failed', 'Refused', 'No fixture', 'Expected and made', 'Expected, not made', 'Made, not expected'], rows),
  ];
}

function guardrailSection(m: Metrics): string[] {
  const out = ['## Guardrails fired', ''];
  if (!m.guardrailsFired.length) return [...out, 'None.'];
  // Grouped with their numbers as N (see computeMetrics): an example shows one as it fired.
  const withExample = m.guardrailsFired.some((g) => g.example !== undefined);
  if (!withExample) return [...out, ...table(['Guardrail', 'Times'], m.guardrailsFired.map((g) => [g.guardrail, String(g.count)]))];
  return [
    ...out,
    'Numbers in a guardrail’s text are shown as N: the rows group the same guardrail with other figures.',
    '',
    ...table(
      ['Guardrail', 'Times', 'Example'],
      m.guardrailsFired.map((g) => [g.guardrail, String(g.count), g.example ?? '']),
    ),
  ];
}

function tagSection(report: EvalReport): string[] {
  const tags = Object.entries(report.byTag);
  const out = ['## By tag', ''];
  if (!tags.length) return [...out, 'No case has tags.'];
  return [...out, ...table(['Tag', 'Passed', 'Runs', 'Pass rate'], tags.map(([tag, t]) => [tag, String(t.passed), String(t.runs), pct(t.runs ? t.passed / t.runs : null)]))];
}

function flakySection(report: EvalReport): string[] {
  // One pass over the runs, not one per flaky case.
  const flaky = new Map(report.metrics.flaky.map((key) => [key, { first: undefined as CaseRun | undefined, runs: 0, passed: 0 }]));
  for (const run of report.runs) {
    const tally = flaky.get(caseKey(run));
    if (!tally) continue;
    tally.first ??= run;
    tally.runs += 1;
    if (run.passed && !run.error) tally.passed += 1;
  }
  const lines = [...flaky].map(
    ([key, t]) => `- ${inline(key)}${t.first ? ` (${where(t.first)})` : ''}: passed ${t.passed} of ${count(t.runs, 'run')}`,
  );
  return ['## Flaky cases', '', 'Passed in some runs and failed in others: the agent’s answer to these is not settled.', '', ...lines];
}

function agentSection(report: EvalReport): string[] {
  const rows = Object.entries(report.byAgent).map(([id, m]) => [
    id,
    `${pct(m.passRate)} (${m.passed}/${m.runs})`,
    pct(m.actionAccuracy),
    pct(m.handoverRecall),
    pct(m.topicAccuracy),
    String(m.outOfPolicy.total),
  ]);
  return ['## By agent', '', ...table(['Agent', 'Pass rate', 'Action accuracy', 'Handover recall', 'Topic accuracy', 'Out of policy'], rows)];
}

function judgeSection(report: EvalReport): string[] {
  const j = report.metrics.judge;
  const out = ['## LLM judge', '', 'A second model grades the cases that have a `judge:` rubric. Its verdicts are opinions: they are not part of the pass rate or any figure above.', ''];
  if (!j.judged && !j.skipped && !j.errors) return [...out, 'No case was judged.'];
  if (!j.judged && !j.errors) return [...out, `${count(j.skipped, 'run')} ${j.skipped === 1 ? 'has' : 'have'} a rubric; none was judged (${report.info.scripted ? 'the scripted LLM cannot judge' : 'no --judge-model given'}).`];
  const judgeCost = report.metrics.judgeCostUsd;
  const lines = [
    ...out,
    ...table(
      ['Judged', 'Passed', 'Failed', 'Skipped', 'Judge errors', 'Tokens', 'Cost'],
      [
        [
          String(j.judged),
          String(j.passed),
          String(j.failed),
          String(j.skipped),
          String(j.errors),
          `prompt ${int(report.metrics.judgeTokens.promptTokens)} · completion ${int(report.metrics.judgeTokens.completionTokens)}`,
          judgeCost === null || judgeCost === undefined ? 'n/a' : usd(judgeCost),
        ],
      ],
    ),
  ];
  const notable = report.runs.filter((r) => r.judge && r.judge.status !== 'pass' && r.judge.status !== 'skipped');
  if (!notable.length) return lines;
  return [...lines, '', ...table(['Case', 'Verdict', 'Reason'], notable.map((r) => [`${caseKey(r)}${runLabel(r, report)}`, r.judge!.status, r.judge!.reason]))];
}

/** How many failing runs report.md details; the others are in report.json and results.jsonl. */
export const FAILING_RUNS_SHOWN = 40;

/** The order of the failing runs: what costs the most first. */
const Failure = {
  /** The case must hand over (it accepts nothing else) and the agent did not: a contact left alone. */
  MissedHandover: 0,
  /** Another wrong action. */
  WrongAction: 1,
  /** A right action with a wrong topic, attribute or message, or an eval error. */
  Other: 2,
} as const;
type Failure = (typeof Failure)[keyof typeof Failure];

function failureOf(run: CaseRun): Failure {
  if (run.error) return Failure.Other;
  const accepted = acceptedActions(run.expect);
  if (accepted.length === 1 && accepted[0] === 'handover' && run.decided.action !== 'handover') return Failure.MissedHandover;
  return run.checks.action ? Failure.Other : Failure.WrongAction;
}

/**
 * The failing runs, missed handovers first, then other wrong actions, then the rest (in file
 * order within each), FAILING_RUNS_SHOWN at most; shown under a heading per case file, the file
 * of the first one first.
 */
function failingSection(report: EvalReport): string[] {
  const failing = report.runs.filter((r) => !r.passed || r.error);
  const out = ['## Failing runs', ''];
  if (!failing.length) return [...out, 'None: every run passed every deterministic check.'];

  const ranked = failing.map((run, i) => ({ run, i, failure: failureOf(run) })).sort((a, b) => a.failure - b.failure || a.i - b.i);
  const tally = [0, 0, 0];
  for (const r of ranked) tally[r.failure] += 1;
  const kinds = [
    tally[Failure.MissedHandover] ? count(tally[Failure.MissedHandover], 'missed handover') : '',
    tally[Failure.WrongAction] ? `${count(tally[Failure.WrongAction], 'other wrong action')}` : '',
    tally[Failure.Other] ? `${tally[Failure.Other]} failing ${tally[Failure.Other] === 1 ? 'another check' : 'other checks'} or not run` : '',
  ].filter(Boolean);
  out.push(
    `${count(failing.length, 'failing run')}: ${kinds.join(', ')}. Missed handovers come first, then the other wrong actions, then the rest, under their case file.`,
    '',
  );

  const shown = ranked.slice(0, FAILING_RUNS_SHOWN);
  const byFile = new Map<string, Array<(typeof shown)[number]>>();
  for (const r of shown) {
    const runs = byFile.get(r.run.file);
    if (runs) runs.push(r);
    else byFile.set(r.run.file, [r]);
  }
  for (const [file, runs] of byFile) {
    out.push(`### \`${inline(file)}\``, '');
    for (const { run, failure } of runs) out.push(...failingRun(run, failure, report), '');
  }
  const more = failing.length - shown.length;
  if (more > 0) out.push(`… and ${count(more, 'more failing run')}, not shown here: every run is in report.json and results.jsonl.`);
  return out;
}

function failingRun(run: CaseRun, failure: Failure, report: EvalReport): string[] {
  const out = [`#### ✘ ${inline(caseKey(run))}${runLabel(run, report)}: ${where(run)}`, ''];
  const about = [run.kind !== 'turn' ? `kind: ${run.kind}` : '', run.language ? `language: ${run.language}` : '', run.tags.length ? `tags: ${run.tags.join(', ')}` : '']
    .filter(Boolean)
    .join(' · ');
  if (about) out.push(inline(about), '');
  if (run.error) return [...out, `- **Eval error (the case did not run):** ${inline(run.error)}`];

  out.push(`${failure === Failure.MissedHandover ? '**Missed handover.** ' : ''}Failed: ${failedChecks(run).join('; ')}.`, '');
  const { expect, decided, checks } = run;
  const mark = (ok: boolean | undefined) => (ok === false ? ' ✘' : '');
  const rows: string[][] = [['Action', acceptedActions(expect).join(' or '), `${decided.action}${mark(checks.action)}`]];
  if (expect.handoverReason || decided.action === 'handover') {
    const want = acceptedHandoverReasons(expect)?.join(' or ') ?? '(not checked)';
    rows.push(['Handover reason', want, `${decided.action === 'handover' ? decidedHandoverReason(decided) : '(no handover)'}${mark(checks.handoverReason)}`]);
  }
  if (expect.topics) rows.push(['Topics', list(expect.topics), `${list(decided.topics)}${mark(checks.topics)}`]);
  else if (decided.topics.length) rows.push(['Topics', '(not checked)', list(decided.topics)]);
  const keys = [...new Set([...Object.keys(expect.attributes ?? {}), ...Object.keys(decided.attributes)])];
  for (const key of keys) {
    const want = expect.attributes && Object.hasOwn(expect.attributes, key) ? expect.attributes[key] : undefined;
    const got = Object.hasOwn(decided.attributes, key) ? decided.attributes[key] : undefined;
    rows.push([
      `Attribute \`${key}\``,
      want === undefined ? '(not checked)' : want === null ? '(not set)' : want,
      `${got ?? '(not set)'}${mark(checks.attributes?.[key])}`,
    ]);
  }
  const wanted = [
    ...(expect.messageIncludes ?? []).map((s) => `includes “${s}”${checks.missingIncludes?.includes(s) ? ' ✘' : ''}`),
    ...(expect.messageExcludes ?? []).map((s) => `excludes “${s}”${checks.presentExcludes?.includes(s) ? ' ✘' : ''}`),
  ];
  rows.push(['Message', wanted.join('; ') || '(not checked)', decided.message ? `“${decided.message}”` : '(none)']);
  if (expect.sources || expect.grounded !== undefined || decided.sources?.length) {
    const want = [...(expect.sources ?? []), ...(expect.grounded === false ? ['none: hand over'] : expect.grounded ? ['at least one'] : [])];
    rows.push(['Sources', want.join(', ') || '(not checked)', `${list(decided.sources ?? [])}${checks.missingSources?.length || checks.grounded === false ? ' ✘' : ''}`]);
  }
  const made = (decided.calls ?? []).filter(madeCall);
  if (expect.calls || expect.callArgs || made.length) {
    const want = [
      ...(expect.calls ? [expect.calls.length ? list(expect.calls) : 'none'] : []),
      ...Object.entries(expect.callArgs ?? {}).map(([name, args]) => callText({ name, args })),
    ];
    const wrong = checks.calls === false || Object.values(checks.callArgs ?? {}).some((ok) => !ok);
    rows.push(['Calls', want.join('; ') || '(not checked)', `${list([...new Set(made.map((c) => c.name))])}${wrong ? ' ✘' : ''}`]);
  }
  rows.push(['Confidence', '', String(decided.confidence)]);
  out.push(...table(['', 'Expected', 'Decided'], rows), '');

  out.push(`- **Agent’s reason:** ${inline(decided.reason) || '(none)'}`);
  if (decided.calls?.length) out.push(`- **Calls:** ${decided.calls.map((c) => inline(describeCall(c))).join('; ')}`);
  if (decided.action === 'handover' && decided.handoverNote) out.push(`- **Handover note:** ${inline(decided.handoverNote)}`);
  if (run.outOfPolicy.guardrails.length) out.push(`- **Guardrails fired:** ${run.outOfPolicy.guardrails.map(inline).join('; ')}`);
  if (run.proposed && run.proposed.action !== decided.action) out.push(`- **The LLM proposed:** ${run.proposed.action} (the guardrails changed it)`);
  if (run.failure) out.push(`- **LLM failure:** ${inline(run.failure)}`);
  if (run.conversation?.length) {
    out.push('', '<details><summary>Conversation</summary>', '');
    for (const turn of run.conversation) {
      out.push('contact' in turn ? `- **Contact:** ${inline(turn.contact)}` : `- **Agent (${turn.action}):** ${inline(turn.agent) || '(no message)'}`);
    }
    out.push('', '</details>');
  }
  return out;
}

/** The checks a run failed, in words. */
export function failedChecks(run: CaseRun): string[] {
  if (run.error) return ['eval error'];
  const c = run.checks;
  const failed: string[] = [];
  if (!c.action) failed.push('action');
  if (c.handoverReason === false) failed.push('handover reason');
  if (c.topics === false) failed.push('topics');
  for (const [key, ok] of Object.entries(c.attributes ?? {})) if (!ok) failed.push(`attribute ${key}`);
  for (const s of c.missingIncludes ?? []) failed.push(`message lacks “${s}”`);
  for (const s of c.presentExcludes ?? []) failed.push(`message contains “${s}”`);
  for (const s of c.missingSources ?? []) failed.push(`does not cite ${s}`);
  if (c.grounded === false) failed.push(run.expect.grounded === false ? 'answered where the knowledge base has nothing' : 'cites no article');
  if (c.calls === false) failed.push('calls');
  for (const [name, ok] of Object.entries(c.callArgs ?? {})) if (!ok) failed.push(`arguments of ${name}`);
  for (const call of c.unfixtured ?? []) failed.push(`no fixture in this case for ${call}`);
  return failed;
}

function comparisonSection(c: Comparison): string[] {
  const scripted = c.baseline.scripted && !/scripted/i.test(c.baseline.llm) ? ', scripted' : '';
  const out = [`## Against the baseline of ${when(c.baseline.startedAt)} (${inline(c.baseline.llm)}${scripted})`, ''];
  for (const note of c.notes) out.push(`> ${inline(note)}`, '');
  out.push(
    ...table(
      ['Metric', 'Baseline', 'Now', 'Change'],
      c.deltas.map((d) => [DELTA_NAMES[d.name], formatValue(d, d.before), formatValue(d, d.after), formatDelta(d)]),
    ),
    '',
  );
  const changes = (title: string, list: CaseChange[], describe: (x: CaseChange) => string) =>
    list.length ? [`**${title} (${list.length}):**`, '', ...list.map((x) => `- ${inline(caseKey(x))} (${x.file}:${x.line})${describe(x)}`), ''] : [];
  const cases = (title: string, list: CaseOutcome[]) =>
    list.length ? [`**${title} (${list.length}):**`, '', ...list.map((x) => `- ${inline(caseKey(x))} (${x.file}:${x.line})`), ''] : [];
  const actionShift = (x: CaseChange) => (x.before.action === x.after.action ? '' : `: ${x.before.action ?? 'not run'} → ${x.after.action ?? 'not run'}`);
  // An array, not out.push(...): a suite's worth of changed cases would overflow the stack as arguments.
  const lines = [
    ...out,
    ...changes('Broken: passed before, fail now', c.broken, actionShift),
    ...changes('Fixed: failed before, pass now', c.fixed, actionShift),
    ...changes('Action changed', c.actionChanged, (x) => `: ${x.before.action} → ${x.after.action}${x.after.passed ? '' : ' (fails)'}`),
    ...cases('New cases', c.added),
    ...cases('Cases no longer run', c.removed),
  ];
  if (!c.broken.length && !c.fixed.length && !c.actionChanged.length) lines.push('No case changed its result or its action.');
  return lines;
}

const DELTA_NAMES: Record<MetricDelta['name'], string> = {
  passRate: 'Pass rate',
  actionAccuracy: 'Action accuracy',
  handoverRecall: 'Handover recall',
  handoverReasonAccuracy: 'Handover reason accuracy',
  topicAccuracy: 'Topic accuracy',
  outOfPolicy: 'Out of policy',
  latencyP95Ms: 'Latency p95',
  costUsd: 'Estimated cost',
};

function formatValue(d: MetricDelta, value: number | null): string {
  if (value === null) return 'n/a';
  if (d.name === 'outOfPolicy') return String(value);
  if (d.name === 'latencyP95Ms') return ms(value);
  if (d.name === 'costUsd') return usd(value);
  return pct(value);
}

function formatDelta(d: MetricDelta): string {
  if (d.delta === null) return 'n/a';
  if (Math.abs(d.delta) < 1e-12) return 'same';
  const sign = d.delta > 0 ? '+' : '−';
  const size = Math.abs(d.delta);
  const amount =
    d.name === 'outOfPolicy' ? String(size) : d.name === 'latencyP95Ms' ? ms(size) : d.name === 'costUsd' ? usd(size) : `${round1(size * 100)} pts`;
  const better = d.delta > 0 === d.higherIsBetter;
  return `${sign}${amount} (${better ? 'better' : 'worse'})`;
}

function runLabel(run: CaseRun, report: EvalReport): string {
  return report.metrics.repeat > 1 ? ` (run ${run.repeat + 1} of ${report.metrics.repeat})` : '';
}

function where(run: Pick<CaseRun, 'file' | 'line'>): string {
  return `\`${inline(run.file)}:${run.line}\``;
}

/** A GitHub-flavoured markdown table; every cell escaped. */
function table(header: string[], rows: string[][]): string[] {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)];
}

/** A table cell: a "|" would end the cell and a line break the row. */
export function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r\n|\r|\n/g, '<br>');
}

/** Text on one markdown line (a list item, a heading). */
function inline(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** "1 case", "2 cases": a count with its noun, plural when it is not one. */
function count(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`;
}

function list(items: readonly string[]): string {
  return items.length ? items.join(', ') : '(none)';
}

function pct(value: number | null): string {
  return value === null ? 'n/a' : `${round1(value * 100)}%`;
}

function round1(value: number): string {
  return (Math.round(value * 10) / 10).toFixed(1).replace(/\.0$/, '');
}

function ms(value: number | null): string {
  if (value === null) return 'n/a';
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

function int(value: number): string {
  return value.toLocaleString('en-US');
}

function usd(value: number): string {
  if (value === 0) return '$0';
  if (value < 0.0001) return '< $0.0001';
  return `$${value.toFixed(value >= 1 ? 2 : 4)}`;
}

function when(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function duration(from: string, to: string): string {
  const elapsed = new Date(to).getTime() - new Date(from).getTime();
  if (!Number.isFinite(elapsed) || elapsed < 0) return 'duration unknown';
  return elapsed < 60_000 ? `${(elapsed / 1000).toFixed(1)} s` : `${Math.floor(elapsed / 60_000)} min ${Math.floor((elapsed % 60_000) / 1000)} s`;
}
