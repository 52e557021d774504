// `npm run eval -- [--agent <id>] [--cases <glob>] [--scripted] [--judge-model <m>] [--contact-model <m>]
//                  [--concurrency N] [--repeat k] [--compare <report.json>] [--agents-file F] [--out DIR]`
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { DecisionEngine } from '../src/agent/decision.engine.js';
import type { AgentConfig } from '../src/config/agents.schema.js';
import { ConfigError } from '../src/config/config.error.js';
import { caseKind, caseTranscript } from '../src/evals/case-context.js';
import { loadCaseFiles, type LoadedCaseFile } from '../src/evals/case.loader.js';
import { caseFileActionProblems } from '../src/evals/fixture-actions.js';
import { compareReports, readReport, type Comparison } from '../src/evals/compare.js';
import { Judge } from '../src/evals/judge.js';
import { checkThresholds, computeByAgent, computeByTag, computeMetrics } from '../src/evals/metrics.js';
import { renderSummary, writeReport } from '../src/evals/report.js';
import { runAll, type Job } from '../src/evals/runner.js';
import { ContactSimulator } from '../src/evals/simulate.js';
import type { EvalReport, ThresholdResult } from '../src/evals/types.js';
import { KnowledgeRepository } from '../src/knowledge/knowledge.repository.js';
import { KnowledgeService } from '../src/knowledge/knowledge.service.js';
import { syncAgent } from '../src/knowledge/knowledge.sync.js';
import type { DataSource } from 'typeorm';
import { agentsFilePath, openToolDatabase, readAgentsForTools, shownPath, toolDatabaseUrl, toolLlm, wholeNumberOption, type ToolLlm } from './tool-support.js';

export const EXIT = { ok: 0, thresholds: 1, usage: 64, config: 78, error: 70 } as const;

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  /** A progress bar goes here when it is a terminal. */
  stream: NodeJS.WriteStream;
}

const defaultIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l), stream: process.stderr };

