// `npm run demo`: the bridge, a fake Inbox 2.0, a fake shop API and a scripted LLM, seven conversations
// through the real webhook path, and a transcript of each. Exits 0 when every scripted outcome happened.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Queue } from 'bullmq';
import { createApp } from '../src/bootstrap.js';
import { AppConfig } from '../src/config/app-config.js';
import type { AgentConfig } from '../src/config/agents.schema.js';
import { QUEUES } from '../src/scheduler/queues.js';
import { FakeInbox, type RecordedCall } from '../test/fakes/fake-inbox.js';
import { FakeLlm } from '../test/fakes/fake-llm.js';
import { FakeShop } from '../test/fakes/fake-shop.js';
import { WebhookSender } from '../test/fakes/webhook-sender.js';
import { redactUrl } from '../src/common/redact-url.js';
import { isContactDetails } from '../src/agent/prompt.builder.js';
import { KnowledgeRepository } from '../src/knowledge/knowledge.repository.js';
import { syncAgent } from '../src/knowledge/knowledge.sync.js';
import { callLine } from '../src/actions/direct.port.js';
import { replayCommand } from './replay-command.js';
import { DEMO_HELPER_SECRET, DEMO_SHOP_TOKEN, DEMO_TRIAGE_SECRET, demoAgents } from './demo-agents.js';
import { scriptedAnswer } from './scripted-llm.js';
import { demoPostgres, printRedisHelp, redisAnswers } from './demo-services.js';

const tty = process.stdout.isTTY;
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const [bold, dim, green, red, cyan, yellow, magenta] = ['1', '2', '32', '31', '36', '33', '35'].map(paint);
const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(100);
  }
  say(red(`  … gave up waiting for ${what}`));
  return false;
}

interface Scenario {
  title: string;
  conversationId: string;
  play: () => Promise<void>;
  /** Lines printed under the transcript, before the checks. */
  show?: () => string[];
  expect: Array<[string, () => Promise<boolean>]>;
}

