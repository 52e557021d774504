// The eval cases shipped in evals/: they load, they are for agents that exist, and they could pass.
// A case that expects a topic or attribute outside its agent's allow-lists is wrong by construction
// (the guardrails drop those), so it is caught here rather than as a failure in every eval run.
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseAgentsFile } from '../config/agents.loader.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { ConfigError } from '../config/config.error.js';
import { caseContext, caseTranscript } from './case-context.js';
import { loadCaseFiles, type LoadedCase, type LoadedCaseFile } from './case.loader.js';
import { NO_HANDOVER_REASON, acceptedActions, acceptedHandoverReasons } from './case.schema.js';
import { argsInclude, caseFileActionProblems } from './fixture-actions.js';

const LANGUAGES = ['en', 'fr', 'es', 'de'] as const;
const MIN_CASES = 120;
const MIN_PER_LANGUAGE = 20;
/** Fewer handover-only cases than this, and a handoverRecall threshold is all or nothing. */
const MIN_FOR_HANDOVER_RECALL = 3;
/** The example agents' order lookup (agents.example.yaml), for a number like A-12345. */
const ORDER_LOOKUP = 'order_status';
/** The knowledge base of the example agents: `expect.sources` names one of its articles (file name without .md). */
const KB_DIR = 'kb/acme';

/** The categories each agent's cases must cover; a category is a file name and a tag. */
const CATEGORIES: Record<string, string[]> = {
  'acme-triage': [
    'answerable',
    'resolve',
    'out-of-scope',
    'human-request',
    'complaints-refunds',
    'attributes',
    'injection',
    'bursts',
    'multi-turn',
    'knowledge',
    'actions',
    'redaction',
    'after-hours',
  ],
  'acme-helper': ['opening', 'collecting', 'hand-back', 'refusal', 'off-task'],
};

// Like scripts/chat.ts: the secrets are not needed to read the agents, so any missing one is '00'.
const secrets = new Proxy(process.env, { get: (env, key: string) => env[key] ?? '00' });
const agents = new Map<string, AgentConfig>(
  parseAgentsFile(readFileSync('agents.example.yaml', 'utf8'), secrets, 'agents.example.yaml').agents.map((a) => [a.id, a]),
);

let files: LoadedCaseFile[] = [];
let cases: LoadedCase[] = [];

beforeAll(async () => {
  try {
    files = await loadCaseFiles(['evals/**/*.yaml']);
  } catch (err) {
    // Show every file:line problem, not just "ConfigError".
    if (err instanceof ConfigError) throw new Error(`the shipped case files do not load:\n${err.problems.join('\n')}`);
    throw err;
  }
  cases = files.flatMap((f) => f.cases);
});

const where = (c: LoadedCase) => `${c.file}:${c.line} case "${c.id}"`;
const category = (file: string) => basename(file, '.yaml');
const handoverOnly = (c: LoadedCase) => {
  const accepted = acceptedActions(c.expect);
  return accepted.length === 1 && accepted[0] === 'handover';
};

