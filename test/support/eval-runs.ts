import type { CaseExpect } from '../../src/evals/case.schema.js';
import { checkRun } from '../../src/evals/score.js';
import type { CaseRun, Decided } from '../../src/evals/types.js';

/** A run of a case, its checks from the real checkRun so a fixture cannot disagree with the scorer. */
export function fakeRun(id: string, expect: CaseExpect, decided: Partial<Decided> = {}, extra: Partial<CaseRun> = {}): CaseRun {
  const d: Decided = { action: 'reply', message: '', topics: [], attributes: {}, confidence: 0.9, reason: 'r', handoverNote: '', ...decided };
  return {
    caseId: id,
    file: 'cases/acme.yaml',
    line: 10,
    agentId: 'acme',
    tags: [],
    language: 'en',
    repeat: 0,
    kind: 'turn',
    expect,
    decided: d,
    proposed: null,
    outOfPolicy: { topics: [], attributes: [], guardrails: [] },
    failure: null,
    error: null,
    ...checkRun(expect, d),
    judge: null,
    model: 'gpt-4.1-mini',
    latencyMs: 100,
    usage: { promptTokens: 1000, completionTokens: 100, cachedTokens: 200 },
    costUsd: 0.001,
    ...extra,
  };
}
