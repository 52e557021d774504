import type { ActionCallSummary } from '../actions/action.port.js';
import type { DecisionEngine, DecisionOutcome } from '../agent/decision.engine.js';
import type { ConversationContext, TranscriptEntry } from '../agent/decision.js';
import type { Retrieval } from '../knowledge/knowledge.service.js';
import { articleName, retrievalQuery } from '../knowledge/retrieval.js';
import { mapPool } from '../common/map-pool.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { addUsage } from '../llm/llm.client.js';
import { contactMessage, freshAttributes } from '../conversation/decision-body.js';
import { availabilityHandover } from '../policy/availability.js';
import { caseContext, caseKind, caseTranscript } from './case-context.js';
import type { LoadedCase } from './case.loader.js';
import { fixturePort } from './fixture-actions.js';
import type { Judge, JudgeContext } from './judge.js';
import { checkRun, costOf, outOfPolicy } from './score.js';
import type { ContactSimulator } from './simulate.js';
import type { CaseRun, Decided, OutOfPolicy, PriceTable, Usage } from './types.js';

export interface RunnerDeps {
  engine: DecisionEngine;
  agents: ReadonlyMap<string, AgentConfig>;
  prices: PriceTable;
  /** Grades the cases with a `judge:` rubric; without it they are marked "skipped". */
  judge?: Judge;
  /** Plays the contact of simulated cases; without it they are not run (the caller filters them out). */
  simulator?: ContactSimulator;
  /** Searches an agent's knowledge base, as a live turn does (agents with `knowledge` only). */
  knowledge?: { retrieve(agent: AgentConfig, query: string): Promise<Retrieval> };
}

/** Consecutive runs the endpoint did not answer before the rest are not attempted. */
export const MAX_UNAVAILABLE_IN_A_ROW = 5;

/** One unit of work: a case and which of its `--repeat` runs this is. */
export interface Job {
  case: LoadedCase;
  repeat: number;
}

/** Runs jobs `concurrency` at a time, in order of submission, and returns the runs in that order. */
export async function runAll(jobs: Job[], concurrency: number, deps: RunnerDeps, onDone: (run: CaseRun) => void = () => undefined): Promise<CaseRun[]> {
  // An endpoint that is down fails every case the same way: stop paying for it after a few.
  let unavailableInARow = 0;
  let stopped: string | undefined;
  return mapPool(jobs, concurrency, async (job) => {
    const run = stopped ? { ...baseRun(job.case, job.repeat), error: `not run: ${stopped}` } : await runCase(job.case, job.repeat, deps);
    unavailableInARow = run.unavailable ? unavailableInARow + 1 : 0;
    if (unavailableInARow >= MAX_UNAVAILABLE_IN_A_ROW && !stopped) stopped = `the LLM endpoint gave no answer ${MAX_UNAVAILABLE_IN_A_ROW} times in a row (${run.error})`;
    onDone(run);
    return run;
  });
}

/** One run of one case through the real decision engine and guardrails: no Inbox, no queue. */
export async function runCase(c: LoadedCase, repeat: number, deps: RunnerDeps): Promise<CaseRun> {
  const agent = deps.agents.get(c.agentId);
  const base = baseRun(c, repeat);
  if (!agent) return { ...base, error: `no agent "${c.agentId}" in the agents file` };
  try {
    return c.simulate ? await simulated(c, agent, base, deps) : await single(c, agent, base, deps);
  } catch (err) {
    // A bug or a failed contact simulation: the eval could not take the case; never the agent's score.
    return { ...base, error: (err as Error)?.message ?? String(err) };
  }
}