export async function evalCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        agent: { type: 'string', multiple: true },
        cases: { type: 'string', multiple: true },
        'agents-file': { type: 'string' },
        scripted: { type: 'boolean', default: false },
        'judge-model': { type: 'string' },
        'contact-model': { type: 'string' },
        concurrency: { type: 'string', default: '4' },
        repeat: { type: 'string', default: '1' },
        compare: { type: 'string' },
        out: { type: 'string', default: 'eval-results' },
        'skip-simulations': { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  const concurrency = wholeNumberOption(values.concurrency, 'concurrency', 64);
  const repeat = wholeNumberOption(values.repeat, 'repeat', 20);
  if (typeof concurrency === 'string' || typeof repeat === 'string') {
    io.err(`${typeof concurrency === 'string' ? concurrency : repeat}\n${USAGE}`);
    return EXIT.usage;
  }

  // Everything that can be wrong in the files is found before a single LLM call is paid for.
  const agentsFile = agentsFilePath(values['agents-file'], env);
  let agents: Map<string, AgentConfig>;
  let pricing;
  let files: LoadedCaseFile[];
  let before: EvalReport | undefined;
  try {
    const parsed = readAgentsForTools(agentsFile);
    agents = new Map(parsed.agents.map((a) => [a.id, a]));
    pricing = parsed.pricing;
    files = await loadCaseFiles(values.cases ?? ['evals/**/*.yaml']);
    if (values.compare) before = readReport(values.compare);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return EXIT.config;
    }
    io.err((err as Error).message);
    return EXIT.config;
  }
  const wanted = values.agent;
  if (wanted) files = files.filter((f) => wanted.includes(f.agent));
  if (!values.cases) {
    // The default glob also finds the shipped example cases: a team's own agents file need not have their agents.
    const others = files.filter((f) => !agents.has(f.agent));
    if (others.length) io.out(`(${others.length} case file(s) of agents not in ${shownPath(agentsFile)} left out: ${[...new Set(others.map((f) => f.agent))].join(', ')})`);
    files = files.filter((f) => agents.has(f.agent));
  }
  const problems = files.filter((f) => !agents.has(f.agent)).map((f) => `${f.file}: agent "${f.agent}" is not in ${shownPath(agentsFile)} (it has: ${[...agents.keys()].join(', ')})`);
  if (wanted) for (const id of wanted) if (!agents.has(id)) problems.push(`no agent "${id}" in ${shownPath(agentsFile)} (it has: ${[...agents.keys()].join(', ')})`);
  // A case its agent cannot take (an Inception case with nothing from the contact) is found now, not after paying.
  for (const f of files) {
    const agent = agents.get(f.agent);
    if (!agent) continue;
    // A fixture or an expected call of an action the agent does not offer could never be used or met.
    problems.push(...caseFileActionProblems(f, agent));
    for (const c of f.cases) {
      if (c.simulate) continue;
      const kind = caseKind(agent, caseTranscript(c.transcript));
      if (typeof kind !== 'string') problems.push(`${c.file}:${c.line}: case "${c.id}": ${kind.error}`);
    }
  }
  if (problems.length) {
    io.err(problems.join('\n'));
    return EXIT.config;
  }
  if (files.length === 0) {
    io.err(`no case file for ${wanted ? `agent ${wanted.join(', ')}` : 'any agent'} in ${(values.cases ?? ['evals/**/*.yaml']).join(', ')}`);
    return EXIT.config;
  }
  if (!values.scripted && !env.OPENAI_API_KEY) {
    io.err('OPENAI_API_KEY is not set: set it (and OPENAI_BASE_URL for another endpoint than OpenAI), or add --scripted to check the plumbing with the scripted LLM');
    return EXIT.config;
  }

  const startedAt = new Date();
  const dir = join(values.out, startedAt.toISOString().replace(/[:.]/g, '-'));
  try {
    // Before the first LLM call: a report that cannot be written is found while it costs nothing.
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    io.err(`cannot write the report to ${dir}: ${(err as Error).message}`);
    return EXIT.config;
  }
  let llm;
  try {
    llm = await toolLlm(values.scripted, env);
  } catch (err) {
    io.err(err instanceof ConfigError ? err.message : String(err));
    return EXIT.config;
  }
  try {
    const judgeModel = values.scripted ? undefined : values['judge-model'];
    const contactModel = values['contact-model'] ?? judgeModel;
    // A simulation needs a second model playing the contact; the scripted LLM cannot play one.
    const simulate = !values.scripted && !values['skip-simulations'];
    const skipped = files.flatMap((f) => f.cases).filter((c) => c.simulate && !simulate);
    const jobs: Job[] = files.flatMap((f) => f.cases.filter((c) => !c.simulate || simulate).flatMap((c) => Array.from({ length: repeat }, (_, r) => ({ case: c, repeat: r }))));
    const engine = new DecisionEngine(llm.client);
    const knowledge = await knowledgeFor(files.map((f) => agents.get(f.agent)!), llm, env, io);
    if (knowledge === 'failed') return EXIT.config;
    const deps = {
      engine,
      agents,
      knowledge: knowledge?.retriever,
      prices: pricing,
      judge: judgeModel ? new Judge(llm.client, judgeModel) : undefined,
      simulator: simulate ? new ContactSimulator(llm.client, contactModel) : undefined,
    };

    io.out(`Evaluating ${jobs.length} run(s) of ${files.reduce((n, f) => n + f.cases.length, 0) - skipped.length} case(s) from ${files.length} file(s) · LLM: ${llm.label}${judgeModel ? ` · judge: ${judgeModel}` : ''}`);
    if (skipped.length) io.out(`(${skipped.length} simulated case(s) not run: ${values.scripted ? 'the scripted LLM cannot play a contact' : '--skip-simulations'})`);
    const bar = new SingleBar({ stream: io.stream, format: 'cases [{bar}] {value}/{total} · {failed} failed · {eta_formatted} left', hideCursor: true, noTTYOutput: false, clearOnComplete: true });
    bar.start(jobs.length, 0, { failed: 0 });
    let failed = 0;
    const runs = await runAll(jobs, concurrency, deps, (run) => {
      if (!run.passed) failed++;
      bar.increment(1, { failed });
    });
    bar.stop();

    const thresholds: ThresholdResult[] = files.flatMap((f) =>
      checkThresholds(computeMetrics(runs.filter((r) => r.file === f.file)), f.thresholds).map((t) => ({ ...t, file: f.file })),
    );
    const report: EvalReport = {
      info: {
        kind: 'eval',
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        agents: [...new Set(files.map((f) => f.agent))],
        agentsFile: shownPath(agentsFile),
        caseFiles: files.map((f) => f.file),
        llm: llm.label,
        scripted: llm.scripted,
        judgeModel: judgeModel ?? null,
        repeat,
        concurrency,
        // The scripted LLM proves the plumbing, not judgement: its scores must gate nothing.
        gated: !llm.scripted,
      },
      metrics: computeMetrics(runs, pricing),
      byAgent: computeByAgent(runs, pricing),
      byTag: computeByTag(runs),
      thresholds,
      runs,
    };
    let comparison: Comparison | undefined;
    try {
      comparison = before ? compareReports(before, report) : undefined;
    } catch (err) {
      // The runs are paid for: the report is written without the comparison rather than lost.
      io.err(`cannot compare with ${values.compare}: ${(err as Error).message}; the report is written without the comparison`);
    }
    writeReport(dir, report, comparison);
    io.out(renderSummary(report, comparison));
    io.out(`Report: ${join(dir, 'report.md')} (also report.json, results.jsonl)`);

    const errors = runs.filter((r) => r.error);
    if (errors.length) {
      io.err(`${errors.length} run(s) could not be evaluated, e.g. ${errors[0].caseId}: ${errors[0].error}`);
      return EXIT.error;
    }
    if (report.info.gated && thresholds.some((t) => !t.ok)) return EXIT.thresholds;
    return EXIT.ok;
  } finally {
    await llm.stop();
  }
}

