import { readFileSync } from 'node:fs';
import type { EvalAction } from './case.schema.js';
import { caseKey } from './metrics.js';
import type { CaseRun, EvalReport, Metrics, RunInfo } from './types.js';

/** One case as a comparison sees it: all its runs folded into one outcome. */
export interface CaseOutcome {
  agentId: string;
  caseId: string;
  file: string;
  line: number;
  /** Every run passed (pass^k); the single run's result when the case ran once. */
  passed: boolean;
  /** What the first run decided; null when it did not run (an eval error). */
  action: EvalAction | null;
}

export interface CaseChange {
  agentId: string;
  caseId: string;
  file: string;
  line: number;
  before: CaseOutcome;
  after: CaseOutcome;
}

export type ComparedMetric =
  | 'passRate'
  | 'actionAccuracy'
  | 'handoverRecall'
  | 'topicAccuracy'
  | 'outOfPolicy'
  | 'latencyP95Ms'
  | 'costUsd';

export interface MetricDelta {
  name: ComparedMetric;
  before: number | null;
  after: number | null;
  /** after − before; null when either side had nothing to measure. */
  delta: number | null;
  /** Which way is better: up for the rates, down for out-of-policy, latency and cost. */
  higherIsBetter: boolean;
}

/** A report against an earlier one (the baseline), case by case and metric by metric. */
export interface Comparison {
  baseline: Pick<RunInfo, 'startedAt' | 'llm' | 'scripted' | 'agents'>;
  /** Failed in the baseline, passed now. */
  fixed: CaseChange[];
  /** Passed in the baseline, failed now. */
  broken: CaseChange[];
  /** The decided action differs, whether or not the case passed either time (runs that errored are not compared). */
  actionChanged: CaseChange[];
  /** Cases only in the new report, and only in the baseline. */
  added: CaseOutcome[];
  removed: CaseOutcome[];
  deltas: MetricDelta[];
  /** What makes the two hard to compare (another LLM, a scripted side, other agents), in words. */
  notes: string[];
}

/** Matches cases by agent and case id; see Comparison. */
export function compareReports(before: EvalReport, after: EvalReport): Comparison {
  const was = outcomes(before.runs);
  const now = outcomes(after.runs);

  const changes: CaseChange[] = [];
  for (const [key, b] of was) {
    const a = now.get(key);
    if (a) changes.push({ agentId: a.agentId, caseId: a.caseId, file: a.file, line: a.line, before: b, after: a });
  }

  return {
    baseline: { startedAt: before.info.startedAt, llm: before.info.llm, scripted: before.info.scripted, agents: before.info.agents },
    fixed: changes.filter((c) => !c.before.passed && c.after.passed),
    broken: changes.filter((c) => c.before.passed && !c.after.passed),
    actionChanged: changes.filter((c) => c.before.action !== null && c.after.action !== null && c.before.action !== c.after.action),
    added: [...now].filter(([key]) => !was.has(key)).map(([, o]) => o),
    removed: [...was].filter(([key]) => !now.has(key)).map(([, o]) => o),
    deltas: deltas(before.metrics, after.metrics),
    notes: notes(before.info, after.info),
  };
}

/** One outcome per agent + case, in the order the report lists them. */
export function outcomes(runs: readonly CaseRun[]): Map<string, CaseOutcome> {
  const byCase = new Map<string, CaseRun[]>();
  for (const run of runs) byCase.set(caseKey(run), [...(byCase.get(caseKey(run)) ?? []), run]);
  return new Map(
    [...byCase].map(([key, caseRuns]) => {
      const first = caseRuns.reduce((a, b) => (b.repeat < a.repeat ? b : a));
      const passed = caseRuns.every((r) => r.passed && !r.error);
      return [key, { agentId: first.agentId, caseId: first.caseId, file: first.file, line: first.line, passed, action: first.error ? null : first.decided.action }];
    }),
  );
}

function deltas(before: Metrics, after: Metrics): MetricDelta[] {
  const delta = (name: ComparedMetric, pick: (m: Metrics) => number | null, higherIsBetter: boolean): MetricDelta => {
    const b = pick(before);
    const a = pick(after);
    return { name, before: b, after: a, delta: a === null || b === null ? null : a - b, higherIsBetter };
  };
  return [
    delta('passRate', (m) => m.passRate, true),
    delta('actionAccuracy', (m) => m.actionAccuracy, true),
    delta('handoverRecall', (m) => m.handoverRecall, true),
    delta('topicAccuracy', (m) => m.topicAccuracy, true),
    delta('outOfPolicy', (m) => m.outOfPolicy.total, false),
    delta('latencyP95Ms', (m) => m.latencyMs.p95, false),
    delta('costUsd', (m) => m.costUsd, false),
  ];
}

function notes(before: RunInfo, after: RunInfo): string[] {
  const out: string[] = [];
  if (before.scripted !== after.scripted) {
    out.push(`the ${before.scripted ? 'baseline' : 'new run'} used the scripted LLM: its results say nothing of a model's judgement`);
  } else if (before.llm !== after.llm) {
    out.push(`the LLM changed: ${before.llm} → ${after.llm}`);
  }
  const sameAgents = [...before.agents].sort().join(',') === [...after.agents].sort().join(',');
  if (!sameAgents) out.push(`the agents differ: ${before.agents.join(', ')} → ${after.agents.join(', ')}`);
  if (before.repeat !== after.repeat) out.push(`repeat changed: ${before.repeat} → ${after.repeat}, so pass^k is over a different k`);
  return out;
}

/** Reads a report.json to compare against; a file that is not one is named in the error. */
export function readReport(path: string): EvalReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`report ${path} cannot be read: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`report ${path} is not JSON: ${(err as Error).message}`);
  }
  const problem = reportProblem(data);
  if (problem) throw new Error(`report ${path} is not an eval report.json: ${problem}`);
  return data as EvalReport;
}

function reportProblem(data: unknown): string | null {
  if (!isObject(data)) return 'it is not a JSON object';
  if (!isObject(data.info) || (data.info.kind !== 'eval' && data.info.kind !== 'replay')) return 'info.kind is not "eval" or "replay"';
  if (!Array.isArray(data.runs)) return data.info.kind === 'replay' ? 'it is a replay report, which has no runs to compare' : 'runs is not a list';
  // compareReports reads the stored metrics, so their absence must fail here, not as a TypeError later.
  if (!isObject(data.metrics)) return 'metrics is missing';
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
