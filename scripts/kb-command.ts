import { LlmClient } from '../src/llm/llm.client.js';
// `npm run kb -- sync [--agent <id>]`, `kb list [--agent <id>]`, `kb search --agent <id> "<query>"`,
// `kb remove --agent <id> [--uri <uri>]`, `kb eval --agent <id> [--set <retrieval.yaml>] [--k N]`;
// all take [--agents-file <file>] [--database <url>] [--scripted].
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { parse } from 'yaml';
import { z } from 'zod';
import type { DataSource } from 'typeorm';
import type { AgentConfig } from '../src/config/agents.schema.js';
import { ConfigError } from '../src/config/config.error.js';
import { KnowledgeRepository } from '../src/knowledge/knowledge.repository.js';
import { KnowledgeService } from '../src/knowledge/knowledge.service.js';
import { syncAgent } from '../src/knowledge/knowledge.sync.js';
import { articleName } from '../src/knowledge/retrieval.js';
import { EXIT, type Io } from './eval-command.js';
import { agentsFilePath, openToolDatabase, readAgentsForTools, shownPath, toolDatabaseUrl, toolLlm, wholeNumberOption, type ToolLlm } from './tool-support.js';

const defaultIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l), stream: process.stderr };

export async function kbCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        agent: { type: 'string' },
        'agents-file': { type: 'string' },
        database: { type: 'string' },
        scripted: { type: 'boolean', default: false },
        uri: { type: 'string' },
        set: { type: 'string' },
        k: { type: 'string', default: '4' },
      },
      strict: true,
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (!['sync', 'list', 'search', 'remove', 'eval'].includes(command ?? '')) {
    io.err(`${command ? `unknown command "${command}"` : 'no command'}\n${USAGE}`);
    return EXIT.usage;
  }

  let agents: AgentConfig[];
  const file = agentsFilePath(values['agents-file'], env);
  try {
    agents = readAgentsForTools(file).agents;
  } catch (err) {
    io.err(err instanceof ConfigError ? err.message : String(err));
    return EXIT.config;
  }
  const withKnowledge = agents.filter((a) => a.knowledge);
  const chosen = values.agent ? agents.filter((a) => a.id === values.agent) : withKnowledge;
  if (values.agent && chosen.length === 0) {
    io.err(`no agent "${values.agent}" in ${shownPath(file)} (it has: ${agents.map((a) => a.id).join(', ')})`);
    return EXIT.config;
  }
  const lacking = chosen.filter((a) => !a.knowledge);
  if (lacking.length) {
    io.err(`agent "${lacking[0].id}" has no knowledge: add a knowledge block with its sources to ${shownPath(file)} (docs/knowledge.md)`);
    return EXIT.config;
  }
  if (chosen.length === 0) {
    io.err(`no agent in ${shownPath(file)} has knowledge sources`);
    return EXIT.config;
  }
  if ((command === 'search' || command === 'remove' || command === 'eval') && !values.agent) {
    io.err(`kb ${command} needs --agent <id>\n${USAGE}`);
    return EXIT.usage;
  }
  if (command === 'search' && !rest.join(' ').trim()) {
    io.err(`kb search needs a query: npm run kb -- search --agent ${values.agent} "can I return shoes I wore once"`);
    return EXIT.usage;
  }
  const k = wholeNumberOption(values.k, 'k', 20);
  if (typeof k === 'string') {
    io.err(k);
    return EXIT.usage;
  }

  // Embeddings need the endpoint; full text alone needs none.
  const needsLlm = chosen.some((a) => a.knowledge?.embeddings) && command !== 'list' && command !== 'remove';
  if (needsLlm && !values.scripted && !env.OPENAI_API_KEY) {
    io.err('this agent uses embeddings: set OPENAI_API_KEY (and OPENAI_BASE_URL), or add --scripted for the deterministic fake embeddings');
    return EXIT.config;
  }
  let dataSource: DataSource;
  try {
    dataSource = await openToolDatabase(toolDatabaseUrl(values.database, env), 2);
  } catch (err) {
    io.err((err as Error).message);
    return EXIT.config;
  }
  let llm: ToolLlm | undefined;
  try {
    llm = needsLlm ? await toolLlm(values.scripted, env) : undefined;
    const repo = new KnowledgeRepository(dataSource);
    switch (command) {
      case 'sync':
        return await sync(repo, llm, chosen, io);
      case 'list':
        return await list(repo, chosen, io);
      case 'search':
        return await search(repo, llm, chosen[0], rest.join(' '), io);
      case 'remove':
        return await remove(repo, chosen[0], values.uri, io);
      default:
        return await evaluate(repo, llm, chosen[0], values.set ?? `kb/${chosen[0].id.split('-')[0]}/retrieval.yaml`, k, io);
    }
  } catch (err) {
    io.err(err instanceof ConfigError ? err.message : (err as Error).message);
    return EXIT.error;
  } finally {
    await llm?.stop();
    await dataSource.destroy();
  }
}

