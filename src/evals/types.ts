import type { ActionCallStatus, ActionCallSummary } from '../actions/action.port.js';
import type { LlmUsage } from '../llm/llm.client.js';
import type { LlmDecision } from '../agent/decision.js';
import type { HandoverReason } from '../agent/handover-reasons.js';
import type { ModelPrice } from '../config/agents.schema.js';
import type { CaseExpect, EvalAction, Thresholds } from './case.schema.js';

/** Tokens, as the LLM client counts them. */
export type Usage = LlmUsage;

/** What the agent did, as the contact and Inbox 2.0 would see it (after guardrails). */
export interface Decided {
  action: EvalAction;
  /** The message the contact reads: for a handover without one, the agent's configured handover message. */
  message: string;
  topics: string[];
  attributes: Record<string, string>;
  confidence: number;
  reason: string;
  handoverNote: string;
  /** Why it handed over, as the console records it (the LLM's reason, or the guardrail's or failure's); absent: no reason. */
  handoverReason?: HandoverReason;
  /** The articles the decision cited (by name: file name without extension, or a page URL's last part); a cited call as `action:<name>`. */
  sources?: string[];
  /** The action calls the model asked for, in order, with what came of each (refused ones included). */
  calls?: ActionCallSummary[];
}

/** What the LLM proposed that the agent's allow-lists refused, and every guardrail that fired. */
export interface OutOfPolicy {
  topics: string[];
  attributes: string[];
  guardrails: string[];
}

/** The deterministic checks of one run of a case; a check the case does not ask for is absent. */
export interface Checks {
  action: boolean;
  topics?: boolean;
  /** Per expected key: did the agent set it right (or leave it unset, for `null`). */
  attributes?: Record<string, boolean>;
  /** The substrings that should have been in the message and were not. */
  missingIncludes?: string[];
  /** The substrings that should not have been in the message and were. */
  presentExcludes?: string[];
  /** The articles the case wanted cited and the decision did not cite. */
  missingSources?: string[];
  /** `expect.grounded`: false asks for a handover citing nothing; true for at least one citation. */
  grounded?: boolean;
  /** `expect.calls`: the actions called and made were exactly that set. */
  calls?: boolean;
  /** Per `expect.callArgs` action: a call of it was made with those arguments. */
  callArgs?: Record<string, boolean>;
  /** Calls the case had no fixture for (`order_status(order_number=A-12345)`): the case needs one. */
  unfixtured?: string[];
  /** `expect.handoverReason`: the handover's reason is one the case accepts (false too when a handover-only case got none). */
  handoverReason?: boolean;
}

export type JudgeVerdict =
  | { status: 'pass' | 'fail'; reason: string; model: string; usage: Usage; latencyMs: number }
  | { status: 'skipped'; reason: string }
  | { status: 'error'; reason: string };

/** One run of one case (a case runs `--repeat` times); a line of results.jsonl. */
export interface CaseRun {
  caseId: string;
  file: string;
  line: number;
  agentId: string;
  tags: string[];
  language: string | null;
  /** 0 for the first run of the case, 1 for the second with `--repeat 2`, … */
  repeat: number;
  kind: 'turn' | 'opening' | 'simulation';
  expect: CaseExpect;
  decided: Decided;
  /** What the LLM answered, before guardrails; null when it gave no valid answer. */
  proposed: LlmDecision | null;
  outOfPolicy: OutOfPolicy;
  /** Why the LLM gave no valid decision (the agent then hands over, as it would live). */
  failure: string | null;
  /** A problem of the eval itself (the agent cannot take this case); the run counts as failed. */
  error: string | null;
  /** The LLM endpoint gave no completion for this run (down, refusing the key, rate limiting): `error` says so. */
  unavailable?: boolean;
  checks: Checks;
  /** Every deterministic check passed (the judge never counts here). */
  passed: boolean;
  judge: JudgeVerdict | null;
  model: string;
  latencyMs: number;
  usage: Usage;
  /** The agent's calls, estimated from the price table; null when the model has no price. */
  costUsd: number | null;
  /** For a simulated case, what the contact simulator used (not in the agent's tokens or cost). */
  contactUsage?: Usage;
  /** For a simulated case, the model that played the contact: prices contactUsage. */
  contactModel?: string;
  /** For a simulated case, the conversation as it went. */
  conversation?: Array<{ contact: string } | { agent: string; action: EvalAction }>;
}

export interface ActionStats {
  precision: number | null;
  recall: number | null;
  support: number;
}