describe('the shipped eval cases (evals/)', () => {
  it(`load, and number at least ${MIN_CASES}`, () => {
    expect(files.length).toBeGreaterThan(0);
    expect(cases.length).toBeGreaterThanOrEqual(MIN_CASES);
  });

  // The loader only rejects the same agent + id twice; the shipped set keeps ids unique across all files.
  it('have ids unique across all files, so a report line names one case', () => {
    const seen = new Map<string, string>();
    const duplicates: string[] = [];
    for (const c of cases) {
      const first = seen.get(c.id);
      if (first) duplicates.push(`${where(c)} repeats the id of ${first}`);
      else seen.set(c.id, where(c));
    }
    expect(duplicates).toEqual([]);
  });

  it(`are in ${LANGUAGES.join(', ')}, at least ${MIN_PER_LANGUAGE} each, each tagged with its language`, () => {
    const problems = cases.flatMap((c) => {
      if (!c.language || !(LANGUAGES as readonly string[]).includes(c.language)) return [`${where(c)}: language ${c.language ?? '(none)'}`];
      return c.tags.includes(c.language) ? [] : [`${where(c)}: no tag "${c.language}"`];
    });
    expect(problems).toEqual([]);
    const short = LANGUAGES.map((language) => ({ language, cases: cases.filter((c) => c.language === language).length })).filter(
      (l) => l.cases < MIN_PER_LANGUAGE,
    );
    expect(short).toEqual([]);
  });

  it('are each for an agent of agents.example.yaml', () => {
    const unknown = files.filter((f) => !agents.has(f.agent)).map((f) => `${f.file}: agent "${f.agent}"`);
    expect(unknown).toEqual([]);
  });

  it("expect only topics and attributes on their agent's allow-lists, and start from known attributes on it", () => {
    const problems: string[] = [];
    for (const c of cases) {
      const agent = agents.get(c.agentId);
      if (!agent) continue;
      const topics = new Set(agent.topics.map((t) => t.toLowerCase()));
      for (const topic of c.expect.topics ?? []) {
        if (!topics.has(topic.toLowerCase())) problems.push(`${where(c)}: expects topic "${topic}", not one of ${agent.topics.join(', ')}`);
      }
      const keys = [...Object.keys(c.expect.attributes ?? {}), ...Object.keys(c.contactAttributes)];
      for (const key of keys) {
        if (!Object.hasOwn(agent.contactAttributes, key)) problems.push(`${where(c)}: attribute "${key}" is not one of ${Object.keys(agent.contactAttributes).join(', ')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('cover every category of each agent, each file holding the cases of one category, tagged with it', () => {
    const problems: string[] = [];
    for (const f of files) {
      const expected = CATEGORIES[f.agent] ?? [];
      const name = category(f.file);
      if (!expected.includes(name)) problems.push(`${f.file}: "${name}" is not a category of ${f.agent} (${expected.join(', ')})`);
      for (const c of f.cases) if (!c.tags.includes(name)) problems.push(`${where(c)}: no tag "${name}"`);
    }
    for (const [agent, categories] of Object.entries(CATEGORIES)) {
      for (const name of categories) {
        const count = cases.filter((c) => c.agentId === agent && category(c.file) === name).length;
        if (count === 0) problems.push(`${agent}: no case in the category "${name}"`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('expect no attribute the contact already has: a known value is never overwritten, so only new ones are checked', () => {
    const problems = cases.flatMap((c) =>
      Object.keys(c.expect.attributes ?? {})
        .filter((key) => Object.hasOwn(c.contactAttributes, key))
        .map((key) => `${where(c)}: expects "${key}", already known as "${c.contactAttributes[key]}"`),
    );
    expect(problems).toEqual([]);
  });

  it('expect a handover from a case at its agent\'s turn limit: the guardrail forces one', () => {
    const problems: string[] = [];
    for (const c of cases) {
      const agent = agents.get(c.agentId);
      if (!agent || c.simulate) continue;
      const turns = caseContext(agent, c, caseTranscript(c.transcript)).agentTurns;
      if (turns >= agent.limits.maxTurns && !handoverOnly(c)) problems.push(`${where(c)}: ${turns} turns taken, limit ${agent.limits.maxTurns}, but accepts ${acceptedActions(c.expect).join(', ')}`);
    }
    expect(problems).toEqual([]);
  });

  // Where another action is as good, so is any reason for the handover: the shipped set names one only where nothing else will do.
  it('expect a handover reason only of a case whose only acceptable action is handover', () => {
    const problems = cases
      .filter((c) => c.expect.handoverReason !== undefined && !handoverOnly(c))
      .map((c) => `${where(c)}: expects handoverReason ${acceptedHandoverReasons(c.expect)!.join(', ')} but accepts ${acceptedActions(c.expect).join(', ')}`);
    expect(problems).toEqual([]);
  });

  // The guardrails give an Inception agent's handover a reason when the model gives none (unsupported_request): `none` could never pass there.
  it('expect no handover reason (none) only of a Delegation agent, and usage_limit only at the turn limit', () => {
    const problems: string[] = [];
    for (const c of cases) {
      const agent = agents.get(c.agentId);
      const reasons = acceptedHandoverReasons(c.expect) ?? [];
      if (!agent) continue;
      if (reasons.includes(NO_HANDOVER_REASON) && agent.mode !== 'delegation') problems.push(`${where(c)}: expects no handover reason of ${agent.mode} agent ${agent.id}`);
      if (reasons.includes('usage_limit') && (c.simulate || caseContext(agent, c, caseTranscript(c.transcript)).agentTurns < agent.limits.maxTurns)) {
        problems.push(`${where(c)}: expects usage_limit below the limit of ${agent.limits.maxTurns} turns`);
      }
    }
    expect(problems).toEqual([]);
  });

  it(`set handoverRecall only on at least ${MIN_FOR_HANDOVER_RECALL} handover-only cases, where it is not all or nothing by construction`, () => {
    const problems = files
      .filter((f) => f.thresholds.handoverRecall !== undefined)
      .map((f) => ({ file: f.file, count: f.cases.filter(handoverOnly).length }))
      .filter((f) => f.count < MIN_FOR_HANDOVER_RECALL)
      .map((f) => `${f.file}: handoverRecall over ${f.count} handover-only case(s)`);
    expect(problems).toEqual([]);
  });

  it('write expected attribute values as the agent should store them', () => {
    const problems: string[] = [];
    for (const c of cases) {
      for (const [key, value] of Object.entries(c.expect.attributes ?? {})) {
        if (value === null) continue;
        if (key === 'order_number' && !/^A-\d{5}$/i.test(value)) problems.push(`${where(c)}: order_number "${value}" is not like A-12345`);
        if (key === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) problems.push(`${where(c)}: email "${value}" is not an e-mail address`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('open a delegated conversation with a reply: an opening case has no transcript and accepts reply', () => {
    const openings = cases.filter((c) => c.agentId === 'acme-helper' && category(c.file) === 'opening');
    expect(openings.length).toBeGreaterThan(0);
    const problems = openings
      .filter((c) => c.transcript.length > 0 || !acceptedActions(c.expect).includes('reply'))
      .map((c) => `${where(c)}: an opening has an empty transcript and accepts "reply"`);
    expect(problems).toEqual([]);
  });

  // The engine falls back to the configured greeting, in English, whenever an opening is not a reply
  // with a message: an opening in another language must fail that fallback on its wording.
  it('make a non-English opening fail the English fallback greeting: it excludes a phrase of it', () => {
    const problems = cases
      .filter((c) => c.agentId === 'acme-helper' && category(c.file) === 'opening' && c.language !== 'en')
      .filter((c) => {
        const greeting = agents.get(c.agentId)?.messages.greeting.toLowerCase() ?? '';
        return !(c.expect.messageExcludes ?? []).some((phrase) => greeting.includes(phrase.toLowerCase()));
      })
      .map((c) => `${where(c)}: no messageExcludes phrase of the greeting "${agents.get(c.agentId)?.messages.greeting}"`);
    expect(problems).toEqual([]);
  });

  // A source that names no article could never be cited: the case would fail in every run.
  it(`cite only articles that exist and actions their agent has: every expect.sources entry is a ${KB_DIR}/<name>.md file or action:<name>`, () => {
    const articles = new Set(readdirSync(KB_DIR).filter((f) => f.endsWith('.md')).map((f) => basename(f, '.md')));
    const problems = cases.flatMap((c) =>
      (c.expect.sources ?? [])
        .filter((name) => {
          const action = /^action:(.+)$/.exec(name)?.[1];
          return action === undefined ? !articles.has(name) : !agents.get(c.agentId)?.actions.some((a) => a.name === action);
        })
        .map((name) => `${where(c)}: source "${name}" is not an article of ${KB_DIR} (${[...articles].sort().join(', ')}) nor an action of ${c.agentId}`),
    );
    expect(problems).toEqual([]);
  });

  // What `npm run eval` checks against the agents file before the first LLM call, here for the shipped set.
  it("name only actions their agent offers, in the file's and the cases' fixtures, expect.calls and expect.callArgs, with arguments those actions take", () => {
    const problems = files.flatMap((f) => (agents.has(f.agent) ? caseFileActionProblems(f, agents.get(f.agent)!) : []));
    expect(problems).toEqual([]);
  });

  // A call without a fixture fails its run: a case that expects one must say what it returns.
  it('give every call a case expects, and every cited call, a fixture', () => {
    const problems = cases.flatMap((c) => {
      const cited = (c.expect.sources ?? []).flatMap((s) => /^action:(.+)$/.exec(s)?.[1] ?? []);
      const wanted = [...new Set([...(c.expect.calls ?? []), ...Object.keys(c.expect.callArgs ?? {}), ...cited])];
      return wanted.filter((name) => !Object.hasOwn(c.actions ?? {}, name)).map((name) => `${where(c)}: expects a call of ${name} but has no actions.${name} fixture`);
    });
    expect(problems).toEqual([]);
  });

  // The example agent looks up any order the contact names or already has: a case that says nothing
  // of what the lookup returns fails the run of every model that makes it, whatever it then decides.
  it('answer a lookup of every order number the contact gave, or has, with a fixture (the case\'s or its file\'s)', () => {
    const problems = cases.flatMap((c) => {
      if (c.simulate || !agents.get(c.agentId)?.actions.some((a) => a.name === ORDER_LOOKUP)) return [];
      const contactText = [...c.transcript.flatMap((e) => ('contact' in e ? [e.contact] : [])), c.summary ?? '', ...Object.values(c.contactAttributes)].join('\n');
      const numbers = new Set([...contactText.matchAll(/\bA-\d{5}\b/gi)].map((m) => m[0].toUpperCase()));
      const answers = c.actions?.[ORDER_LOOKUP] ?? [];
      return [...numbers]
        .filter((n) => !answers.some((f) => !f.when || argsInclude({ order_number: n }, f.when)))
        .map((n) => `${where(c)}: the contact names ${n}, and no ${ORDER_LOOKUP} fixture answers a lookup of it`);
    });
    expect(problems).toEqual([]);
  });

  it('give every file thresholds to gate a real model on', () => {
    const missing = files.filter((f) => Object.keys(f.thresholds).length === 0).map((f) => f.file);
    expect(missing).toEqual([]);
  });
});
