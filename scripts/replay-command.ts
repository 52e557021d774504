// `npm run replay -- --agent <id> [--since 7d] [--limit N] [--agents-file <edited.yaml>] [--scripted]
//                    [--database <url>] [--export-cases <file>] [--export changed|all] [--concurrency N] [--out DIR]`
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import pg from 'pg';
import { DecisionEngine } from '../src/agent/decision.engine.js';
import type { AgentConfig } from '../src/config/agents.schema.js';
import { ConfigError } from '../src/config/config.error.js';
import { parseDuration } from '../src/config/duration.js';
import { DEFAULT_DATABASE_URL } from '../src/config/env.schema.js';
import { mapPool } from '../src/common/map-pool.js';
import { redactUrl } from '../src/common/redact-url.js';
import { exportCases, renderReplayMarkdown, type ReplayReport } from '../src/evals/replay-report.js';
import { replayTotals, replayTurn, storedMessages, storedTurns } from '../src/evals/replay.js';
import { DEMO_AGENTS } from './demo-agents.js';
import { EXIT, type Io } from './eval-command.js';
import { agentsFilePath, parseAgentsForTools, readAgentsForTools, shownPath, toolLlm, wholeNumberOption } from './tool-support.js';
import { clip } from '../src/common/clip.js';

/** Where `npm run demo` leaves its conversations (scripts/demo.ts). */
export const DEMO_DATABASE = 'inbox_va_bridge_demo';
const DEMO_AGENTS_NAME = 'demo agents (scripts/demo-agents.ts)';
/** Ten years: beyond it a date is not a date PostgreSQL takes. */
const MAX_SINCE_MS = 3650 * 86_400_000;

const defaultIo: Io = { out: (l) => console.log(l), err: (l) => console.error(l), stream: process.stderr };

