import { stringify } from 'yaml';
import { entryText } from '../agent/prompt.builder.js';
import { parseCaseFile } from './case.loader.js';
import type { ActionFixture, CaseEntry, CaseFile } from './case.schema.js';
import { canonicalJson, madeCall } from './fixture-actions.js';
import type { ReplayCall, ReplayRow, ReplayTotals } from './replay.js';
import type { RunInfo } from './types.js';
import { clip } from '../common/clip.js';
import { maskCardsJson } from '../policy/redaction.js';

/** report.json of a replay. */
export interface ReplayReport {
  info: RunInfo & { database: string; since: string; limit: number };
  totals: ReplayTotals;
  rows: Array<Omit<ReplayRow, 'context'>>;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ').trim() || '—';
const list = (items: string[]) => (items.length ? items.join(', ') : '—');
const attrs = (a: Record<string, string>) => list(Object.entries(a).map(([k, v]) => `${k}=${v}`));
const ms = (v: number | null) => (v === null ? '—' : `${Math.round(v)} ms`);

export function renderReplayMarkdown(report: ReplayReport): string {
  const { info, totals: t } = report;
  const lines = [
    `# Replay of ${info.agents.join(', ')}`,
    '',
    `${info.startedAt} · agents file \`${info.agentsFile}\` · LLM: ${info.llm} · database \`${info.database}\` · turns since ${info.since}, newest ${info.limit}`,
    '',
    info.scripted ? '> Decided again by the **scripted LLM**, a keyword matcher: this shows the plumbing and what the agents file alone changes (topics, guardrails), not what a real model would decide.\n' : '',
    '| | |',
    '|---|---|',
    `| turns found | ${t.turns} |`,
    `| decided again | ${t.replayed} |`,
    `| context rebuilt exactly (prompt hash matches) | ${t.exact} of ${t.turns - t.withoutSnapshot} |`,
    `| taken before contexts were stored (skipped) | ${t.withoutSnapshot} |`,
    `| agent instructions changed since the turn | ${t.promptChanged} |`,
    `| **action changed** | **${t.actionChanged}** |`,
    `| topics changed | ${t.topicsChanged} |`,
    `| attributes changed | ${t.attributesChanged} |`,
    `| action calls changed (which lookups, with which arguments) | ${t.callsChanged} |`,
    `| asked for calls the turn had not recorded (answered "not recorded": replay makes no calls) | ${t.unrecorded.turns} turn(s), ${t.unrecorded.calls} call(s) |`,
    `| LLM failures on replay (the agent would hand over) | ${t.llmFailures} |`,
    `| not compared: the LLM endpoint did not answer | ${t.unavailable} |`,
    `| tokens (prompt / completion / cached) | ${t.tokens.promptTokens} / ${t.tokens.completionTokens} / ${t.tokens.cachedTokens} |`,
    `| estimated cost | ${t.costUsd === null ? 'unpriced' : `$${t.costUsd.toFixed(4)}`} |`,
    '',
  ];
  if (Object.keys(t.transitions).length) {
    lines.push('## Action changes', '', '| then → now | turns |', '|---|---|');
    for (const [k, n] of Object.entries(t.transitions).sort((a, b) => b[1] - a[1])) lines.push(`| ${k} | ${n} |`);
    lines.push('');
  }
  const actions = Object.entries(t.actionCalls);
  if (actions.length) {
    lines.push(
      '## Action calls',
      '',
      'Then: the calls the turns recorded in `action_calls`, with their live latency. Now: the calls the replayed decisions asked for, answered from that record; a call not recorded was not made.',
      '',
      '| action | then | now | not recorded | latency then p50 / p95 |',
      '|---|---|---|---|---|',
      ...actions.map(([name, a]) => `| ${cell(name)} | ${a.then} | ${a.now} | ${a.notRecorded} | ${ms(a.latencyMsThen.p50)} / ${ms(a.latencyMsThen.p95)} |`),
      '',
    );
  }
  const changed = report.rows.filter((r) => r.changes.length || r.skipped);
  if (changed.length) {
    lines.push('## Turns that changed', '');
    for (const r of changed) {
      lines.push(`### Decision ${r.decisionId} · conversation ${r.inboxConversationId} (${r.conversationId}) · ${r.createdAt}`, '');
      if (r.skipped) lines.push(`- ⚠ not compared: ${r.skipped}.`);
      if (r.now && !r.skipped) {
        lines.push(
          '| | then | now |',
          '|---|---|---|',
          `| action | ${r.then.action} | ${r.now.action} |`,
          `| topics | ${cell(list(r.then.topics))} | ${cell(list(r.now.topics))} |`,
          `| attributes | ${cell(attrs(r.then.attributes))} | ${cell(attrs(r.now.attributes))} |`,
          `| message | ${cell(clip(r.then.message, 160))} | ${cell(clip(r.now.message, 160))} |`,
          `| reason | ${cell(clip(r.then.reason, 160))} | ${cell(clip(r.now.reason, 160))} |`,
          `| guardrails | ${cell(list(r.then.guardrails))} | ${cell(list(r.now.guardrails))} |`,
        );
        if (r.then.calls.length || r.now.calls.length) lines.push(`| calls | ${cell(list(r.then.calls.map((c) => c.line)))} | ${cell(list(r.now.calls.map((c) => c.line)))} |`);
        if (r.now.failure) lines.push('', `LLM failure now: ${r.now.failure}`);
      }
      lines.push('');
    }
  } else {
    lines.push('No turn changed.', '');
  }
  return lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n');
}

/**
 * Replayed turns as an eval case file: the rebuilt context as the case, and the decision taken
 * then as its expectation, for a person to correct. Validated with the case schema before it is
 * returned; a turn that cannot be a case (its window ends with an agent message) is left out.
 */
export function exportCases(agentId: string, rows: ReplayRow[], takenOn: string): { yaml: string; exported: number; left: string[] } {
  const cases: CaseFile['cases'] = [];
  const left: string[] = [];
  for (const r of rows) {
    if (r.skipped || !r.now) {
      left.push(`${r.decisionId}: not replayed (${r.skipped ?? 'no decision'})`);
      continue;
    }
    const entries: CaseEntry[] = r.context.transcript.map((e, i, all) => {
      if (e.direction === 'outbound') return { agent: entryText(e) };
      const lastAgent = all.findLastIndex((x) => x.direction === 'outbound');
      const byDefault = i > lastAgent;
      return e.pending === byDefault ? { contact: entryText(e) } : { contact: entryText(e), pending: !!e.pending };
    });
    const ctx = r.context;
    const name = ctx.contactProfile?.primaryIdentifier;
    const made = r.then.calls.filter(madeCall);
    const fixtures = recordedFixtures(made);
    const c = {
      // Dated: decision ids are per database, and exports from two databases may meet in one folder.
      id: `replay-${takenOn}-${r.decisionId}`,
      // What the expectation is worth: an LLM failure's or a guardrail's handover is no model judgement.
      tags: ['replay', ...(r.changes.length ? ['changed'] : []), ...(r.then.failure ? ['then-llm-failure'] : []), ...(r.then.guardrails.length ? ['then-guardrails'] : [])],
      ...(ctx.language ? { language: ctx.language } : {}),
      ...(typeof name === 'string' && name.trim() ? { contactName: name } : {}),
      // An attribute the platform holds empty is no value: a case cannot say "known as nothing".
      contactAttributes: Object.fromEntries(ctx.contactAttributes.filter((a) => a.value.trim()).map((a) => [a.attribute, a.value])),
      ...(ctx.summary ? { summary: ctx.summary } : {}),
      agentTurns: ctx.agentTurns,
      transcript: entries,
      // What the turn's calls returned then, so the case answers them with the same data.
      ...(fixtures ? { actions: fixtures } : {}),
      expect: {
        action: r.then.action,
        topics: r.then.topics,
        attributes: Object.fromEntries(Object.entries(r.then.attributes).filter(([, v]) => v.trim())),
        ...(made.length ? { calls: [...new Set(made.map((call) => call.name))] } : {}),
      },
    };
    if (r.kind === 'turn' && (entries.length === 0 || !('contact' in entries.at(-1)!))) {
      left.push(`${r.decisionId}: its window ends with an agent message`);
      continue;
    }
    // Each case on its own against the schema, so one odd turn is left out, not the whole export.
    // Card numbers masked everywhere in it (messages, summary, attributes, fixtures, keys included):
    // the file is meant to be committed, and a card is never written in clear.
    const safe = maskCardsJson(c);
    try {
      parseCaseFile(stringify({ agent: agentId, cases: [safe] }), 'exported case');
      cases.push(safe as CaseFile['cases'][number]);
    } catch (err) {
      left.push(`${r.decisionId}: ${(err as Error).message.replace(/\s+/g, ' ')}`);
    }
  }
  const header = [
    `# Exported by npm run replay on ${takenOn} from ${rows.length} replayed turn(s).`,
    '# Each expectation is what the agent decided THEN, not what it should have: correct them before',
    '# gating on this file. Contact messages are real customer text (card numbers masked): review before committing.',
    '',
  ].join('\n');
  const yaml = header + stringify({ agent: agentId, description: `Turns replayed on ${takenOn}`, cases }, { lineWidth: 0 });
  if (cases.length) parseCaseFile(yaml, 'exported cases'); // throws if the export would not load
  return { yaml, exported: cases.length, left };
}

/**
 * The calls a turn made as a case's `actions:` fixtures: per action, one entry per distinct set of
 * arguments (the first record of it), answering only those arguments (`when`).
 */
export function recordedFixtures(calls: readonly ReplayCall[]): Record<string, ActionFixture[]> | undefined {
  const fixtures: Record<string, ActionFixture[]> = {};
  const seen = new Set<string>();
  for (const c of calls) {
    const key = `${c.name}${canonicalJson(c.args ?? {})}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const when = c.args && Object.keys(c.args).length ? { when: c.args } : {};
    let answer: ActionFixture;
    if (c.status === 'ok') answer = { ...when, result: unflatten(c.result ?? {}), ...(c.httpStatus && c.httpStatus !== 200 ? { httpStatus: c.httpStatus } : {}) };
    else if (c.status === 'http_error') answer = { ...when, error: c.error || `HTTP ${c.httpStatus ?? 500}`, ...(c.httpStatus ? { httpStatus: c.httpStatus } : {}) };
    else if (c.status === 'skipped' || c.status === 'refused') continue;
    else answer = { ...when, status: c.status, ...(c.error ? { error: clip(c.error, 500) } : {}) };
    (fixtures[c.name] ??= []).push(answer);
  }
  return Object.keys(fixtures).length ? fixtures : undefined;
}

/**
 * A recorded result is keyed by the action's field paths (`{ "shipment.eta": "Thu" }`); a fixture
 * holds the API's body, from which those fields pick the same result (`{ shipment: { eta: "Thu" } }`).
 */
export function unflatten(result: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  // Shorter paths first: where `shipment` and `shipment.eta` were both picked, the first holds the second.
  for (const [path, value] of Object.entries(result).sort(([a], [b]) => a.length - b.length)) {
    const keys = path.split('.');
    let node: Record<string, unknown> | null = body;
    for (const key of keys.slice(0, -1)) {
      if (!Object.hasOwn(node, key)) define(node, key, {});
      const next: unknown = node[key];
      node = typeof next === 'object' && next !== null ? (next as Record<string, unknown>) : null;
      if (!node) break;
    }
    const last = keys.at(-1)!;
    if (node && !Object.hasOwn(node, last)) define(node, last, value);
  }
  return body;
}

// defineProperty, not assignment: a field named __proto__ must stay a field.
function define(node: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
}
