import type { ModelPrice } from '../config/agents.schema.js';
import { clip } from '../common/clip.js';
import { guardrailPattern } from '../evals/metrics.js';
import { costOf } from '../evals/score.js';
import type { AgentNumbers, ConversationRecord, DecisionRow, MessageRow, OutboxRow, OverviewData, SessionOutcomeRow } from './console.queries.js';
import { DEADLINE_LABELS, format, scriptJson } from './console.views.js';

/*
 * What the pages show, shaped from the read models: grouping, ranking, rates and cost. No SQL and
 * no HTML here; the templates in views/ lay it out.
 */

/** What an Inbox 2.0 call carried, one line per part, as an operator reads it. */
export function callSummary(body: Record<string, unknown>): string[] {
  const lines: string[] = [];
  if (body.indicateTyping) lines.push(`typing ${String(body.indicateTyping)}`);
  const text = (body.sendMessage as { text?: unknown } | undefined)?.text;
  if (typeof text === 'string' && text) lines.push(`says “${clip(text, 300)}”`);
  if (Array.isArray(body.applyTopics) && body.applyTopics.length) lines.push(`topics ${body.applyTopics.map(String).join(', ')}`);
  if (body.setContactAttributes && typeof body.setContactAttributes === 'object') {
    const pairs = Object.entries(body.setContactAttributes as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`);
    if (pairs.length) lines.push(`attributes ${pairs.join(', ')}`);
  }
  const note = noteText(body);
  if (note) lines.push(`note “${clip(note, 300)}”`);
  if (body.complete) lines.push(`complete ${String(body.complete)}`);
  return lines;
}

function noteText(body: Record<string, unknown>): string | undefined {
  const notes = body.applyConversationNotes;
  if (!Array.isArray(notes)) return undefined;
  const texts = notes.map((n) => (n && typeof n === 'object' ? (n as { text?: unknown }).text : undefined)).filter((t): t is string => typeof t === 'string');
  return texts.length ? texts.join('\n\n') : undefined;
}

/** Calls the bridge made on its own clock (not in answer to a contact): nudges, greetings, deadline handovers and closes. */
export const isTimerCall = (a: Pick<OutboxRow, 'kind' | 'decisionId'>) => a.kind === 'nudge' || a.kind === 'greeting' || (a.decisionId === null && a.kind !== 'fallback');

export function conversationPage(record: ConversationRecord) {
  const c = record.conversation;
  const decisionsById = new Map(record.decisions.map((d) => [d.id, d]));
  const bySession = new Map<number, { session: number; messages: Array<MessageRow & { decision?: DecisionRow }>; outcome?: SessionOutcomeRow }>();
  const session = (n: number) => {
    let s = bySession.get(n);
    if (!s) bySession.set(n, (s = { session: n, messages: [] }));
    return s;
  };
  for (const m of record.messages) session(m.session).messages.push({ ...m, decision: m.decisionId ? decisionsById.get(m.decisionId) : undefined });
  for (const o of record.outcomes) session(o.session).outcome = o;

  const outbox = record.outbox.map((a) => ({ ...a, summary: callSummary(a.body), timer: isTimerCall(a) }));
  const sentNotes = record.outbox
    .map((a) => ({ a, text: noteText(a.body) }))
    .filter((n): n is { a: OutboxRow; text: string } => n.text !== undefined)
    .map(({ a, text }) => ({ session: a.session, at: a.doneAt ?? a.createdAt, text, source: `sent with the ${a.kind} call #${a.id} (${a.status})` }));
  // A note the LLM wrote for a handover whose call was never planned (an older record) is still worth showing.
  const notes = sentNotes.length
    ? sentNotes
    : record.decisions.filter((d) => d.action === 'handover' && d.handoverNote).map((d) => ({ session: d.session, at: d.createdAt, text: d.handoverNote, source: `written in decision #${d.id}` }));

  const deadlines =
    c.state === 'active'
      ? (Object.entries(c.deadlines) as Array<[keyof typeof c.deadlines, Date | null]>)
          .filter((entry): entry is [keyof typeof c.deadlines, Date] => entry[1] !== null)
          .sort(([, a], [, b]) => a.getTime() - b.getTime())
          .map(([kind, at]) => ({ kind, at, label: DEADLINE_LABELS[kind], next: c.nextDeadlineAt !== null && at.getTime() === c.nextDeadlineAt.getTime() }))
      : [];

  return {
    c,
    sessions: [...bySession.values()].sort((a, b) => a.session - b.session),
    messagesCut: record.messagesCut,
    decisions: record.decisions.map((d) => ({ ...d, calls: record.actionCalls.filter((a) => a.decisionId === d.id) })),
    orphanCalls: record.actionCalls.filter((a) => a.decisionId === null || !decisionsById.has(a.decisionId)),
    outbox,
    timers: outbox.filter((a) => a.timer),
    notes,
    deadlines,
    outcomes: record.outcomes,
    events: record.events,
  };
}

interface Cell {
  agentId: string;
  text: string;
  raw: number | null;
}

export function overviewPage(data: OverviewData, agentIds: readonly string[], pricing: Readonly<Record<string, ModelPrice>>) {
  const agents = new Map<string, AgentNumbers>(data.agents.map((a) => [a.agentId, a]));
  for (const id of agentIds) if (!agents.has(id)) agents.set(id, emptyNumbers(id));
  const list = [...agents.values()].sort((a, b) => a.agentId.localeCompare(b.agentId));

  const models = data.models
    .map((m) => ({ ...m, cost: costOf(m.model, { promptTokens: m.promptTokens, completionTokens: m.completionTokens, cachedTokens: m.cachedTokens }, pricing) }))
    .sort((a, b) => a.agentId.localeCompare(b.agentId) || a.model.localeCompare(b.model));
  const costOfAgent = (id: string) => {
    const own = models.filter((m) => m.agentId === id);
    const priced = own.filter((m) => m.cost !== null);
    const unpriced = own.filter((m) => m.cost === null).map((m) => m.model);
    const total = priced.reduce((sum, m) => sum + (m.cost ?? 0), 0);
    const text = own.length === 0 ? '$0.00' : priced.length === 0 ? 'unpriced' : `${format.usd(total)}${unpriced.length ? ` + unpriced (${unpriced.join(', ')})` : ''}`;
    return { text, raw: priced.length || own.length === 0 ? round(total, 6) : null };
  };

  const row = (key: string, label: string, value: (a: AgentNumbers) => { text: string; raw: number | null }, hint?: string) => ({
    key,
    label,
    hint,
    cells: list.map((a): Cell => ({ agentId: a.agentId, ...value(a) })),
  });
  const count = (get: (a: AgentNumbers) => number) => (a: AgentNumbers) => ({ text: format.num(get(a)), raw: get(a) });
  const rate = (part: (a: AgentNumbers) => number, whole: (a: AgentNumbers) => number) => (a: AgentNumbers) => {
    const r = format.ratio(part(a), whole(a));
    return { text: format.pct(r), raw: r === null ? null : round(r, 4) };
  };
  const ms = (get: (a: AgentNumbers) => number | null) => (a: AgentNumbers) => {
    const v = get(a);
    return { text: format.ms(v), raw: v === null ? null : Math.round(v) };
  };
  const metricRows = [
    row('conversations', 'Conversations', count((a) => a.conversations), 'with a session ended in the window, or active with activity in it; each once'),
    row('ended', 'Sessions ended', count((a) => a.ended)),
    row('active', 'Active', count((a) => a.active), 'active now, with activity in the window'),
    row('resolved', 'Resolved', count((a) => a.resolved)),
    row('resolution-rate', 'Resolution rate', rate((a) => a.resolved, (a) => a.ended), 'resolved / ended'),
    row('confirmed', 'Resolved, confirmed by the contact', count((a) => a.confirmed)),
    row('assumed', 'Resolved, assumed at the contact timeout', count((a) => a.assumed)),
    row('reopened', 'Resolved, then reopened within 7 days', count((a) => a.reopened)),
    row('reopen-rate', 'Reopen rate', rate((a) => a.reopened, (a) => a.resolved), 'resolved sessions reopened within 7 days / resolved'),
    row('handed-over', 'Handed over', count((a) => a.handedOver)),
    row('handed-back', 'Handed back, task done', count((a) => a.handedBack), 'Delegation: returned to the people with no handover reason'),
    row('timed-out', 'Timed out', count((a) => a.timedOut), 'handed over at the virtual-agent or contact deadline'),
    row('lost', 'Lost to a human', count((a) => a.lost)),
    row('first-reply-p50', 'First reply, median', ms((a) => a.firstReplyP50)),
    row('decisions', 'LLM decisions', count((a) => a.decisions)),
    row('llm-failures', 'LLM failures', count((a) => a.llmFailures), 'decisions the LLM could not make'),
    row('latency-p50', 'LLM latency p50', ms((a) => a.latencyP50)),
    row('latency-p95', 'LLM latency p95', ms((a) => a.latencyP95)),
    row('prompt-tokens', 'Prompt tokens', count((a) => a.promptTokens), 'of ended sessions'),
    row('cached-tokens', 'Cached prompt tokens', count((a) => a.cachedTokens)),
    row('completion-tokens', 'Completion tokens', count((a) => a.completionTokens)),
    row('cost', 'Estimated cost', (a) => costOfAgent(a.agentId), 'pricing table of the agents file'),
  ];

  const reasonTotals = new Map<string, { count: number; byAgent: Map<string, number> }>();
  for (const r of data.reasons) {
    const t = reasonTotals.get(r.reason) ?? { count: 0, byAgent: new Map<string, number>() };
    t.count += r.count;
    t.byAgent.set(r.agentId, (t.byAgent.get(r.agentId) ?? 0) + r.count);
    reasonTotals.set(r.reason, t);
  }
  const handedOver = [...reasonTotals.values()].reduce((n, t) => n + t.count, 0);
  const reasons = [...reasonTotals]
    .map(([reason, t]) => ({
      reason,
      count: t.count,
      share: format.ratio(t.count, handedOver),
      byAgent: [...t.byAgent].sort(([a], [b]) => a.localeCompare(b)).map(([agent, n]) => `${agent} ${n}`).join(', '),
    }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));

  // Grouped as the eval reports group them: the guardrail, not the figures of one turn.
  const groups = new Map<string, { guardrail: string; count: number; example?: string }>();
  for (const g of data.guardrails) {
    const pattern = guardrailPattern(g.text);
    const group = groups.get(pattern) ?? { guardrail: pattern, count: 0, ...(pattern !== g.text ? { example: g.text } : {}) };
    group.count += g.count;
    groups.set(pattern, group);
  }
  const guardrails = [...groups.values()].sort((a, b) => b.count - a.count || a.guardrail.localeCompare(b.guardrail));

  return {
    agents: list,
    metricRows,
    reasons,
    guardrails,
    models,
    webhooks: [...data.webhooks].sort((a, b) => a.agentId.localeCompare(b.agentId) || b.count - a.count),
    outboxFailures: data.outboxFailures,
    actionCallFailures: data.actionCallFailures,
    charts: {
      outcomes: scriptJson({
        labels: list.map((a) => a.agentId),
        stacked: true,
        horizontal: true,
        datasets: [
          { label: 'Resolved, confirmed', data: list.map((a) => a.confirmed), color: '#1a7f37' },
          { label: 'Resolved, assumed', data: list.map((a) => a.assumed), color: '#7ee2a8' },
          { label: 'Handed back, task done', data: list.map((a) => a.handedBack), color: '#0969da' },
          { label: 'Handed over', data: list.map((a) => a.handedOver - a.timedOut), color: '#b45309' },
          { label: 'Timed out', data: list.map((a) => a.timedOut), color: '#b42318' },
          { label: 'Lost to a human', data: list.map((a) => a.lost), color: '#6e7781' },
        ],
      }),
      reasons: scriptJson({ labels: reasons.map((r) => format.label(r.reason)), horizontal: true, datasets: [{ label: 'Sessions', data: reasons.map((r) => r.count), color: '#b45309' }] }),
      guardrails: scriptJson({
        labels: guardrails.slice(0, 10).map((g) => clip(g.guardrail, 60)),
        horizontal: true,
        datasets: [{ label: 'Times fired', data: guardrails.slice(0, 10).map((g) => g.count), color: '#8250df' }],
      }),
    },
  };
}

function emptyNumbers(agentId: string): AgentNumbers {
  return {
    agentId, ended: 0, active: 0, resolved: 0, confirmed: 0, assumed: 0, handedOver: 0, handedBack: 0, timedOut: 0, lost: 0, reopened: 0, conversations: 0, firstReplyP50: null,
    decisions: 0, llmFailures: 0, latencyP50: null, latencyP95: null, llmCalls: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0,
  };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