async function sync(repo: KnowledgeRepository, llm: ToolLlm | undefined, agents: AgentConfig[], io: Io): Promise<number> {
  let failed = false;
  for (const agent of agents) {
    const bar = new SingleBar({ stream: io.stream, format: `${agent.id} [{bar}] {value}/{total} · {current}`, hideCursor: true, clearOnComplete: true });
    let started = false;
    const stats = await syncAgent(repo, llm?.client, agent, {
      onProgress: (done, total, current) => {
        if (!started) bar.start(total, 0, { current: '' });
        started = true;
        bar.setTotal(total);
        bar.update(done, { current: current.slice(-50) });
      },
    });
    if (started) bar.stop();
    io.out(
      `${agent.id}: ${stats.added} added, ${stats.updated} updated, ${stats.unchanged} unchanged, ${stats.removed} removed · ${stats.chunks} chunks` +
        (stats.embedded ? ` · ${stats.embedded} embedded (${stats.embeddingTokens} tokens)` : ''),
    );
    for (const e of stats.errors) io.err(`  ✘ ${e.source}: ${e.error}`);
    if (stats.errors.length) failed = true;
  }
  // Exit 1 when a source failed: what could be read was kept, but a cron job must notice.
  return failed ? 1 : EXIT.ok;
}

async function list(repo: KnowledgeRepository, agents: AgentConfig[], io: Io): Promise<number> {
  for (const agent of agents) {
    const articles = await repo.articles(agent.id);
    io.out(`${agent.id}: ${articles.length} article(s), ${articles.reduce((n, a) => n + a.chunks, 0)} chunk(s)`);
    for (const a of articles) io.out(`  ${a.uri}  ·  ${a.title}  ·  ${a.chunks} chunk(s)  ·  synced ${a.syncedAt.toISOString().slice(0, 16).replace('T', ' ')}`);
    if (articles.length === 0) io.out(`  (nothing synced yet: npm run kb -- sync --agent ${agent.id})`);
  }
  return EXIT.ok;
}

async function search(repo: KnowledgeRepository, llm: ToolLlm | undefined, agent: AgentConfig, query: string, io: Io): Promise<number> {
  const service = new KnowledgeService(repo, llm?.client ?? noLlm);
  const found = await service.retrieve(agent, query);
  if (found.failure) {
    io.err(`search failed: ${found.failure}`);
    return EXIT.error;
  }
  const k = agent.knowledge!;
  io.out(`${found.chunks.length} chunk(s) at or above minScore ${k.minScore} (top ${k.topK}, ${k.embeddings ? `full text + ${k.embeddings.model}` : 'full text'}, ${k.searchConfig}) · ${found.latencyMs} ms`);
  found.chunks.forEach((c, i) => {
    io.out(`${i + 1}. ${c.score.toFixed(3)}  ${c.title}${c.headingPath.length ? ` › ${c.headingPath.join(' › ')}` : ''}  [${c.id}]${c.url ? `  ${c.url}` : ''}`);
    io.out(`   ${c.text.replace(/\s+/g, ' ').slice(0, 200)}${c.text.length > 200 ? '…' : ''}`);
  });
  if (found.chunks.length === 0) {
    const stored = await repo.articles(agent.id);
    io.out(stored.length ? '(nothing answers this: a turn would hand a factual question over)' : `(nothing synced yet: npm run kb -- sync --agent ${agent.id})`);
  }
  return EXIT.ok;
}

async function remove(repo: KnowledgeRepository, agent: AgentConfig, uri: string | undefined, io: Io): Promise<number> {
  const removed = uri ? await repo.removeArticles(agent.id, [uri]) : await repo.removeAgent(agent.id);
  io.out(`${agent.id}: ${removed} article(s) removed${uri ? ` (${uri})` : ''}`);
  return removed === 0 && uri ? EXIT.config : EXIT.ok;
}

const RetrievalSetSchema = z.object({
  questions: z
    .array(z.object({ q: z.string().min(1), lang: z.string().min(2), article: z.string().min(1).nullable() }).strict())
    .min(1),
});

