import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { evalCommand, type Io } from '../scripts/eval-command.js';
import { replayCommand } from '../scripts/replay-command.js';
import type { ReplayReport } from '../src/evals/replay-report.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm, toolResults, type ChatRequest, type Scripted } from './fakes/fake-llm.js';
import { FakeShop, orderStatusAction } from './fakes/fake-shop.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { lastContactText } from './support/agents.js';
import { HELPER_SECRET, TEST_AGENTS, TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';

/** Deterministic answers, keyed by what the contact last wrote, as a model at temperature 0 might give. */
const answer = (req: ChatRequest): Scripted => {
  const said = lastContactText(req);
  if (/thank/i.test(said)) return { decision: { action: 'resolve', message: 'Bye!', confidence: 0.95 } };
  const order = /A-\d+/.exec(said)?.[0];
  if (order) return { decision: { action: 'reply', message: `Order ${order} ships tomorrow.`, topics: ['Shipping'], contactAttributes: [{ name: 'order_number', value: order }], confidence: 0.8 } };
  if (req.messages.every((m) => m.role !== 'user')) return { decision: { action: 'reply', message: 'What is your order number?', confidence: 0.9 } };
  return { decision: { action: 'reply', message: 'How can I help?', confidence: 0.7 } };
};

function quietIo(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: (l) => lines.push(l), stream: process.stderr };
}

function latest(out: string): ReplayReport {
  const dir = join(out, readdirSync(out).sort().at(-1)!);
  return JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
}