async function main(): Promise<number> {
  say(bold('inbox-va-bridge demo: a simulated Inbox 2.0, a fake shop API, a scripted LLM, the real bridge in between'));
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (!(await redisAnswers(redisUrl))) {
    say(red(`Redis does not answer at ${redisUrl}. Start one, then run the demo again:`));
    printRedisHelp(say, 'npm run demo');
    return 2;
  }
  const pgServer = (await demoPostgres((line) => say(dim(line))))!;

  // A fresh database next to the configured one, so the demo never touches real data.
  const demoDb = new URL(pgServer.serverUrl);
  demoDb.pathname = `/inbox_va_bridge_demo`;
  const adminUrl = new URL(pgServer.serverUrl);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS inbox_va_bridge_demo WITH (FORCE)');
  await admin.query('CREATE DATABASE inbox_va_bridge_demo');
  await admin.end();
  const db = new pg.Pool({ connectionString: demoDb.toString(), max: 2 });

  const inbox = new FakeInbox();
  const llm = new FakeLlm().respondWith(scriptedAnswer);
  // The shop whose order API the triage agent's order_status action calls.
  const shop = new FakeShop(DEMO_SHOP_TOKEN);
  await Promise.all([inbox.start(), llm.start(), shop.start()]);
  const agentsYaml = demoAgents(shop.url);
  const dir = mkdtempSync(join(tmpdir(), 'iva-demo-'));
  writeFileSync(join(dir, 'agents.yaml'), agentsYaml);
  const prefix = `iva-demo-${randomBytes(3).toString('hex')}`;
  const config = AppConfig.load({
    DATABASE_URL: demoDb.toString(),
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    AGENTS_FILE: join(dir, 'agents.yaml'),
    ...inbox.env(),
    OPENAI_BASE_URL: llm.url,
    OPENAI_API_KEY: 'demo',
    DEMO_TRIAGE_SECRET,
    DEMO_HELPER_SECRET,
    DEMO_SHOP_TOKEN,
    SCHEDULER_SWEEP_INTERVAL: '5s',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const app = await createApp(config);
  // The triage agent answers from the example help centre, synced as `npm run kb -- sync` would.
  const kb = await syncAgent(app.get(KnowledgeRepository), undefined, config.agent('acme-triage')!);
  await app.listen(0, '127.0.0.1');
  const bridgeUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  say(dim(`bridge ${bridgeUrl} · fake Inbox 2.0 ${inbox.url} · scripted LLM ${llm.url} · fake shop ${shop.url}`));
  say(dim(`knowledge: ${kb.added + kb.updated + kb.unchanged} articles of kb/acme in ${kb.chunks} chunks`));

  const triage = new WebhookSender({ bridgeUrl, agentId: 'acme-triage', secretHex: DEMO_TRIAGE_SECRET, inbox });
  const helper = new WebhookSender({ bridgeUrl, agentId: 'acme-helper', secretHex: DEMO_HELPER_SECRET, inbox });
  const sent = (id: string) => inbox.calls(id).filter((c) => c.status === 200 && !isTypingOnly(c));
  const state = async (id: string) => (await db.query('SELECT state FROM conversations WHERE inbox_conversation_id = $1', [id])).rows[0]?.state;
  const run = `${Date.now().toString(36)}`;

  const [ann, bob, cho, dan, eve, fay, gus] = [1, 2, 3, 4, 5, 6, 7].map((i) => `demo-${run}-${i}`);
  const CARD = '4242 4242 4242 4242';
  // What the LLM read of Gus's message: the last contact message of the requests about the double charge.
  const llmSaw = () =>
    llm.requests
      .map((r) => r.messages.filter((m) => m.role === 'user' && !isContactDetails(m)).at(-1)?.content ?? '')
      .filter((t) => t.includes('charged twice'));
  const decisionSources = async (id: string) =>
    (await db.query(`SELECT d.sources FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1 ORDER BY d.id`, [id])).rows.flatMap((r) => r.sources as Array<{ title: string; url: string | null }>);
  const scenarios: Scenario[] = [
    {
      title: 'Inception: "where is my order?" answered from the shop API (an action), a topic and an attribute collected, then resolved',
      conversationId: ann,
      play: async () => {
        await triage.startConversation(ann, { contactProfile: { id: 'p-ann', primaryIdentifier: 'Ann Lee' } });
        await triage.contactSays(ann, 'Hi, where is my order A-12345?');
        await waitFor('the answer', () => sent(ann).length >= 1);
        await triage.contactSays(ann, "Great, that's all, thanks!");
        await waitFor('the resolve', async () => (await state(ann)) === 'resolved');
      },
      expect: [
        ['the shop API was asked once, for order A-12345', async () => shop.requests.length === 1 && shop.to('/api/orders/A-12345', 'GET').length === 1],
        ['the reply carried the status from the shop: in transit with DHL, arriving Thursday', async () => inbox.messagesSent(ann).some((t) => t.includes('in transit with DHL, arriving Thursday'))],
        ['answered with topic Shipping and order_number=A-12345', async () => sent(ann).some((c) => has(c, 'applyTopics', ['Shipping']) && attribute(c, 'order_number') === 'A-12345')],
        ['resolved (complete: RESOLVED)', async () => sent(ann).some((c) => c.body.complete === 'RESOLVED') && (await state(ann)) === 'resolved'],
      ],
    },
    {
      title: 'Inception: a contact who asks for a human is handed over, with a note',
      conversationId: bob,
      play: async () => {
        await triage.startConversation(bob, { contactProfile: { id: 'p-bob', primaryIdentifier: 'Bob Ruiz' } });
        await triage.contactSays(bob, 'Third time I write about this. I want to talk to a real person.');
        await waitFor('the handover', async () => (await state(bob)) === 'handed_over');
      },
      expect: [
        ['handed over (complete: HANDOVER) with a note for the human', async () => sent(bob).some((c) => c.body.complete === 'HANDOVER' && Array.isArray(c.body.applyConversationNotes))],
      ],
    },
    {
      title: 'Delegation: the opening question, sent with no contact message, then handed back',
      conversationId: cho,
      play: async () => {
        await helper.delegate(cho, { contactProfile: { id: 'p-cho', primaryIdentifier: 'Cho Park' } });
        await waitFor('the opening question', () => sent(cho).length >= 1);
        await helper.contactSays(cho, 'Sure, it is A-77881.');
        await waitFor('the hand-back', async () => (await state(cho)) === 'handed_over');
      },
      expect: [
        ['opening question sent before any contact message', async () => inbox.messagesSent(cho)[0]?.includes('order number') ?? false],
        ['handed back to the previous agent with order_number=A-77881', async () => sent(cho).some((c) => c.body.complete === 'HANDOVER' && attribute(c, 'order_number') === 'A-77881')],
      ],
    },
    {
      title: 'Inception: a quiet contact is nudged, then the conversation is closed (3 s and 6 s in this demo)',
      conversationId: dan,
      play: async () => {
        await triage.startConversation(dan, { contactProfile: { id: 'p-dan', primaryIdentifier: 'Dan Meyer' } });
        await triage.contactSays(dan, 'How much does delivery to Norway cost?');
        await waitFor('the close', async () => (await state(dan)) === 'resolved', 20_000);
      },
      expect: [
        ['nudged once', async () => inbox.messagesSent(dan).filter((t) => t.startsWith('Are you still there')).length === 1],
        ['closed with the timeout message and topic', async () => sent(dan).some((c) => c.body.complete === 'RESOLVED' && has(c, 'applyTopics', ['Timeout']))],
      ],
    },
    {
      title: 'Knowledge: an answer from the help centre, with the article it cites',
      conversationId: eve,
      play: async () => {
        await triage.startConversation(eve, { contactProfile: { id: 'p-eve', primaryIdentifier: 'Eve Moreau' } });
        await triage.contactSays(eve, 'Can I still return shoes I only wore indoors?');
        await waitFor('the answer', () => sent(eve).length >= 1);
        await triage.contactSays(eve, 'Perfect, thanks!');
        await waitFor('the resolve', async () => (await state(eve)) === 'resolved');
      },
      expect: [
        ['answered citing the returns article', async () => (await decisionSources(eve)).some((s) => s.url === 'https://help.acme.example/returns')],
      ],
    },
    {
      title: 'Knowledge: a question the help centre does not answer is handed over, not guessed',
      conversationId: fay,
      play: async () => {
        await triage.startConversation(fay, { contactProfile: { id: 'p-fay', primaryIdentifier: 'Fay Okafor' } });
        await triage.contactSays(fay, 'Do you rent kayaks?');
        await waitFor('the handover', async () => (await state(fay)) === 'handed_over');
      },
      expect: [
        [
          'handed over with a note: the knowledge base has no answer',
          async () => sent(fay).some((c) => c.body.complete === 'HANDOVER' && JSON.stringify(c.body.applyConversationNotes).includes('the knowledge base has no answer')),
        ],
      ],
    },
    {
      title: 'Redaction: a card number in a contact message reaches the LLM as a placeholder, and the contact reads it masked',
      conversationId: gus,
      play: async () => {
        await triage.startConversation(gus, { contactProfile: { id: 'p-gus', primaryIdentifier: 'Gus Nilsen' } });
        await triage.contactSays(gus, `I was charged twice on card ${CARD} for the same order. Can you fix it?`);
        await waitFor('the handover', async () => (await state(gus)) === 'handed_over');
      },
      show: () => llmSaw().map((t) => dim(`  the LLM saw › ${t}`)),
      expect: [
        ['the LLM saw [CARD_1], never the number', async () => llmSaw().some((t) => t.includes('[CARD_1]')) && !JSON.stringify(llm.requests).includes(CARD)],
        ['the contact reads the card masked (•••• 4242)', async () => inbox.messagesSent(gus).some((t) => t.includes('•••• 4242')) && !inbox.messagesSent(gus).some((t) => t.includes(CARD))],
        [
          'no decision row holds the number in clear',
          async () => {
            const rows = (await db.query(`SELECT d::text AS row FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`, [gus])).rows;
            return rows.length > 0 && rows.every((r) => !r.row.includes(CARD) && !r.row.includes(CARD.replace(/ /g, '')));
          },
        ],
      ],
    },
  ];

  let failures = 0;
  for (const [i, scenario] of scenarios.entries()) {
    say();
    say(bold(`━━ ${i + 1}. ${scenario.title}`));
    await scenario.play();
    await sleep(300);
    await printTranscript(db, inbox, scenario.conversationId, config.agents);
    for (const line of scenario.show?.() ?? []) say(line);
    for (const [what, check] of scenario.expect) {
      const ok = await check().catch(() => false);
      if (!ok) failures++;
      say(`  ${ok ? green('✓') : red('✗')} ${what}`);
    }
  }

  say();
  const total = scenarios.reduce((n, s) => n + s.expect.length, 0);
  say(failures === 0 ? green(bold(`All ${total} scripted outcomes happened.`)) : red(bold(`${failures} of ${total} scripted outcomes did not happen.`)));
  say(dim(`The rows are in ${redactUrl(demoDb.toString())} (conversations, messages, decisions, action_calls, actions, webhook_events).`));

  // What the stored turns are for: deciding them again with an edited agents file (docs/evals.md).
  say();
  say(bold('Replay: what would a confidence floor of 0.9 have changed in these conversations?'));
  const edited = join(dir, 'agents-stricter.yaml');
  writeFileSync(edited, agentsYaml.replace('    topics: [Billing, Shipping, Returns, Timeout]', '    topics: [Billing, Shipping, Returns, Timeout]\n    limits: { minConfidence: 0.9 }'));
  const replayed = await replayCommand(['--agent', 'acme-triage', '--database', demoDb.toString(), '--agents-file', edited, '--scripted'], process.env, {
    out: (text) => text.split('\n').forEach((line) => say(dim(`  ${line}`))),
    err: (text) => text.split('\n').forEach((line) => say(red(`  ${line}`))),
    stream: process.stderr,
  });
  if (replayed !== 0) failures++;
  say(dim('Next: npm run eval -- --agent acme-triage --scripted   (the shipped eval cases; add OPENAI_API_KEY for a real model)'));
  say(dim('      npm run replay -- --agent acme-triage             (these turns again, with your agents file)'));

  await app.close();
  for (const name of Object.values(QUEUES)) {
    const q = new Queue(name, { connection: { url: redisUrl }, prefix });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  await db.end();
  await Promise.all([inbox.stop(), llm.stop(), shop.stop()]);
  await pgServer.stop();
  return failures === 0 ? 0 : 1;
}

function isTypingOnly(c: RecordedCall): boolean {
  return Object.keys(c.body).length === 1 && 'indicateTyping' in c.body;
}

function attribute(c: RecordedCall, key: string): string | undefined {
  return (c.body.setContactAttributes as Record<string, string> | undefined)?.[key];
}

function has(c: RecordedCall, field: string, value: unknown): boolean {
  return JSON.stringify(c.body[field]) === JSON.stringify(value);
}

/** Contact messages, decisions and REST calls of one conversation, merged in time order. */
async function printTranscript(db: pg.Pool, inbox: FakeInbox, inboxConversationId: string, agents: readonly AgentConfig[]): Promise<void> {
  const fieldOrder = (action: string, field: string) => agents.flatMap((a) => a.actions).find((a) => a.name === action)?.response.fields.indexOf(field) ?? 0;
  const { rows: [conversation] } = await db.query('SELECT id FROM conversations WHERE inbox_conversation_id = $1', [inboxConversationId]);
  if (!conversation) {
    say(red('  (no conversation was recorded)'));
    return;
  }
  const events: Array<{ at: number; line: string }> = [];
  const { rows: inbound } = await db.query(`SELECT created_at, text, payload FROM messages WHERE conversation_id = $1 AND direction = 'inbound' ORDER BY id`, [conversation.id]);
  for (const m of inbound) events.push({ at: m.created_at.getTime(), line: `${cyan('contact ›')} ${m.text ?? `[${m.payload}]`}` });
  const { rows: decisions } = await db.query(
    `SELECT id, created_at, kind, action, confidence, reason, topics, contact_attributes, guardrails, failure, latency_ms, sources FROM decisions WHERE conversation_id = $1 ORDER BY id`,
    [conversation.id],
  );
  // The lookups each decision made, under it; one that no stored decision claims, at its own time.
  const { rows: calls } = await db.query(
    `SELECT created_at, decision_id, action, arguments, raw_arguments, status, http_status, latency_ms, result, error FROM action_calls WHERE conversation_id = $1 ORDER BY id`,
    [conversation.id],
  );
  const callsOf = new Map<string, string[]>();
  for (const c of calls) {
    // jsonb keeps no key order: the fields go back in the order the action lists them.
    const result = c.result && Object.fromEntries(Object.entries(c.result as Record<string, unknown>).sort(([a], [b]) => fieldOrder(c.action, a) - fieldOrder(c.action, b)));
    const line = callLine({ name: c.action, args: c.arguments, rawArguments: c.raw_arguments, status: c.status, httpStatus: c.http_status, latencyMs: c.latency_ms, result, error: c.error });
    if (c.decision_id === null) events.push({ at: c.created_at.getTime(), line: `${dim('agent   ↳')} ${dim(line)}` });
    else callsOf.set(String(c.decision_id), [...(callsOf.get(String(c.decision_id)) ?? []), line]);
  }
  for (const d of decisions) {
    const extras = [
      d.topics.length ? `topics ${d.topics.join(', ')}` : '',
      Object.keys(d.contact_attributes).length ? `attributes ${Object.entries(d.contact_attributes).map(([k, v]) => `${k}=${v}`).join(', ')}` : '',
    ].filter(Boolean);
    let line = `${yellow('agent   ⚙')} ${bold(d.action)}${d.kind === 'opening' ? ' (opening question)' : ''} · confidence ${Number(d.confidence).toFixed(2)} · ${d.reason}${extras.length ? ` · ${extras.join(' · ')}` : ''}`;
    for (const c of callsOf.get(String(d.id)) ?? []) line += `\n          ${dim(`↳ ${c}`)}`;
    for (const c of d.sources as Array<{ title: string; url: string | null }>) line += `\n          ${green('cites:')} ${c.title}${c.url ? ` (${c.url})` : ''}`;
    for (const g of d.guardrails) line += `\n          ${magenta('guardrail:')} ${g}`;
    if (d.failure) line += `\n          ${red('failure:')} ${d.failure}`;
    events.push({ at: d.created_at.getTime() - 1, line });
  }
  for (const c of inbox.calls(inboxConversationId)) {
    events.push({ at: c.at, line: `${dim('inbox   ←')} ${dim(`${c.status}`)} ${describeCall(c.body)}` });
  }
  for (const e of events.sort((a, b) => a.at - b.at)) say(`  ${e.line}`);
}

function describeCall(body: Record<string, unknown>): string {
  const parts: string[] = [];
  if (body.indicateTyping) parts.push(dim(`typing ${body.indicateTyping}`));
  const message = (body.sendMessage as { text?: string } | undefined)?.text;
  if (message) parts.push(`${green('says')} “${message}”`);
  if (body.applyTopics) parts.push(`topics ${(body.applyTopics as string[]).join(', ')}`);
  if (body.setContactAttributes) parts.push(`attributes ${Object.entries(body.setContactAttributes as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (body.applyConversationNotes) parts.push(`note “${(body.applyConversationNotes as Array<{ text: string }>)[0].text.replace(/\n/g, ' ⏎ ').slice(0, 220)}”`);
  if (body.complete) parts.push(bold(`complete ${body.complete}`));
  return parts.join(' · ');
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(red(`demo failed: ${(err as Error).stack ?? err}`));
    process.exit(1);
  },
);