export async function replayCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        agent: { type: 'string' },
        since: { type: 'string', default: '7d' },
        limit: { type: 'string', default: '200' },
        'agents-file': { type: 'string' },
        database: { type: 'string' },
        scripted: { type: 'boolean', default: false },
        'export-cases': { type: 'string' },
        export: { type: 'string', default: 'changed' },
        concurrency: { type: 'string', default: '4' },
        out: { type: 'string', default: 'eval-results' },
        force: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  const sinceMs = parseDuration(values.since);
  const limit = wholeNumberOption(values.limit, 'limit', 100_000);
  const concurrency = wholeNumberOption(values.concurrency, 'concurrency', 64);
  const problems = [
    !values.agent && '--agent is required',
    (sinceMs === undefined || sinceMs > MAX_SINCE_MS) && `--since must be a duration up to 3650d, like 7d, 12h or 30m, not "${values.since}"`,
    typeof limit === 'string' && limit,
    typeof concurrency === 'string' && concurrency,
    !['changed', 'all'].includes(values.export) && `--export must be "changed" or "all", not "${values.export}"`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length) {
    io.err(`${problems.join('\n')}\n${USAGE}`);
    return EXIT.usage;
  }
  const agentId = values.agent!;
  if (typeof limit === 'string' || typeof concurrency === 'string') return EXIT.usage; // for the types: reported with the problems above
  const since = new Date(Date.now() - sinceMs!);

  // The agent is checked before any database is touched: a typo gets its own answer, not "no turns".
  const named = values['agents-file'];
  const demoAgents = { ...parseAgentsForTools(DEMO_AGENTS, DEMO_AGENTS_NAME), path: DEMO_AGENTS_NAME };
  let current: (ReturnType<typeof readAgentsForTools> & { path: string }) | undefined;
  try {
    current = { ...readAgentsForTools(agentsFilePath(named, env)), path: shownPath(agentsFilePath(named, env)) };
  } catch (err) {
    if (named || !demoAgents.agents.some((a) => a.id === agentId)) {
      io.err(err instanceof ConfigError ? err.message : String(err));
      return EXIT.config;
    }
  }
  const inCurrent = current?.agents.some((a) => a.id === agentId) ?? false;
  if (!inCurrent && (named || !demoAgents.agents.some((a) => a.id === agentId))) {
    io.err(`no agent "${agentId}" in ${current?.path ?? shownPath(agentsFilePath(named, env))} (it has: ${current?.agents.map((a) => a.id).join(', ')})`);
    return EXIT.config;
  }

  const explicitDb = values.database ?? env.DATABASE_URL;
  const chosen = await chooseDatabase(explicitDb, agentId, since, limit, io);
  if (!chosen) return EXIT.config;
  const { db, url: databaseUrl, usingDemo, found } = chosen;
  try {
    // The agents file the turns are decided with again: the edited one, else the current one
    // (for the demo's database, the demo's own agents unless another file is named).
    const file = usingDemo && !named ? demoAgents : current;
    const agent = file?.agents.find((a) => a.id === agentId);
    if (!file || !agent) {
      io.err(`no agent "${agentId}" in ${file?.path ?? shownPath(agentsFilePath(named, env))}`);
      return EXIT.config;
    }
    const { pricing, path: agentsFile } = file;

    if (found.turns.length === 0) {
      io.out(
        found.withoutSnapshot
          ? `${found.withoutSnapshot} turn(s) of ${agentId} since ${since.toISOString()}, all taken before contexts were stored: nothing to replay.`
          : `No turn of ${agentId} since ${since.toISOString()} in ${redactUrl(databaseUrl)}.`,
      );
      return EXIT.ok;
    }

    // Scripted answers compared with a real model's decisions would report noise as changes: only
    // the demo's turns (scripted themselves) fall back to it without being asked.
    if (!values.scripted && !env.OPENAI_API_KEY && !usingDemo) {
      io.err('OPENAI_API_KEY is not set: set it (and OPENAI_BASE_URL for another endpoint) to decide these turns again with your model, or add --scripted to check the plumbing');
      return EXIT.config;
    }
    const scripted = values.scripted || !env.OPENAI_API_KEY;
    if (scripted && !values.scripted) io.out('(OPENAI_API_KEY is not set: deciding the demo\'s turns with the scripted LLM, as the demo did.)');
    let llm;
    try {
      llm = await toolLlm(scripted, env);
    } catch (err) {
      io.err(err instanceof ConfigError ? err.message : String(err));
      return EXIT.config;
    }
    try {
      const engine = new DecisionEngine(llm.client);
      const messages = await storedMessages(db, [...new Set(found.turns.flatMap((t) => t.context!.messages.map((m) => m.id)))]);
      const startedAt = new Date();
      io.out(`Replaying ${found.turns.length} turn(s) of ${agentId} with ${agentsFile} · LLM: ${llm.label}`);
      const bar = new SingleBar({ stream: io.stream, format: 'turns [{bar}] {value}/{total} · {changed} changed · {eta_formatted} left', hideCursor: true, clearOnComplete: true });
      bar.start(found.turns.length, 0, { changed: 0 });
      let changed = 0;
      const rows = await mapPool(found.turns, concurrency, async (turn) => {
        const row = await replayTurn(engine, agent, turn, messages, pricing);
        if (row.changes.length) changed++;
        bar.increment(1, { changed });
        return row;
      });
      bar.stop();

      const totals = replayTotals(rows, found.withoutSnapshot);
      const report: ReplayReport = {
        info: {
          kind: 'replay',
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          agents: [agentId],
          agentsFile,
          caseFiles: [],
          llm: llm.label,
          scripted: llm.scripted,
          judgeModel: null,
          repeat: 1,
          concurrency,
          gated: false,
          database: redactUrl(databaseUrl),
          since: since.toISOString(),
          limit,
        },
        totals,
        rows: rows.map(({ context: _context, ...row }) => row),
      };
      const dir = join(values.out, `${startedAt.toISOString().replace(/[:.]/g, '-')}-replay`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'report.md'), renderReplayMarkdown(report));
      writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      writeFileSync(join(dir, 'results.jsonl'), report.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

      io.out(
        [
          `${totals.replayed} of ${totals.turns} turn(s) decided again; context rebuilt exactly for ${totals.exact}${totals.withoutSnapshot ? ` (${totals.withoutSnapshot} predate stored contexts)` : ''}.`,
          `Action changed: ${totals.actionChanged}${Object.keys(totals.transitions).length ? ` (${Object.entries(totals.transitions).map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''} · topics changed: ${totals.topicsChanged} · attributes changed: ${totals.attributesChanged} · calls changed: ${totals.callsChanged}`,
          ...(totals.unrecorded.calls ? [`${totals.unrecorded.turns} turn(s) asked for ${totals.unrecorded.calls} call(s) the turn had not recorded: answered "not recorded", no request made.`] : []),
          ...rows
            .filter((r) => r.changes.includes('action'))
            .slice(0, 10)
            .map((r) => `  ${r.inboxConversationId} decision ${r.decisionId}: ${r.then.action} → ${r.now!.action} · then: ${clip(r.then.reason, 80)} · now: ${clip(r.now!.failure ?? r.now!.reason, 80)}${r.now!.guardrails.length ? ` [${r.now!.guardrails.join('; ')}]` : ''}`),
          `Report: ${join(dir, 'report.md')} (also report.json, results.jsonl)`,
        ].join('\n'),
      );

      if (values['export-cases']) {
        const chosen = rows.filter((r) => r.now && (values.export === 'all' || r.changes.length > 0));
        const { yaml, exported, left } = exportCases(agentId, chosen, startedAt.toISOString().slice(0, 10));
        if (exported === 0) {
          io.out(`No turn to export (--export ${values.export}${values.export === 'changed' ? ': nothing changed; use --export all' : ''}).`);
        } else if (existsSync(values['export-cases']) && !values.force) {
          // It may be a case file someone has corrected: never overwritten without being told to.
          io.err(`${values['export-cases']} exists: choose another file, or add --force to replace it`);
          return EXIT.config;
        } else {
          mkdirSync(dirname(values['export-cases']), { recursive: true });
          writeFileSync(values['export-cases'], yaml);
          io.out(`Exported ${exported} case(s) to ${values['export-cases']}: the expectations are what the agent decided then; correct them.${left.length ? ` Left out: ${left.join('; ')}` : ''}`);
        }
      }
      return EXIT.ok;
    } finally {
      await llm.stop();
    }
  } finally {
    await db.end().catch(() => undefined);
  }
}

/**
 * The named database; with none named, the default one, or else the one `npm run demo` left its
 * conversations in, when the default has no turn of this agent (or does not exist).
 */
async function chooseDatabase(explicit: string | undefined, agentId: string, since: Date, limit: number, io: Io) {
  const url = explicit || DEFAULT_DATABASE_URL;
  const open = async (target: string): Promise<{ db?: pg.Client; found?: Awaited<ReturnType<typeof storedTurns>>; problem?: string }> => {
    const { db, problem } = await connectReadOnly(target);
    if (!db) return { problem };
    try {
      return { db, found: await storedTurns(db, agentId, since, limit) };
    } catch (err) {
      await db.end().catch(() => undefined);
      const code = (err as { code?: string }).code;
      return { problem: code === '42P01' ? `${redactUrl(target)} has no decisions table: not a bridge database (the bridge migrates it when it starts)` : `cannot read the turns in ${redactUrl(target)}: ${(err as Error).message}` };
    }
  };
  const has = (found?: Awaited<ReturnType<typeof storedTurns>>) => !!found && found.turns.length + found.withoutSnapshot > 0;

  const main = await open(url);
  if (explicit || has(main.found)) {
    if (main.db && main.found) return { db: main.db, url, usingDemo: false, found: main.found };
    io.err(main.problem!);
    return undefined;
  }
  // Nothing named and nothing here: the turns the demo left are the likely target.
  const demo = new URL(url);
  demo.pathname = `/${DEMO_DATABASE}`;
  const other = await open(demo.toString());
  if (other.db && has(other.found)) {
    await main.db?.end().catch(() => undefined);
    io.out(`(${main.problem ? `${main.problem};` : `no turns of ${agentId} in ${redactUrl(url)};`} replaying the ones npm run demo left in ${DEMO_DATABASE}. Name another with --database or DATABASE_URL.)`);
    return { db: other.db, url: demo.toString(), usingDemo: true, found: other.found! };
  }
  await other.db?.end().catch(() => undefined);
  if (main.db && main.found) return { db: main.db, url, usingDemo: false, found: main.found };
  io.err(`${main.problem}; and npm run demo has left no turn of ${agentId} either. Name a database with --database or DATABASE_URL.`);
  return undefined;
}

/**
 * A connection that refuses every write: replay reads the conversation tables and nothing else.
 * Set after connecting rather than as a startup option, which connection poolers refuse.
 */
async function connectReadOnly(url: string): Promise<{ db?: pg.Client; problem?: string }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    return { db: client };
  } catch (err) {
    await client.end().catch(() => undefined);
    return { problem: `cannot read the database at ${redactUrl(url)}: ${(err as Error).message}` };
  }
}


export const USAGE = `usage: npm run replay -- --agent <id> [--since 7d] [--limit N] [--agents-file <edited.yaml>] [--scripted]
                         [--database <url>] [--export-cases <file.yaml> [--force]] [--export changed|all] [--concurrency N] [--out <dir>]`;
