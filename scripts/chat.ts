// `npm run chat -- --agent <id> [--agents FILE] [--scripted] [--lang xx]`: type as the contact and see
// the agent's decision, with the agents file reloaded before every turn so an edit is tried at once.
// Lookups are made for real and shown; a side-effect call never is. `--demo`: the demo's agents,
// with the fake shop their order lookup calls started here (implies --scripted). `--at <ISO time>`:
// decide as if it were then, for an agent with business hours (try the after-hours behaviour).
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { offeredActions, type ActionCallSummary } from '../src/actions/action.port.js';
import { callLine, directActionPort, type DirectCall } from '../src/actions/direct.port.js';
import { DecisionEngine } from '../src/agent/decision.engine.js';
import type { ConversationContext, TranscriptEntry } from '../src/agent/decision.js';
import { planFold } from '../src/agent/memory.js';
import type { AgentConfig } from '../src/config/agents.schema.js';
import { ConfigError } from '../src/config/config.error.js';
import { contactMessage } from '../src/conversation/decision-body.js';
import { appendCase } from '../src/evals/case-writer.js';
import { NO_HANDOVER_REASON } from '../src/evals/case.schema.js';
import { callText, madeCall } from '../src/evals/fixture-actions.js';
import { recordedFixtures } from '../src/evals/replay-report.js';
import { KnowledgeRepository } from '../src/knowledge/knowledge.repository.js';
import { KnowledgeService, type Retrieval } from '../src/knowledge/knowledge.service.js';
import { retrievalQuery } from '../src/knowledge/retrieval.js';
import { sessionUsageLine, spendOf, type SessionUsage } from '../src/policy/budgets.js';
import { availabilityAt, availabilityHandover, formatOpening } from '../src/policy/availability.js';
import { FakeShop } from '../test/fakes/fake-shop.js';
import { DEMO_SHOP_TOKEN, demoAgents } from './demo-agents.js';
import { agentsFilePath, openToolDatabase, parseAgentsForTools, readAgentsForTools, toolDatabaseUrl, toolLlm, type ToolLlm } from './tool-support.js';

const { values } = parseArgs({
  options: {
    agent: { type: 'string' },
    agents: { type: 'string' },
    scripted: { type: 'boolean', default: false },
    demo: { type: 'boolean', default: false },
    lang: { type: 'string', default: 'en' },
    at: { type: 'string' },
  },
});

// Business hours are checked at this instant instead of now; presence is never asked here.
const at = values.at === undefined ? undefined : new Date(values.at);
if (at && Number.isNaN(at.getTime())) {
  console.error(`--at ${values.at} is not a time: give an ISO time, like 2026-12-24T20:00:00+01:00`);
  process.exit(64);
}

if (existsSync('.env')) process.loadEnvFile('.env');
if (values.demo && values.agents) {
  console.error('--demo chats with the demo\'s agents (scripts/demo-agents.ts): drop --agents, or drop --demo');
  process.exit(64);
}
const scripted = values.scripted || values.demo;

// The hosts an agent calls come from its agents file only; the demo's agents name this shop.
let shop: FakeShop | undefined;
if (values.demo) {
  shop = new FakeShop(DEMO_SHOP_TOKEN);
  await shop.start();
}
const file = shop ? 'the demo agents (scripts/demo-agents.ts)' : agentsFilePath(values.agents);

function load(): AgentConfig[] {
  return shop ? parseAgentsForTools(demoAgents(shop.url), file).agents : readAgentsForTools(file).agents;
}

let agents: AgentConfig[];
try {
  agents = load();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : String(err));
  process.exit(78);
}
const agentId = values.agent ?? agents[0].id;
if (!agents.some((a) => a.id === agentId)) {
  console.error(`no agent "${agentId}" in ${file}; there are: ${agents.map((a) => a.id).join(', ')}`);
  process.exit(64);
}

let llm: ToolLlm;
try {
  llm = await toolLlm(scripted);
} catch (err) {
  console.error(err instanceof ConfigError ? `${err.message}\n(or add --scripted to try the playground without an API key)` : String(err));
  process.exit(78);
}
const engine = new DecisionEngine(llm.client);

/** The calls of the turn being decided, as the port saw them end. */
let turnCalls: DirectCall[] = [];
// Header secrets from the environment (and .env), as the service reads them: a missing one is said, not replaced.
const actions = directActionPort({ env: shop ? { ...process.env, DEMO_SHOP_TOKEN } : process.env, onCall: (call) => turnCalls.push(call) });

let agent = agents.find((a) => a.id === agentId)!;
let transcript: TranscriptEntry[] = [];
let summary: string | null = null;
let turns = 0;
/** What this conversation spent on the LLM, as the budgets count it (shown when the agent has budgets). */
let used: SessionUsage = { tokens: 0, llmCalls: 0 };
const spend = (u: import('../src/llm/llm.client.js').LlmUsage, calls: number) => {
  const s = spendOf(u, calls, {}, agent.llm.model);
  used = { tokens: used.tokens + s.tokens, llmCalls: used.llmCalls + s.llmCalls };
};
const attributes = new Map<string, string>();
/** The state the last turn was decided in, and what it decided: what `/save` turns into an eval case. */
let lastTurn:
  | { transcript: TranscriptEntry[]; attributes: Record<string, string>; summary: string | null; turns: number; decision: import('../src/agent/decision.js').Decision; calls: ActionCallSummary[] }
  | undefined;