/** One action's calls over the decided runs of a report. */
export interface ActionCallStats {
  /** Calls the model asked for, and what came of them (`refused`: the bridge's checks; `skipped`: no fixture). */
  asked: number;
  byStatus: Partial<Record<ActionCallStatus, number>>;
  /** Over the runs whose case lists expect.calls: expected and made, expected and not made, made and not expected. */
  expectedMade: number;
  expectedNotMade: number;
  madeNotExpected: number;
}

/** Aggregates over every run of a report. A rate is null when nothing was there to count. */
export interface Metrics {
  runs: number;
  cases: number;
  passed: number;
  passRate: number | null;
  /** Cases that passed in every one of their k runs (τ-bench's pass^k); equals passRate when k = 1. */
  passAllK: number | null;
  repeat: number;
  /** Case ids that passed in some runs and failed in others. */
  flaky: string[];
  actionAccuracy: number | null;
  /** rows: expected action; columns: decided action. */
  confusion: Record<EvalAction, Record<EvalAction, number>>;
  perAction: Record<EvalAction, ActionStats>;
  /** Of the runs whose only acceptable action is handover, the share that handed over. */
  handoverRecall: number | null;
  topicAccuracy: number | null;
  /** Of the runs whose case lists expect.calls, the share whose calls made were exactly that set. */
  callAccuracy: number | null;
  /** Of the runs that handed over and whose case lists expect.handoverReason, the share with a reason it accepts. */
  handoverReasonAccuracy: number | null;
  /**
   * Over those runs: rows the expected reason, columns the decided one (`none`: no reason); only
   * the reasons that occur. A case accepting several counts under the decided one when it accepts
   * it, else under its first.
   */
  handoverReasonConfusion: Record<string, Record<string, number>>;
  /** Per action asked for or expected, by name. */
  actionCalls: Record<string, ActionCallStats>;
  /** Calls answered "no fixture in this case", and the runs with one: case files to complete. */
  unfixturedCalls: { calls: number; runs: number };
  attributes: Record<string, { precision: number | null; recall: number | null; tp: number; fp: number; fn: number }>;
  messageChecks: { passed: number; total: number };
  outOfPolicy: { total: number; topics: number; attributes: number; guardrails: number; runsWithAny: number };
  /**
   * Guardrails fired, grouped by their text with every number replaced by N ("confidence N is
   * under N"), most frequent first; example is the first text of the group as it fired, when it
   * had a number (else it is the guardrail).
   */
  guardrailsFired: Array<{ guardrail: string; count: number; example?: string }>;
  llmFailures: number;
  errors: number;
  judge: { judged: number; passed: number; failed: number; skipped: number; errors: number };
  latencyMs: { p50: number | null; p95: number | null; max: number | null };
  tokens: Usage;
  judgeTokens: Usage;
  /** What the simulated contacts used (simulated cases only): not in tokens or costUsd. */
  contactTokens: Usage;
  costUsd: number | null;
  /** Models that ran without a price in the table: their cost is not in costUsd. */
  unpricedModels: string[];
  /** The judge's calls, priced from the table; null without a table, a judge, or a price for its model. */
  judgeCostUsd?: number | null;
  /** The simulated contacts' calls, priced by each run's contactModel; null without a table, a simulated run, or a price. */
  contactCostUsd: number | null;
}

export interface ThresholdResult {
  /** The case file whose thresholds these are, when a run covers several files. */
  file?: string;
  name: keyof Thresholds;
  /**
   * For passRate, what it gates on: the share of passed runs, or with repeated runs (repeat > 1)
   * the share of cases that passed every run (pass^k, metrics.passAllK).
   */
  basis?: 'runs' | 'pass^k';
  limit: number;
  actual: number | null;
  ok: boolean;
}

export interface RunInfo {
  kind: 'eval' | 'replay';
  startedAt: string;
  finishedAt: string;
  agents: string[];
  agentsFile: string;
  caseFiles: string[];
  llm: string;
  scripted: boolean;
  judgeModel: string | null;
  repeat: number;
  concurrency: number;
  /** Whether a failed threshold makes the command exit non-zero (not in a scripted run). */
  gated: boolean;
}

/** report.json */
export interface EvalReport {
  info: RunInfo;
  metrics: Metrics;
  /** Per agent, when a run covers several. */
  byAgent: Record<string, Metrics>;
  byTag: Record<string, { runs: number; passed: number }>;
  thresholds: ThresholdResult[];
  runs: CaseRun[];
}

export type PriceTable = Record<string, ModelPrice>;