async function single(c: LoadedCase, agent: AgentConfig, base: CaseRun, deps: RunnerDeps): Promise<CaseRun> {
  const transcript = caseTranscript(c.transcript);
  const kind = caseKind(agent, transcript);
  if (typeof kind !== 'string') return { ...base, error: kind.error };
  const ctx = caseContext(agent, c, transcript);
  if (kind === 'turn') await addKnowledge(agent, ctx, deps);
  // As a live turn: an agent set to hand over while nobody is available (a case with `at`) does so without the LLM.
  const policy = kind === 'turn' ? availabilityHandover(agent, ctx.availability, ctx.language) : undefined;
  const outcome = policy ? deps.engine.preempted(agent, ctx, kind, policy) : await deps.engine.decide(agent, ctx, { kind, actions: fixturePort(c.actions) });
  if (outcome.unavailable) return unavailableRun(base, outcome);
  // As in production (decision-body.ts): an attribute the contact already has is not sent again.
  const decided = { ...decidedOf(agent, outcome), attributes: freshAttributes(outcome.decision.contactAttributes, Object.keys(c.contactAttributes)), calls: outcome.actionCalls };
  const { checks, passed } = checkRun(c.expect, decided);
  const run: CaseRun = {
    ...base,
    kind,
    decided,
    proposed: outcome.proposed,
    outOfPolicy: policyOf(agent, outcome),
    failure: outcome.failure,
    checks,
    passed,
    model: outcome.model,
    latencyMs: outcome.latencyMs,
    usage: { ...outcome.usage },
    costUsd: costOf(outcome.model, outcome.usage, deps.prices),
  };
  if (c.expect.judge) run.judge = deps.judge ? await deps.judge.verdict(c.expect.judge, judgeContext(c, kind === 'opening'), transcript, decided) : { status: 'skipped', reason: 'no --judge-model given' };
  return run;
}

function judgeContext(c: LoadedCase, opening: boolean): JudgeContext {
  return { language: c.language ?? null, contactName: c.contactName ?? null, contactAttributes: c.contactAttributes, summary: c.summary ?? null, opening };
}

/**
 * A simulated contact talks to the agent until the agent resolves or hands over, the contact is
 * done, or `maxTurns` contact messages have been written; the case checks the final state: the
 * last action, the last message, and every attribute collected on the way.
 */
async function simulated(c: LoadedCase, agent: AgentConfig, base: CaseRun, deps: RunnerDeps): Promise<CaseRun> {
  if (!deps.simulator) return { ...base, error: 'a simulated case needs a contact model (not run with --scripted)' };
  const sim = c.simulate!;
  const transcript: TranscriptEntry[] = caseTranscript(c.transcript);
  const conversation: NonNullable<CaseRun['conversation']> = [];
  const attributes = new Map(Object.entries(c.contactAttributes));
  const usage: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
  const contactUsage: Usage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
  const policy: OutOfPolicy = { topics: [], attributes: [], guardrails: [] };
  const calls: ActionCallSummary[] = [];
  const actions = fixturePort(c.actions);
  let latencyMs = 0;
  let cost: number | null = 0;
  let last: DecisionOutcome | undefined;
  let agentTurns = 0;
  let contactTurns = 0;
  const contactModel = deps.simulator.model ?? agent.llm.model;

  for (;;) {
    const opening = agent.mode === 'delegation' && transcript.length === 0;
    let done = false;
    if (!opening) {
      if (contactTurns >= sim.maxTurns) break;
      const said = await deps.simulator.next(sim, c.language ?? null, transcript, contactUsage, contactModel);
      contactTurns++;
      done = said.done;
      transcript.forEach((e) => (e.pending = false));
      transcript.push({ direction: 'inbound', text: said.message, payload: null, pending: true });
      conversation.push({ contact: said.message });
    }
    const ctx = caseContext(agent, { ...c, contactAttributes: Object.fromEntries(attributes), agentTurns }, transcript);
    if (!opening) await addKnowledge(agent, ctx, deps);
    last = await deps.engine.decide(agent, ctx, { kind: opening ? 'opening' : 'turn', actions });
    if (last.unavailable) return { ...unavailableRun(base, last), contactUsage, contactModel };
    if (!opening) agentTurns++;
    calls.push(...last.actionCalls);
    latencyMs += last.latencyMs;
    addUsage(usage, last.usage);
    const turnCost = costOf(last.model, last.usage, deps.prices);
    cost = cost === null || turnCost === null ? null : cost + turnCost;
    const p = policyOf(agent, last);
    policy.topics.push(...p.topics);
    policy.attributes.push(...p.attributes);
    policy.guardrails.push(...p.guardrails);
    // As on the platform: an attribute that has a value is not overwritten.
    for (const [k, v] of Object.entries(last.decision.contactAttributes)) if (!attributes.has(k)) attributes.set(k, v);
    const message = contactMessage(agent, last.decision);
    conversation.push({ agent: message, action: last.decision.action });
    transcript.forEach((e) => (e.pending = false));
    if (message) transcript.push({ direction: 'outbound', text: message, payload: null });
    if (last.decision.action !== 'reply' || done) break;
  }
  if (!last) return { ...base, error: 'the simulation ended before the agent decided anything' };

  const decided = { ...decidedOf(agent, last), attributes: Object.fromEntries([...attributes].filter(([k]) => !(k in c.contactAttributes))), calls };
  const { checks, passed } = checkRun(c.expect, decided);
  const run: CaseRun = {
    ...base,
    kind: 'simulation',
    decided,
    proposed: last.proposed,
    outOfPolicy: policy,
    failure: last.failure,
    checks,
    passed,
    model: last.model,
    latencyMs,
    usage,
    contactUsage,
    contactModel,
    costUsd: cost,
    conversation,
  };
  if (c.expect.judge) run.judge = deps.judge ? await deps.judge.verdict(c.expect.judge, judgeContext(c, false), transcript, decided) : { status: 'skipped', reason: 'no --judge-model given' };
  return run;
}