/** Where an eval keeps an agent's knowledge: apart from the service's, so an edited agents file never changes what live turns search. */
const evalKey = (agent: AgentConfig): AgentConfig => ({ ...agent, id: `eval:${agent.id}` });

/**
 * For agents that answer from a knowledge base: syncs their sources (as `npm run kb -- sync` does,
 * under their own key) into PostgreSQL at DATABASE_URL and searches them as a live turn would, with
 * the same SQL. Undefined when no agent has knowledge; 'failed' (said why) when it cannot be done.
 */
async function knowledgeFor(agents: AgentConfig[], llm: ToolLlm, env: NodeJS.ProcessEnv, io: Io) {
  const withKnowledge = [...new Set(agents)].filter((a) => a.knowledge);
  if (withKnowledge.length === 0) return undefined;
  let dataSource: DataSource;
  try {
    dataSource = await openToolDatabase(toolDatabaseUrl(undefined, env), 4);
  } catch (err) {
    io.err(`agent "${withKnowledge[0].id}" answers from a knowledge base, which an eval searches in PostgreSQL: ${(err as Error).message}; set DATABASE_URL`);
    return 'failed' as const;
  }
  const repo = new KnowledgeRepository(dataSource);
  for (const agent of withKnowledge) {
    let stats;
    try {
      stats = await syncAgent(repo, llm.client, evalKey(agent));
    } catch (err) {
      await dataSource.destroy().catch(() => undefined);
      io.err(`cannot sync the knowledge of ${agent.id}: ${(err as Error).message.replace(`"eval:${agent.id}"`, `"${agent.id}"`)}`);
      return 'failed' as const;
    }
    io.out(`(knowledge of ${agent.id}: ${stats.added + stats.updated + stats.unchanged} article(s), ${stats.chunks} chunk(s)${stats.errors.length ? `; ${stats.errors.length} source error(s), e.g. ${stats.errors[0].source}: ${stats.errors[0].error}` : ''})`);
  }
  const service = new KnowledgeService(repo, llm.client);
  llm.onStop(() => dataSource.destroy());
  return { retriever: { retrieve: (agent: AgentConfig, query: string) => service.retrieve(evalKey(agent), query) } };
}


export const USAGE = `usage: npm run eval -- [--agent <id>] [--cases <glob>]… [--scripted] [--judge-model <model>] [--contact-model <model>]
                       [--concurrency N] [--repeat k] [--compare <earlier report.json>] [--agents-file <file>] [--out <dir>] [--skip-simulations]`;
