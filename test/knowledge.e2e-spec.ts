import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { kbCommand } from '../scripts/kb-command.js';
import type { Io } from '../scripts/eval-command.js';
import { KNOWLEDGE_PREFIX, stableInstructions } from '../src/agent/prompt.builder.js';
import { parseAgentsFile } from '../src/config/agents.loader.js';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { runMigrationsLocked } from '../src/database/migrate.js';
import { KnowledgeRepository } from '../src/knowledge/knowledge.repository.js';
import { KnowledgeService } from '../src/knowledge/knowledge.service.js';
import { syncAgent } from '../src/knowledge/knowledge.sync.js';
import { articleName } from '../src/knowledge/retrieval.js';
import { OpenAiLlmClient } from '../src/llm/openai-llm.client.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm, type ChatRequest, type Scripted } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { lastContactText } from './support/agents.js';
import { TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const FIXTURES = resolve('test/fixtures/kb');
const ACME_KB = resolve('kb/acme');

const agentsYaml = (knowledge: string, extra = '') => `
agents:
  - id: shop
    name: Shop Support
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are the shop's assistant.
    topics: [Billing, Shipping, Returns]
    contactAttributes:
      order_number: The order number
    timeouts: { turnDebounce: 0s, virtualAgent: 5m }
    knowledge:
${knowledge
  .trim()
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
${extra}`;

function quietIo(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: (l) => lines.push(l), stream: process.stderr };
}