describe('npm run replay', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let dir: string;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    llm.respondWith(answer);
    bridge = await startBridge({ inbox, llm, env: { OPENAI_MAX_RETRIES: '0' } });
    const acme = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    const helper = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'helper', secretHex: HELPER_SECRET, inbox });

    // Three conversations through the real webhook path: two turns, one turn, a resolve.
    await acme.startConversation('r1', { contactProfile: { id: 'p1', primaryIdentifier: 'Ann' }, language: 'en' });
    await acme.contactSays('r1', 'Where is my order A-12345?');
    await waitFor('r1 first turn', () => inbox.calls('r1').some((c) => 'sendMessage' in c.body));
    await acme.contactSays('r1', 'And what about A-12346?');
    await waitFor('r1 second turn', () => inbox.calls('r1').filter((c) => 'sendMessage' in c.body).length === 2);
    await acme.startConversation('r2');
    await acme.contactSays('r2', 'hello?');
    await acme.contactSays('r2', 'anyone there');
    await waitFor('r2 turn', () => inbox.calls('r2').some((c) => 'sendMessage' in c.body));
    await acme.contactSays('r2', 'thanks, that was all');
    await waitFor('r2 resolved', () => inbox.calls('r2').some((c) => c.body.complete === 'RESOLVED'));
    await helper.delegate('r3');
    await waitFor('r3 opening', () => inbox.calls('r3').some((c) => 'sendMessage' in c.body));
    await waitFor('the opening stored', async () => (await bridge.db.query(`SELECT 1 FROM decisions WHERE kind = 'opening'`)).length === 1);
    await waitFor('the resolve stored', async () => (await bridge.db.query(`SELECT 1 FROM decisions WHERE action = 'resolve'`)).length === 1);

    dir = mkdtempSync(join(tmpdir(), 'iva-replay-'));
    writeFileSync(join(dir, 'agents.yaml'), TEST_AGENTS);
  }, 60_000);
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });

  const env = () => ({ OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'test-key', OPENAI_MAX_RETRIES: '0', TRIAGE_SECRET, HELPER_SECRET });
  const replay = (args: string[], io = quietIo()) => replayCommand(['--database', bridge.db.url, '--out', join(dir, 'out'), ...args], env(), io);

  /** Everything in the conversation tables, to prove replay changed none of it. */
  const snapshot = async () => {
    const tables = ['conversations', 'messages', 'decisions', 'actions', 'webhook_events'];
    return Promise.all(tables.map(async (t) => [t, await bridge.db.query(`SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) AS h, count(*) FROM ${t} t`)]));
  };

  /** The acme turns as stored: the replies (confidence 0.8 and 0.7) and the resolve (0.95). */
  const acmeTurns = async () =>
    (await bridge.db.query(`SELECT d.action FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.agent_id = 'acme' ORDER BY d.id`)).map((r) => r.action as string);

  it('rebuilds the exact prompt each stored turn saw, and finds nothing changed with the same agents file', async () => {
    const turns = (await acmeTurns()).length;
    expect(turns).toBeGreaterThanOrEqual(4);
    const turnPrompts = llm.requests.filter((r) => r.response_format?.json_schema?.name === 'decision').map((r) => JSON.stringify(r.messages));
    const before = await snapshot();
    const inboxCalls = inbox.calls().length;
    llm.requests.length = 0;

    expect(await replay(['--agent', 'acme', '--agents-file', join(dir, 'agents.yaml')])).toBe(0);
    const report = latest(join(dir, 'out'));
    expect(report.totals).toMatchObject({ turns, replayed: turns, exact: turns, notExact: 0, withoutSnapshot: 0, promptChanged: 0, changed: 0, actionChanged: 0 });
    // Byte for byte the messages the live turns sent to the LLM.
    const replayed = llm.requests.filter((r) => r.response_format?.json_schema?.name === 'decision').map((r) => JSON.stringify(r.messages));
    expect(replayed).toHaveLength(turns);
    for (const prompt of replayed) expect(turnPrompts).toContain(prompt);

    // Read-only: not a row changed, not a call to Inbox 2.0.
    expect(await snapshot()).toEqual(before);
    expect(inbox.calls()).toHaveLength(inboxCalls);

    // The Delegation agent's opening question replays as an opening.
    expect(await replay(['--agent', 'helper', '--agents-file', join(dir, 'agents.yaml')])).toBe(0);
    expect(latest(join(dir, 'out')).rows).toEqual([expect.objectContaining({ kind: 'opening', contextExact: true, changes: [] })]);
  });

  it('reports an action change when the edited agents file changes the outcome, and exports it as a case', async () => {
    // A team raises the confidence floor: the 0.8 and 0.7 replies now hand over; the 0.95 resolve stays.
    writeFileSync(join(dir, 'edited.yaml'), TEST_AGENTS.replace('    topics: [Billing, Shipping, Returns]', '    topics: [Billing, Shipping, Returns]\n    limits: { minConfidence: 0.9 }'));
    const io = quietIo();
    const exported = join(dir, 'cases', 'from-replay.yaml');
    expect(await replay(['--agent', 'acme', '--agents-file', join(dir, 'edited.yaml'), '--export-cases', exported], io)).toBe(0);
    const report = latest(join(dir, 'out'));
    const replies = (await acmeTurns()).filter((a) => a === 'reply').length;
    expect(report.totals).toMatchObject({ exact: report.totals.turns, actionChanged: replies, transitions: { 'reply → handover': replies } });
    const changed = report.rows.filter((r) => r.changes.includes('action'));
    expect(new Set(changed.map((r) => r.inboxConversationId))).toEqual(new Set(['r1', 'r2']));
    expect(changed[0].now!.guardrails.join(' ')).toMatch(/confidence 0.8 is under 0.9/);
    expect(report.rows.find((r) => r.then.action === 'resolve')).toMatchObject({ changes: [], now: { action: 'resolve' } });
    expect(io.lines.join('\n')).toMatch(/reply → handover/);

    // The export is a valid case file whose expectations are what was decided then.
    const file = parse(readFileSync(exported, 'utf8'));
    expect(file.agent).toBe('acme');
    expect(file.cases).toHaveLength(replies);
    expect(file.cases[0]).toMatchObject({ contactName: 'Ann', language: 'en', transcript: [{ contact: 'Where is my order A-12345?' }], expect: { action: 'reply', topics: ['Shipping'], attributes: { order_number: 'A-12345' } } });
    // …and it runs as one: against the edited file, it fails where the behaviour changed.
    const evalIo = quietIo();
    expect(await evalCommand(['--cases', exported, '--agents-file', join(dir, 'edited.yaml'), '--out', join(dir, 'eval-out')], env(), evalIo)).toBe(0);
    expect(evalIo.lines.join('\n')).toMatch(new RegExp(`Passed 0/${replies} runs`));
  });

  it('decides nothing again on an input that changed since the turn, and keeps a corrected export', async () => {
    // A stored message edited after the turn: the rebuilt prompt no longer hashes to what was sent.
    const [edited] = await bridge.db.query(`SELECT m.id, m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.inbox_conversation_id = 'r1' AND m.direction = 'inbound' ORDER BY m.id LIMIT 1`);
    const changes = async () => {
      expect(await replay(['--agent', 'acme', '--agents-file', join(dir, 'edited.yaml')])).toBe(0);
      return latest(join(dir, 'out'));
    };
    await bridge.db.query(`UPDATE messages SET text = 'edited afterwards' WHERE id = $1`, [edited.id]);
    try {
      const report = await changes();
      const stale = report.rows.filter((r) => r.skipped);
      expect(stale.length).toBeGreaterThan(0);
      expect(stale.every((r) => r.skipped!.includes('does not hash') && r.now === null && r.changes.length === 0)).toBe(true);
      expect(report.totals.notExact).toBe(stale.length);
      expect(report.totals.replayed).toBe(report.totals.turns - stale.length);
    } finally {
      await bridge.db.query(`UPDATE messages SET text = $2 WHERE id = $1`, [edited.id, edited.text]);
    }

    // An export never overwrites a file without being told to.
    const exported = join(dir, 'kept.yaml');
    writeFileSync(exported, '# corrected by hand\n');
    const io = quietIo();
    expect(await replay(['--agent', 'acme', '--agents-file', join(dir, 'edited.yaml'), '--export-cases', exported], io)).toBe(78);
    expect(io.lines.join('\n')).toMatch(/kept\.yaml exists/);
    expect(readFileSync(exported, 'utf8')).toBe('# corrected by hand\n');
    expect(await replay(['--agent', 'acme', '--agents-file', join(dir, 'edited.yaml'), '--export-cases', exported, '--force'])).toBe(0);
    expect(parse(readFileSync(exported, 'utf8')).cases.length).toBeGreaterThan(0);
  });

  it('says so when there is nothing to replay, and refuses bad arguments', async () => {
    const io = quietIo();
    expect(await replay(['--agent', 'acme', '--since', '1ms', '--agents-file', join(dir, 'agents.yaml')], io)).toBe(0);
    expect(io.lines.join('\n')).toMatch(/No turn of acme since/);
    const bad = quietIo();
    expect(await replay(['--agent', 'acme', '--since', 'yesterday'], bad)).toBe(64);
    expect(bad.lines.join('\n')).toMatch(/--since must be a duration/);
    expect(await replay(['--since', '1d'], quietIo())).toBe(64);
    expect(await replay(['--agent', 'acme', '--since', '1000000000d'], quietIo())).toBe(64);
    const unknown = quietIo();
    expect(await replay(['--agent', 'nobody', '--agents-file', join(dir, 'agents.yaml')], unknown)).toBe(78);
    expect(unknown.lines.join('\n')).toMatch(/no agent "nobody"/);
    // Against real turns, scripted answers would be noise: without a key, replay asks for --scripted.
    const noKey = quietIo();
    expect(await replayCommand(['--database', bridge.db.url, '--agent', 'acme', '--agents-file', join(dir, 'agents.yaml'), '--out', join(dir, 'out')], { TRIAGE_SECRET, HELPER_SECRET }, noKey)).toBe(78);
    expect(noKey.lines.join('\n')).toMatch(/OPENAI_API_KEY is not set/);
  });
});