console.log(`Chatting with "${agent.name}" (${agent.id}, ${agent.mode}) from ${file}`);
console.log(`LLM: ${scripted ? 'scripted (no API key needed)' : `${llm.label}, model ${agent.llm.model}`}`);
for (const a of offeredActions(agent))
  console.log(`Action: ${a.name} → ${a.request.method} ${a.request.url}${a.sideEffects ? ' (side effects: described here, never made)' : ''}`);
if (shop) console.log(`Fake shop: ${shop.url} (orders A-12345 and A-20001)`);
console.log(`Type as the contact. /save <case-id> keeps the last turn as an eval case, /reset starts over, /quit leaves.${shop ? '' : ' The agents file is re-read before every turn.'}\n`);

const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
if (process.stdin.isTTY) rl.setPrompt('you › ');

async function turn(text: string | null): Promise<void> {
  try {
    agent = load().find((a) => a.id === agentId) ?? agent;
  } catch (err) {
    console.log(`(agents file not reloaded: ${err instanceof ConfigError ? err.problems.join('; ') : String(err)})`);
  }
  if (text !== null) transcript.push({ direction: 'inbound', text, payload: null, pending: true });
  const { fold, keep } = planFold(transcript, agent.limits.historyWindow);
  if (fold.length) {
    const folded = await engine.summarize(agent, summary, fold);
    spend(folded.usage, 1);
    summary = folded.summary;
    transcript = keep;
  }
  const ctx: ConversationContext = {
    mode: agent.mode,
    language: values.lang ?? 'en',
    contactProfile: { primaryIdentifier: 'Playground contact' },
    contactAttributes: [...attributes].map(([attribute, value]) => ({ attribute, value })),
    summary,
    transcript,
    agentTurns: turns,
  };
  if (agent.knowledge && text !== null) {
    const found = await searchKnowledge(agent, retrievalQuery(ctx));
    ctx.knowledge = found.chunks;
    if (found.failure) ctx.knowledgeFailure = found.failure;
  }
  const availability = availabilityAt(agent.businessHours, at ?? new Date());
  if (availability) ctx.availability = availability;
  // As a live turn: an agent set to hand over while nobody is available does so without the LLM (not a delegated opening).
  const policy = text === null ? undefined : availabilityHandover(agent, availability, ctx.language);
  turnCalls = [];
  const outcome = policy
    ? engine.preempted(agent, ctx, 'turn', policy)
    : await engine.decide(agent, ctx, { kind: text === null ? 'opening' : 'turn', actions });
  if (availability) {
    const back = formatOpening(availability, ctx.language);
    console.log(`  (${availability.at}: ${availability.available ? 'people are available' : `nobody is available (${availability.why}), ${availability.mode}${back ? `; back ${back}` : ''}`})`);
  }
  const d = outcome.decision;
  lastTurn = { transcript: [...transcript], attributes: Object.fromEntries(attributes), summary, turns, decision: d, calls: outcome.actionCalls };
  transcript = transcript.map((e) => ({ ...e, pending: false }));
  if (text !== null) turns++;
  const shown = contactMessage(agent, d);
  if (shown) transcript.push({ direction: 'outbound', text: shown, payload: null });
  for (const [k, v] of Object.entries(d.contactAttributes)) if (!attributes.has(k)) attributes.set(k, v);

  // What the LLM read of the contact's message when values were hidden from it (src/policy/redaction.ts).
  if (outcome.redaction?.pending.length) console.log(dim(`  the LLM saw: ${outcome.redaction.pending.join(' ⏎ ')}`));
  console.log(`agent › ${shown || '(no message)'}`);
  console.log(`  action: ${d.action}   confidence: ${d.confidence}   ${outcome.latencyMs} ms, ${outcome.usage.promptTokens}+${outcome.usage.completionTokens} tokens (${outcome.usage.cachedTokens} cached)`);
  console.log(`  topics: ${d.topics.join(', ') || '-'}   attributes: ${Object.entries(d.contactAttributes).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}`);
  console.log(`  reason: ${d.reason || '-'}`);
  if (d.handoverNote) console.log(`  note: ${d.handoverNote}`);
  for (const c of turnCalls) console.log(`  call: ${callLine({ ...c, ...c.outcome })}`);
  // A call for a function the agent was not offered never reaches the port: the engine refused it.
  const offered = offeredActions(agent).map((a) => a.name);
  for (const c of outcome.actionCalls.filter((c) => !offered.includes(c.name))) console.log(`  call: ${c.line}`);
  for (const c of outcome.citations) console.log(`  cites: ${c.title}${c.url ? ` (${c.url})` : ''}`);
  if (ctx.knowledge && !outcome.citations.length) console.log(`  knowledge: ${ctx.knowledge.length} excerpt(s) shown${ctx.knowledgeFailure ? ` (${ctx.knowledgeFailure})` : ''}, none cited`);
  for (const g of outcome.guardrails) console.log(`  guardrail: ${g}`);
  if (outcome.failure) console.log(`  failure: ${outcome.failure}`);
  spend(outcome.usage, outcome.attempts);
  if (agent.budgets) console.log(`  budget: ${sessionUsageLine(agent.budgets, used)}`);
  if (d.action !== 'reply') console.log(`  (the conversation would end here: ${d.action === 'resolve' ? 'RESOLVED' : 'HANDOVER'}; /reset to start again)`);
  console.log('');
}

