import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ACTIONS, type EvalAction } from './case.schema.js';
import { caseKey, computeMetrics } from './metrics.js';
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
  | 'handoverReasonAccuracy'
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
  /** Over the cases both reports ran (see compareReports), not over each report's own population. */
  deltas: MetricDelta[];
  /** How many cases (agent + case id) both reports ran: the population of the deltas. */
  casesCompared: number;
  /** What makes the two hard to compare (another LLM, a scripted side, other agents, other cases), in words. */
  notes: string[];
}

/**
 * Matches cases by agent and case id; see Comparison. The metric deltas are computed again from
 * the runs of the cases both reports ran, on each side: a suite that gained or lost cases would
 * otherwise move the rates by who is counted, not by how the agent did. A note says so when the
 * two reports ran different cases.
 */
export function compareReports(before: EvalReport, after: EvalReport): Comparison {
  const was = outcomes(before.runs);
  const now = outcomes(after.runs);
  const shared = new Set<string>();
  for (const key of was.keys()) if (now.has(key)) shared.add(key);
  const onlyBefore = was.size - shared.size;
  const onlyNow = now.size - shared.size;

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
    deltas: deltas(
      computeMetrics(before.runs.filter((r) => shared.has(caseKey(r)))),
      computeMetrics(after.runs.filter((r) => shared.has(caseKey(r)))),
    ),
    casesCompared: shared.size,
    notes: [...notes(before.info, after.info), ...populationNote(onlyBefore, onlyNow, shared.size)],
  };
}

function populationNote(onlyBefore: number, onlyNow: number, both: number): string[] {
  if (!onlyBefore && !onlyNow) return [];
  const differ = [
    onlyBefore ? `${count(onlyBefore, 'case')} only in the baseline` : '',
    onlyNow ? `${onlyBefore ? onlyNow : count(onlyNow, 'case')} only now` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return [both ? `${differ}: the metrics compare the ${count(both, 'case')} both ran` : `${differ}: no case ran in both, the metrics have nothing to compare`];
}

function count(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`;
}

/** One outcome per agent + case, in the order the report lists them. */
export function outcomes(runs: readonly CaseRun[]): Map<string, CaseOutcome> {
  const byCase = new Map<string, CaseRun[]>();
  for (const run of runs) {
    const key = caseKey(run);
    const caseRuns = byCase.get(key);
    if (caseRuns) caseRuns.push(run);
    else byCase.set(key, [run]);
  }
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
    delta('handoverReasonAccuracy', (m) => m.handoverReasonAccuracy, true),
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

const Action = z.enum(ACTIONS as [EvalAction, ...EvalAction[]]);
const Strings = z.array(z.string());
const UsageSchema = z.looseObject({ promptTokens: z.number(), completionTokens: z.number(), cachedTokens: z.number() });

/**
 * What compareReports reads of a run: its identity and outcome, and what computeMetrics reads to
 * compute the metrics again over the cases both reports ran. Other fields may be there.
 */
const StoredRunSchema = z.looseObject({
  agentId: z.string(),
  caseId: z.string(),
  file: z.string(),
  line: z.number().int(),
  repeat: z.number().int().min(0),
  passed: z.boolean(),
  error: z.string().nullable(),
  failure: z.string().nullable(),
  expect: z.looseObject({
    action: z.union([Action, z.array(Action).min(1)]),
    topics: Strings.optional(),
    attributes: z.record(z.string(), z.string().nullable()).optional(),
    messageIncludes: Strings.optional(),
    messageExcludes: Strings.optional(),
    handoverReason: z.union([z.string(), Strings]).optional(),
  }),
  decided: z.looseObject({ action: Action, attributes: z.record(z.string(), z.string()), handoverReason: z.string().optional() }),
  checks: z.looseObject({
    action: z.boolean(),
    topics: z.boolean().optional(),
    handoverReason: z.boolean().optional(),
    missingIncludes: Strings.optional(),
    presentExcludes: Strings.optional(),
  }),
  outOfPolicy: z.looseObject({ topics: Strings, attributes: Strings, guardrails: Strings }),
  judge: z
    .union([
      z.looseObject({ status: z.enum(['pass', 'fail']), model: z.string(), usage: UsageSchema }),
      z.looseObject({ status: z.enum(['skipped', 'error']) }),
    ])
    .nullable(),
  model: z.string(),
  latencyMs: z.number(),
  usage: UsageSchema,
  costUsd: z.number().nullable(),
  contactUsage: UsageSchema.optional(),
  contactModel: z.string().optional(),
});

/** The part of a report.json that compareReports reads; other fields may be there. */
const StoredReportSchema = z.looseObject({
  info: z.looseObject({
    kind: z.literal('eval'),
    startedAt: z.string(),
    llm: z.string(),
    scripted: z.boolean(),
    agents: Strings,
    repeat: z.number().int().min(1),
  }),
  metrics: z.looseObject({
    passRate: z.number().nullable(),
    actionAccuracy: z.number().nullable(),
    handoverRecall: z.number().nullable(),
    topicAccuracy: z.number().nullable(),
    outOfPolicy: z.looseObject({ total: z.number() }),
    latencyMs: z.looseObject({ p95: z.number().nullable() }),
    costUsd: z.number().nullable(),
  }),
  runs: z.array(StoredRunSchema),
});

/**
 * Reads a report.json to compare against. A file that is not one is named in the error with its
 * first problem (a replay report is said to be one: it has no runs to compare).
 */
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
  if (isObject(data) && isObject(data.info) && data.info.kind === 'replay') {
    throw new Error(`report ${path} is not an eval report.json: it is a replay report, which has no runs to compare`);
  }
  const parsed = StoredReportSchema.safeParse(data);
  if (!parsed.success) {
    // The first problem only: a report of 10,000 runs with one field missing would list 10,000.
    throw new Error(`report ${path} is not an eval report.json: ${z.prettifyError(new z.ZodError(parsed.error.issues.slice(0, 1)))}`);
  }
  // The data as read, not zod's copy: readReport returns exactly what was written.
  return data as EvalReport;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