/** One Inception agent with the order lookup of docs/actions.md, against the fake shop. */
const lookupAgents = (shop: string) => `
agents:
  - id: acme
    name: Acme Support
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    topics: [Shipping]
    contactAttributes:
      order_number: The order number, like A-12345
    timeouts: { turnDebounce: 100ms, virtualAgent: 5m }
    actions:
${orderStatusAction(shop)}`;


describe('npm run replay, for a turn that looked something up', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  const shop = new FakeShop();
  let bridge: TestBridge;
  let dir: string;
  /** The order number the model looks up: the one the contact wrote, unless a test makes it ask for another. */
  let lookUp: ((req: ChatRequest) => string) | undefined;

  // A model that looks the order up, then answers from what came back, citing it.
  const model = (req: ChatRequest): Scripted => {
    const [result] = toolResults(req);
    if (!result) return { toolCalls: [{ name: 'order_status', arguments: { order_number: lookUp?.(req) ?? /A-\d{5}/.exec(lastContactText(req))![0] } }] };
    if (!result.ok) return { decision: { action: 'handover', message: '', reason: `lookup failed: ${result.error}` } };
    return { decision: { message: `Your order is ${result.result!.status} with ${result.result!.carrier}.`, topics: ['Shipping'], sources: [result.id], factual: true, contactAttributes: [{ name: 'order_number', value: 'A-12345' }] } };
  };

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start(), shop.start()]);
    llm.respondWith(model);
    bridge = await startBridge({ agents: lookupAgents(shop.url), inbox, llm, env: { SHOP_API_TOKEN: 'shop-token-9f8e7d', OPENAI_MAX_RETRIES: '0' } });
    const acme = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    await acme.startConversation('look-1', { language: 'en' });
    await acme.contactSays('look-1', 'Where is my order A-12345?');
    await waitFor('the answer', () => inbox.messagesSent('look-1').length > 0);
    await waitFor('the call linked to its decision', async () => (await bridge.db.query(`SELECT 1 FROM action_calls WHERE decision_id IS NOT NULL`)).length === 1);
    dir = mkdtempSync(join(tmpdir(), 'iva-replay-actions-'));
    writeFileSync(join(dir, 'agents.yaml'), lookupAgents(shop.url));
  }, 60_000);
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop(), shop.stop()]);
  });
  afterEach(() => {
    lookUp = undefined;
  });

  const env = () => ({ OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'test-key', OPENAI_MAX_RETRIES: '0', TRIAGE_SECRET });
  const replay = (args: string[], io = quietIo()) => replayCommand(['--database', bridge.db.url, '--out', join(dir, 'out'), '--agent', 'acme', '--agents-file', join(dir, 'agents.yaml'), ...args], env(), io);
  const tables = async () => Promise.all(['decisions', 'action_calls', 'actions', 'messages'].map((t) => bridge.db.query(`SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) AS h FROM ${t} t`)));

  it('answers the same call from what the turn recorded, with no request reaching the shop, and exports it as a fixture', async () => {
    expect(inbox.messagesSent('look-1')).toEqual(['Your order is in transit with DHL.']);
    expect(shop.to('/api/orders/A-12345')).toHaveLength(1);
    const live = llm.requests.flatMap(toolResults);
    shop.requests.length = 0;
    llm.requests.length = 0;
    const before = await tables();

    const exported = join(dir, 'from-replay.yaml');
    expect(await replay(['--export', 'all', '--export-cases', exported])).toBe(0);
    expect(shop.requests).toEqual([]);
    expect(await tables()).toEqual(before);
    // The model read the very result the live turn read.
    expect(llm.requests.flatMap(toolResults)).toEqual(live);
    const report = latest(join(dir, 'out'));
    expect(report.totals).toMatchObject({ replayed: 1, exact: 1, changed: 0, callsChanged: 0, unrecorded: { turns: 0, calls: 0 } });
    expect(report.totals.actionCalls.order_status).toMatchObject({ then: 1, now: 1, notRecorded: 0 });
    const [row] = report.rows;
    expect(row.then.calls).toEqual([expect.objectContaining({ name: 'order_status', args: { order_number: 'A-12345' }, status: 'ok', httpStatus: 200, result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } })]);
    expect(row.now!.calls).toEqual([expect.objectContaining({ name: 'order_status', status: 'ok', result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } })]);

    // The export answers the call with the recorded data, and runs as a case that passes.
    const file = parse(readFileSync(exported, 'utf8'));
    expect(file.cases[0]).toMatchObject({
      actions: { order_status: [{ when: { order_number: 'A-12345' }, result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } }] },
      expect: { action: 'reply', calls: ['order_status'] },
    });
    const evalIo = quietIo();
    expect(await evalCommand(['--cases', exported, '--agents-file', join(dir, 'agents.yaml'), '--out', join(dir, 'eval-out')], env(), evalIo)).toBe(0);
    expect(evalIo.lines.join('\n')).toMatch(/Passed 1\/1 run/);
    expect(shop.requests).toEqual([]);
  });

  it('makes no call the turn did not make: it answers "not recorded" and counts the turn', async () => {
    // Another order than the turn looked up; with the requires rule dropped from the edited file, the
    // call passes the bridge's checks, and still reaches nothing.
    lookUp = () => 'A-20001';
    writeFileSync(join(dir, 'no-requires.yaml'), lookupAgents(shop.url).replace('        requires: [order_number]\n', ''));
    const io = quietIo();
    expect(await replay(['--agents-file', join(dir, 'no-requires.yaml')], io)).toBe(0);
    expect(shop.requests).toEqual([]);
    const report = latest(join(dir, 'out'));
    expect(report.totals).toMatchObject({ callsChanged: 1, unrecorded: { turns: 1, calls: 1 } });
    expect(report.rows[0].now!.calls).toEqual([expect.objectContaining({ args: { order_number: 'A-20001' }, status: 'skipped', error: 'not recorded in the original turn; replay makes no calls' })]);
    expect(report.rows[0].changes).toContain('calls');
    expect(io.lines.join('\n')).toMatch(/1 turn\(s\) asked for 1 call\(s\) the turn had not recorded/);
    const md = readFileSync(join(dir, 'out', readdirSync(join(dir, 'out')).sort().at(-1)!, 'report.md'), 'utf8');
    expect(md).toMatch(/asked for calls the turn had not recorded .* \| 1 turn\(s\), 1 call\(s\) \|/);
  });
});