/**
 * Recall@k and MRR of retrieval over a set of questions whose answering article is known: full
 * text alone, and fused with embeddings when the agent has them. Questions without an article are
 * reported apart: what retrieval returns for them is what `minScore` must keep out.
 */
async function evaluate(repo: KnowledgeRepository, llm: ToolLlm | undefined, agent: AgentConfig, setPath: string, k: number, io: Io): Promise<number> {
  let set: z.infer<typeof RetrievalSetSchema>;
  try {
    set = RetrievalSetSchema.parse(parse(readFileSync(setPath, 'utf8')));
  } catch (err) {
    io.err(`cannot read the retrieval set ${setPath}: ${err instanceof z.ZodError ? z.prettifyError(err) : (err as Error).message}`);
    return EXIT.config;
  }
  // At the agent's own minScore: what a turn would be shown, not what the index could rank.
  const modes: Array<{ name: string; agent: AgentConfig }> = [{ name: 'full text', agent: { ...agent, knowledge: { ...agent.knowledge!, embeddings: undefined, topK: k } } }];
  if (agent.knowledge!.embeddings) modes.push({ name: `hybrid (${agent.knowledge!.embeddings.model})`, agent: { ...agent, knowledge: { ...agent.knowledge!, topK: k } } });
  const service = new KnowledgeService(repo, llm?.client ?? noLlm);
  const answerable = set.questions.filter((q) => q.article);
  const unanswerable = set.questions.filter((q) => !q.article);
  io.out(`Retrieval on ${answerable.length} answerable question(s) (+${unanswerable.length} without an article), k = ${k}, minScore ${agent.knowledge!.minScore}, ${agent.knowledge!.searchConfig} configuration${llm?.scripted ? ', scripted embeddings (a hashed bag of words, not a model)' : ''}`);
  io.out('');
  io.out(`| mode | language | questions | recall@1 | recall@${k} | MRR | nothing shown | top score, median: answerable / unanswerable |`);
  io.out('|---|---|---|---|---|---|---|---|');
  for (const mode of modes) {
    const rows: Array<{ lang: string; rank: number | null; top: number; none: boolean }> = [];
    for (const q of answerable) {
      const found = await service.retrieve(mode.agent, q.q);
      const articles = [...new Set(found.chunks.map((c) => articleName(c.uri)))];
      const rank = articles.indexOf(q.article!);
      rows.push({ lang: q.lang, rank: rank < 0 ? null : rank + 1, top: found.chunks[0]?.score ?? 0, none: found.chunks.length === 0 });
    }
    const noise: Array<{ lang: string; top: number; none: boolean }> = [];
    for (const q of unanswerable) {
      const found = await service.retrieve(mode.agent, q.q);
      noise.push({ lang: q.lang, top: found.chunks[0]?.score ?? 0, none: found.chunks.length === 0 });
    }
    const median = (scores: number[]) => (scores.length ? [...scores].sort((a, b) => a - b)[Math.floor(scores.length / 2)].toFixed(2) : '–');
    for (const lang of ['all', ...new Set(rows.map((r) => r.lang))]) {
      const of = rows.filter((r) => lang === 'all' || r.lang === lang);
      const pct = (n: number) => `${Math.round((100 * n) / of.length)}%`;
      const recall1 = of.filter((r) => r.rank === 1).length;
      const recallK = of.filter((r) => r.rank !== null).length;
      const mrr = of.reduce((sum, r) => sum + (r.rank ? 1 / r.rank : 0), 0) / of.length;
      const unanswered = noise.filter((r) => lang === 'all' || r.lang === lang);
      io.out(
        `| ${mode.name} | ${lang} | ${of.length} | ${pct(recall1)} | ${pct(recallK)} | ${mrr.toFixed(2)} | ${of.filter((r) => r.none).length} of ${of.length} (unanswerable: ${unanswered.filter((r) => r.none).length} of ${unanswered.length}) | ${median(of.map((r) => r.top))} / ${median(unanswered.map((r) => r.top))} |`,
      );
    }
  }
  return EXIT.ok;
}

const noLlm = new (class extends LlmClient {
  complete = () => Promise.reject(new Error('no LLM in this command'));
  embed = () => Promise.reject(new Error('embeddings are not configured'));
})();

export const USAGE = `usage: npm run kb -- sync [--agent <id>]
       npm run kb -- list [--agent <id>]
       npm run kb -- search --agent <id> "<query>"
       npm run kb -- remove --agent <id> [--uri <article uri>]
       npm run kb -- eval --agent <id> [--set kb/acme/retrieval.yaml] [--k 4]
  each with [--agents-file <file>] [--database <url>] [--scripted (fake embeddings)]`;