describe('knowledge: sync and search', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let repo: KnowledgeRepository;
  let server: Server;
  let origin: string;
  const llm = new FakeLlm();

  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await new DataSource(dataSourceOptions(db.url, 2)).initialize();
    await runMigrationsLocked(dataSource);
    repo = new KnowledgeRepository(dataSource);
    // The fixtures folder over real HTTP: the sitemap lists its pages relative to itself.
    server = createServer((req, res) => {
      try {
        const body = readFileSync(join(FIXTURES, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
        res.writeHead(200, { 'content-type': req.url?.endsWith('.xml') ? 'application/xml' : req.url?.endsWith('.md') ? 'text/markdown' : 'text/html' });
        res.end(body);
      } catch {
        res.writeHead(404).end('not found');
      }
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await llm.start();
  });
  afterAll(async () => {
    await dataSource.destroy();
    await db.drop();
    server.close();
    await llm.stop();
  });

  const agentFrom = (knowledge: string, dir: string) => parseAgentsFile(agentsYaml(knowledge), { TRIAGE_SECRET }, 'agents', dir).agents[0];

  it('syncs Markdown and HTML files and a sitemap over HTTP; a re-sync changes nothing; a removed article disappears', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iva-kb-'));
    cpSync(FIXTURES, join(dir, 'kb'), { recursive: true });
    const agent = agentFrom(`sources:\n  - { path: kb/*.md }\n  - { path: kb/*.html }\n  - { url: ${origin}/sitemap.xml }\nsearchConfig: english`, dir);

    const first = await syncAgent(repo, undefined, agent);
    expect(first).toMatchObject({ added: 5, updated: 0, unchanged: 0, removed: 0, errors: [] });
    const articles = await repo.articles('shop');
    expect(articles.map((a) => a.uri)).toEqual([
      `${origin}/getting-started.md`,
      `${origin}/help-page.html`,
      'kb/billing.md',
      'kb/getting-started.md',
      'kb/help-page.html',
    ]);
    expect(articles.find((a) => a.uri === 'kb/getting-started.md')).toMatchObject({ title: 'Getting started with Acme', url: 'https://help.acme.example/articles/getting-started' });
    const chunks = await dataSource.query(`SELECT text FROM kb_chunks WHERE agent_id = 'shop'`);
    expect(chunks.length).toBe(first.chunks);
    // Only the page's main content: no navigation, cookie banner or script.
    expect(chunks.map((c: { text: string }) => c.text).join('\n')).not.toMatch(/cookie|<script|document\.write/i);

    const again = await syncAgent(repo, undefined, agent);
    expect(again).toMatchObject({ added: 0, updated: 0, unchanged: 5, removed: 0 });
    const ids = await dataSource.query(`SELECT id FROM kb_chunks WHERE agent_id = 'shop' ORDER BY id`);
    expect(ids.length).toBe(first.chunks); // not rewritten

    rmSync(join(dir, 'kb', 'billing.md'));
    writeFileSync(join(dir, 'kb', 'getting-started.md'), readFileSync(join(dir, 'kb', 'getting-started.md'), 'utf8') + '\n## New section\n\nSomething new about workspaces.\n');
    expect(await syncAgent(repo, undefined, agent)).toMatchObject({ added: 0, updated: 1, unchanged: 3, removed: 1 });
    expect((await repo.articles('shop')).map((a) => a.uri)).not.toContain('kb/billing.md');
  });

  it('keeps what a source gave before when the source cannot be read, and reports it', async () => {
    const agent = agentFrom(`sources:\n  - { url: ${origin}/sitemap.xml }\nsearchConfig: english`, process.cwd());
    await repo.removeAgent('shop');
    expect(await syncAgent(repo, undefined, agent)).toMatchObject({ added: 2 });
    const broken = agentFrom(`sources:\n  - { url: ${origin}/gone.xml }\nsearchConfig: english`, process.cwd());
    // A different source now: what the old one gave is no longer configured, so it goes.
    const stats = await syncAgent(repo, undefined, broken);
    expect(stats.errors).toEqual([expect.objectContaining({ error: expect.stringMatching(/404/) })]);
    expect(stats.removed).toBe(2);
    // The same source failing keeps its articles.
    await syncAgent(repo, undefined, agent);
    server.removeAllListeners('request');
    server.on('request', (_req, res) => res.writeHead(503).end());
    try {
      const down = await syncAgent(repo, undefined, agent);
      expect(down).toMatchObject({ removed: 0 });
      expect(down.errors[0].error).toMatch(/503/);
      expect(await repo.articles('shop')).toHaveLength(2);
    } finally {
      server.removeAllListeners('request');
      server.on('request', (req, res) => {
        try {
          res.writeHead(200).end(readFileSync(join(FIXTURES, new URL(req.url ?? '/', 'http://x').pathname)));
        } catch {
          res.writeHead(404).end();
        }
      });
    }
  });

  it('fetches only the sitemap origin, follows no redirect to another origin, and keeps a source that partly failed', async () => {
    // A second site: its sitemap lists a page of its own, a page of another origin (the fixtures
    // server: 127.0.0.1 vs localhost) and a page that redirects there; later a nested sitemap fails.
    let nestedDown = false;
    const site = createServer((req, res) => {
      const base = `http://localhost:${(site.address() as AddressInfo).port}`;
      const routes: Record<string, () => void> = {
        '/sitemap.xml': () =>
          res.writeHead(200, { 'content-type': 'application/xml' }).end(
            `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>${base}/a.xml</loc></sitemap><sitemap><loc>${base}/b.xml</loc></sitemap></sitemapindex>`,
          ),
        '/a.xml': () =>
          res.writeHead(200, { 'content-type': 'application/xml' }).end(
            `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>${base}/own.md</loc></url><url><loc>${origin}/getting-started.md</loc></url><url><loc>${base}/moved.md</loc></url></urlset>`,
          ),
        '/b.xml': () =>
          nestedDown
            ? res.writeHead(503).end()
            : res.writeHead(200, { 'content-type': 'application/xml' }).end(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>${base}/second.md</loc></url></urlset>`),
        '/own.md': () => res.writeHead(200, { 'content-type': 'text/markdown' }).end('# Own page\n\nAbout returns.\n'),
        '/second.md': () => res.writeHead(200, { 'content-type': 'text/markdown' }).end('# Second page\n\nAbout shipping.\n'),
        '/moved.md': () => res.writeHead(302, { location: `${origin}/getting-started.md` }).end(),
      };
      (routes[req.url ?? ''] ?? (() => res.writeHead(404).end()))();
    });
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
    try {
      const agent = { ...agentFrom(`sources: [{ url: 'http://localhost:${(site.address() as AddressInfo).port}/sitemap.xml' }]\nsearchConfig: english`, process.cwd()), id: 'shop-site' };
      const first = await syncAgent(repo, undefined, agent);
      expect((await repo.articles('shop-site')).map((a) => a.title).sort()).toEqual(['Own page', 'Second page']);
      expect(first.errors.map((e) => e.error).join('\n')).toMatch(/1 location\(s\) on another origin than http:\/\/localhost:\d+, not fetched/);
      expect(first.errors.map((e) => e.error).join('\n')).toMatch(/redirected to another origin \(http:\/\/127\.0\.0\.1:\d+\), not followed/);

      nestedDown = true;
      const second = await syncAgent(repo, undefined, agent);
      expect(second.errors.map((e) => e.error).join('\n')).toMatch(/HTTP 503/);
      expect(second.removed).toBe(0);
      expect(await repo.articles('shop-site')).toHaveLength(2);
    } finally {
      site.close();
    }
  });

  it('ranks the article that answers a paraphrased question first, in English and in French', async () => {
    await repo.removeAgent('shop');
    const english = agentFrom(`sources: [{ path: ${ACME_KB}/*.md }]\nsearchConfig: english\nminScore: 0`, process.cwd());
    await syncAgent(repo, undefined, english);
    const service = new KnowledgeService(repo, new OpenAiLlmClient({ OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'k', OPENAI_TIMEOUT: 5000, OPENAI_MAX_RETRIES: 0 }));
    const top = async (agent: typeof english, q: string) => articleName((await service.retrieve(agent, q)).chunks[0]?.uri ?? '');
    expect(await top(english, 'can I send back hiking boots I already wore outside?')).toBe('returns');
    expect(await top(english, 'how many working days does delivery to Norway take')).toBe('shipping');
    expect(await top(english, 'can your workshop repair my rain jacket? the zip is broken')).toBe('repairs');
    // A name and an order number no article contains do not sink the words that do match.
    const named = await service.retrieve({ ...english, knowledge: { ...english.knowledge!, minScore: 0.2 } }, "hi, I'm Jennifer Kowalczyk, order AC-4829183, my parcel has not arrived");
    expect(named.chunks.map((c) => articleName(c.uri))).toContain('delivery-problems');
    // An agent whose knowledge was never synced says so, rather than "no answer".
    expect((await service.retrieve({ ...english, id: 'never-synced' }, 'return a jacket')).failure).toMatch(/empty \(never synced\?\)/);

    // A French help centre, searched with the French configuration (stemming: "retourner" finds "retour").
    const dir = mkdtempSync(join(tmpdir(), 'iva-kb-fr-'));
    writeFileSync(join(dir, 'retours.md'), '---\ntitle: Retourner un article\n---\n\n## Délai\n\nVous pouvez retourner un article dans les 30 jours suivant la livraison, non porté et avec ses étiquettes.\n');
    writeFileSync(join(dir, 'livraison.md'), '---\ntitle: Livraison et délais\n---\n\n## Délais de livraison\n\nLes colis arrivent en 2 à 5 jours ouvrés en Europe. La livraison est offerte dès 75 euros.\n');
    writeFileSync(join(dir, 'paiement.md'), '---\ntitle: Moyens de paiement\n---\n\n## Cartes et PayPal\n\nNous acceptons les cartes Visa et Mastercard ainsi que PayPal. La carte est débitée à l’expédition.\n');
    const french = { ...agentFrom(`sources: [{ path: '*.md' }]\nsearchConfig: french\nminScore: 0`, dir), id: 'shop-fr' };
    await syncAgent(repo, undefined, french);
    expect(await top(french, 'Est-ce que je peux renvoyer une veste que je n’ai pas portée ?')).toBe('retours');
    expect(await top(french, 'Combien de jours pour recevoir mon colis ?')).toBe('livraison');
    expect(await top(french, 'Vous prenez Paypal ?')).toBe('paiement');
  });

  it('fuses vector similarity with full text when the agent has embeddings, and embeds only what changed', async () => {
    const hybrid = { ...agentFrom(`sources: [{ path: ${ACME_KB}/*.md }]\nsearchConfig: english\nembeddings: { model: fake-embed }\nminScore: 0`, process.cwd()), id: 'shop-vec' };
    const client = new OpenAiLlmClient({ OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'k', OPENAI_TIMEOUT: 5000, OPENAI_MAX_RETRIES: 0 });
    const stats = await syncAgent(repo, client, hybrid);
    expect(stats.embedded).toBe(stats.chunks);
    expect(llm.embedded).toHaveLength(stats.chunks);
    const again = await syncAgent(repo, client, hybrid);
    expect(again.embedded).toBe(0);
    const found = await new KnowledgeService(repo, client).retrieve(hybrid, 'gift card pin code balance');
    expect(articleName(found.chunks[0].uri)).toBe('gift-cards');
    expect(found.tokens).toBeGreaterThan(0);
  });

  it('npm run kb: sync, list, search and remove from the command line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iva-kb-cli-'));
    writeFileSync(join(dir, 'agents.yaml'), agentsYaml(`sources: [{ path: ${ACME_KB}/*.md }]\nsearchConfig: english`));
    const run = (args: string[], io = quietIo()) => kbCommand([...args, '--agents-file', join(dir, 'agents.yaml'), '--database', db.url], { TRIAGE_SECRET }, io);
    await repo.removeAgent('shop');
    const sync = quietIo();
    expect(await run(['sync', '--agent', 'shop'], sync)).toBe(0);
    expect(sync.lines[0]).toMatch(/^shop: 14 added, 0 updated, 0 unchanged, 0 removed · \d+ chunks$/);
    const list = quietIo();
    expect(await run(['list'], list)).toBe(0);
    expect(list.lines[0]).toMatch(/^shop: 14 article\(s\)/);
    const search = quietIo();
    expect(await run(['search', '--agent', 'shop', 'can I return shoes I wore once'], search)).toBe(0);
    expect(search.lines[1]).toMatch(/^1\. \d\.\d{3} {2}Returning an item/);
    expect(await run(['search', '--agent', 'shop'])).toBe(64);
    expect(await run(['remove', '--agent', 'shop', '--uri', `${ACME_KB}/nope.md`])).toBe(78);
    const removed = quietIo();
    expect(await run(['remove', '--agent', 'shop'], removed)).toBe(0);
    expect(removed.lines[0]).toBe('shop: 14 article(s) removed');
    const unknown = quietIo();
    expect(await run(['sync', '--agent', 'nobody'], unknown)).toBe(78);
    expect(unknown.lines[0]).toMatch(/no agent "nobody"/);
  });
});

describe('knowledge: in a turn', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let shop: WebhookSender;
  let n = 0;
  const newId = () => `kb-conv-${++n}-${Date.now()}`;
  const agents = agentsYaml(`sources: [{ path: ${ACME_KB}/*.md }]\nsearchConfig: english\nminScore: 0.2\nrequireGrounding: true`);

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    bridge = await startBridge({ agents, inbox, llm, env: { OPENAI_MAX_RETRIES: '0' } });
    await syncAgent(bridge.app.get(KnowledgeRepository), undefined, bridge.config.agent('shop')!);
    shop = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'shop', secretHex: TRIAGE_SECRET, inbox });
  }, 30_000);
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });
  beforeEach(() => llm.reset());

  const decisionRequests = () => llm.requests.filter((r) => r.response_format?.json_schema?.name === 'decision');
  const excerpts = (req: ChatRequest): Array<{ id: string; title: string; text: string }> =>
    JSON.parse(req.messages.find((m) => m.role === 'user' && m.content.startsWith(KNOWLEDGE_PREFIX))!.content.slice(KNOWLEDGE_PREFIX.length));
  const completed = (id: string) => inbox.calls(id).find((c) => c.status === 200 && c.body.complete);
  const say = async (text: string) => {
    const id = newId();
    await shop.startConversation(id);
    await shop.contactSays(id, text);
    await waitFor('the decision', () => completed(id) ?? inbox.calls(id).find((c) => 'sendMessage' in c.body));
    return id;
  };

  it('puts the retrieved excerpts after the unchanged prefix, as data, and records what was cited', async () => {
    llm.respondWith((req): Scripted => {
      const [first] = excerpts(req);
      return { decision: { action: 'reply', message: 'Yes, within 30 days if worn indoors only.', sources: [first.id], factual: true, topics: ['Returns'] } };
    });
    const a = await say('Can I return boots I only wore at home?');
    const b = await say('How long does shipping to Norway take?');
    const [ra, rb] = decisionRequests();
    const agent = bridge.config.agent('shop')!;
    // The byte-stable prefix: the same for both turns, with no excerpt in it.
    expect(ra.messages[0]).toEqual({ role: 'system', content: stableInstructions(agent) });
    expect(rb.messages[0]).toEqual(ra.messages[0]);
    expect(ra.messages[0].content).not.toContain('30 days');
    expect(excerpts(ra)[0].title).toBe('Returning an item');
    expect(excerpts(rb)[0].title).toBe('Shipping destinations, delivery times and costs');
    // The excerpts come last, after the contact's message, so a prompt cache still covers the transcript.
    expect(ra.messages.at(-2)).toEqual({ role: 'user', content: 'Can I return boots I only wore at home?' });
    expect(ra.messages.at(-1)!.content.startsWith(KNOWLEDGE_PREFIX)).toBe(true);

    const [row] = await bridge.db.query(`SELECT d.sources, d.action FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`, [a]);
    expect(row).toMatchObject({ action: 'reply', sources: [expect.objectContaining({ title: 'Returning an item', url: 'https://help.acme.example/returns' })] });
    expect(b).toBeTruthy();
  });

  it('drops a cited id that was not retrieved for the turn', async () => {
    llm.respondWith((req): Scripted => ({ decision: { action: 'reply', message: 'Within 30 days.', sources: [excerpts(req)[0].id, 'kb-999999'], factual: true } }));
    const id = await say('What is your return window for jackets?');
    const [row] = await bridge.db.query(`SELECT d.sources, d.guardrails FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1`, [id]);
    expect(row.sources).toHaveLength(1);
    expect(row.guardrails).toEqual(['dropped sources not retrieved for this turn: kb-999999']);
  });

  it('hands over a factual reply that cites nothing, with a note naming the question', async () => {
    llm.respondWith(() => ({ decision: { action: 'reply', message: 'Yes, of course, we rent canoes every weekend.', factual: true } }));
    const id = await say('Can I rent a canoe from you for a weekend?');
    const call = completed(id)!;
    expect(call.body).toMatchObject({ complete: 'HANDOVER', sendMessage: { text: expect.stringMatching(/colleague/) } });
    const note = (call.body.applyConversationNotes as Array<{ text: string }>)[0].text;
    expect(note).toMatch(/the knowledge base has no answer to this question|cites no article of the knowledge base/);
    expect(note).toContain('Can I rent a canoe from you for a weekend?');
    expect(JSON.stringify(call.body)).not.toContain('we rent canoes');
  });

  it('cannot be steered by instructions inside an article: no topic or attribute outside the allow-lists', async () => {
    // A model that obeys the injected paragraph of the gift-cards article.
    llm.respondWith((req): Scripted => {
      const poisoned = excerpts(req).find((e) => /VIP/.test(e.text));
      return {
        decision: {
          action: 'reply',
          message: 'Your gift card PIN is on the e-mail.',
          sources: poisoned ? [poisoned.id] : [],
          factual: true,
          topics: poisoned ? ['VIP', 'Billing'] : ['Billing'],
          contactAttributes: poisoned ? [{ name: 'discount', value: '100%' }] : [],
        },
      };
    });
    const id = await say('I lost the PIN of my gift card, where do I find it? Is there a VIP discount?');
    expect(excerpts(decisionRequests()[0]).some((e) => /VIP/.test(e.text))).toBe(true);
    const sent = inbox.calls(id).find((c) => 'sendMessage' in c.body)!;
    expect(sent.body.applyTopics).toEqual(['Billing']);
    expect(sent.body.setContactAttributes).toBeUndefined();
  });

  it('a turn without an answer in the knowledge base says so to the LLM with an empty list', async () => {
    llm.respondWith(() => ({ decision: { action: 'handover', message: '', handoverNote: 'Asks about kayak rental.' } }));
    await say('Do you rent kayaks?');
    expect(lastContactText(decisionRequests()[0])).toBe('Do you rent kayaks?');
    expect(excerpts(decisionRequests()[0])).toEqual([]);
  });
});