/**
 * The endpoint gave no completion (down, refusing the key, rate limiting): live, the agent would
 * hand over, but that says nothing of its judgement, so the run is an eval error, never a handover
 * that counts toward recall.
 */
function unavailableRun(base: CaseRun, o: DecisionOutcome): CaseRun {
  return { ...base, error: `the LLM endpoint gave no answer: ${o.failure}`, unavailable: true, model: o.model, latencyMs: o.latencyMs, usage: { ...o.usage } };
}


/** What a live turn does before deciding (turn.service.ts): search the knowledge base with the contact's new messages. */
async function addKnowledge(agent: AgentConfig, ctx: ConversationContext, deps: RunnerDeps): Promise<void> {
  if (!agent.knowledge) return;
  if (!deps.knowledge) throw new Error(`agent "${agent.id}" answers from a knowledge base, and this eval has none to search`);
  const found = await deps.knowledge.retrieve(agent, retrievalQuery(ctx));
  // Not the agent's judgement: a search that failed would make a grounded handover pass for one.
  if (found.failure) throw new Error(`the knowledge base could not be searched: ${found.failure}`);
  ctx.knowledge = found.chunks;
}

function decidedOf(agent: AgentConfig, o: DecisionOutcome): Decided {
  const d = o.decision;
  return {
    action: d.action,
    message: contactMessage(agent, d),
    topics: d.topics,
    attributes: d.contactAttributes,
    confidence: d.confidence,
    reason: d.reason,
    handoverNote: d.handoverNote,
    ...(d.action === 'handover' && d.handoverReason ? { handoverReason: d.handoverReason } : {}),
    sources: [...new Set(o.citations.map((c) => articleName(c.uri)))],
  };
}

function policyOf(agent: AgentConfig, o: DecisionOutcome): OutOfPolicy {
  return outOfPolicy(o.proposed, agent.topics, Object.keys(agent.contactAttributes), o.guardrails);
}

export function baseRun(c: LoadedCase, repeat: number): CaseRun {
  return {
    caseId: c.id,
    file: c.file,
    line: c.line,
    agentId: c.agentId,
    tags: c.tags,
    language: c.language ?? null,
    repeat,
    kind: c.simulate ? 'simulation' : 'turn',
    expect: c.expect,
    // Not decided: an error run is left out of every metric but the error count.
    decided: { action: 'handover', message: '', topics: [], attributes: {}, confidence: 0, reason: '(not run)', handoverNote: '' },
    proposed: null,
    outOfPolicy: { topics: [], attributes: [], guardrails: [] },
    failure: null,
    error: null,
    checks: { action: false },
    passed: false,
    judge: null,
    model: '',
    latencyMs: 0,
    usage: { promptTokens: 0, completionTokens: 0, cachedTokens: 0 },
    costUsd: null,
  };
}