/**
 * The agent's knowledge base, searched as a live turn searches it (PostgreSQL at DATABASE_URL,
 * synced with `npm run kb -- sync`); opened at the first question that needs it.
 */
let knowledge: Promise<KnowledgeService | string> | undefined;
async function searchKnowledge(forAgent: AgentConfig, query: string): Promise<Retrieval> {
  knowledge ??= (async () => {
    try {
      const dataSource = await openToolDatabase(toolDatabaseUrl(undefined), 1);
      closeKnowledge = () => dataSource.destroy();
      return new KnowledgeService(new KnowledgeRepository(dataSource), llm.client);
    } catch (err) {
      return (err as Error).message;
    }
  })();
  const service = await knowledge;
  if (typeof service === 'string') return { chunks: [], failure: service, latencyMs: 0, tokens: 0 };
  return service.retrieve(forAgent, query);
}
let closeKnowledge: () => Promise<void> = async () => undefined;

/**
 * `/save <id>`: the last turn as an eval case in evals/<agent>/playground.yaml, with what the agent
 * decided as the expectation; edit the expectation there if the agent got it wrong. The calls the
 * turn made become the case's fixtures, with what they returned (as replay's --export-cases writes
 * them), so the case is answered with the same data.
 */
function save(id: string): void {
  if (!lastTurn) return void console.log('(nothing to save yet: no turn was decided)\n');
  if (!id) return void console.log('(usage: /save <case-id>, like /save refund-over-limit)\n');
  const path = `evals/${agent.id}/playground.yaml`;
  const d = lastTurn.decision;
  const made = lastTurn.calls.filter(madeCall);
  const fixtures = recordedFixtures(made);
  try {
    appendCase(
      path,
      agent.id,
      {
        id,
        tags: ['playground'],
        language: values.lang ?? 'en',
        ...(Object.keys(lastTurn.attributes).length ? { contactAttributes: lastTurn.attributes } : {}),
        ...(lastTurn.summary ? { summary: lastTurn.summary } : {}),
        // Only when the count differs from the agent messages shown (a summary folded some away).
        ...(lastTurn.turns !== lastTurn.transcript.filter((e) => e.direction === 'outbound').length ? { agentTurns: lastTurn.turns } : {}),
        transcript: lastTurn.transcript.map((e) => (e.direction === 'inbound' ? { contact: e.text ?? '' } : { agent: e.text ?? '' })),
        ...(fixtures ? { actions: fixtures } : {}),
        expect: {
          action: d.action,
          ...(d.action === 'handover' ? { handoverReason: d.handoverReason ?? NO_HANDOVER_REASON } : {}),
          topics: d.topics,
          attributes: d.contactAttributes,
          ...(made.length ? { calls: [...new Set(made.map((c) => c.name))] } : {}),
        },
      },
      '# Cases saved from npm run chat with /save: the expectation is what the agent decided then.\n# Correct it where the agent was wrong; npm run eval -- --agent <id> runs this file with the rest.',
    );
    // A side-effect call is never made here: nothing says what it returns until someone writes it.
    const unanswered = [...new Set(made.filter((c) => c.status === 'skipped').map(callText))];
    if (unanswered.length) console.log(`(${unanswered.join(', ')} returned nothing here: give the case a fixture for it in actions:, or its run fails)`);
    console.log(`(saved as case "${id}" in ${path}; npm run eval -- --agent ${agent.id} runs it)\n`);
  } catch (err) {
    console.log(`(not saved: ${err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message})\n`);
  }
}

if (agent.mode === 'delegation') {
  console.log('(a Delegation agent speaks first)');
  await turn(null);
}
if (process.stdin.isTTY) rl.prompt();
for await (const line of rl) {
  const text = line.trim();
  if (text === '/quit') break;
  if (text.startsWith('/save')) {
    save(text.slice(5).trim());
    if (process.stdin.isTTY) rl.prompt();
    continue;
  }
  if (text === '/reset') {
    transcript = [];
    summary = null;
    turns = 0;
    used = { tokens: 0, llmCalls: 0 };
    attributes.clear();
    console.log('(conversation reset)\n');
    if (agent.mode === 'delegation') await turn(null);
  } else if (text) {
    await turn(text);
  }
  if (process.stdin.isTTY) rl.prompt();
}
rl.close();
await closeKnowledge();
await llm.stop();
await shop?.stop();
