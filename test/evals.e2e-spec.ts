import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { evalCommand, type Io } from '../scripts/eval-command.js';
import { loadCaseFiles } from '../src/evals/case.loader.js';
import type { EvalReport } from '../src/evals/types.js';
import { FakeLlm, toolResults, type ChatRequest, type Scripted, type ScriptedDecision } from './fakes/fake-llm.js';
import { FakeShop } from './fakes/fake-shop.js';
import { lastContactText } from './support/agents.js';
import { createTestDatabase } from './support/database.js';
import { KNOWLEDGE_PREFIX } from '../src/agent/prompt.builder.js';

const AGENTS = `
agents:
  - id: shop
    name: Shop Support
    mode: inception
    secretEnv: SHOP_SECRET
    llm: { model: agent-model }
    prompt: You are the shop's assistant.
    topics: [Billing, Shipping, Returns]
    contactAttributes:
      order_number: The order number
      email: The contact's e-mail address
  - id: shop-helper
    name: Shop Helper
    mode: delegation
    secretEnv: HELPER_SECRET
    llm: { model: agent-model }
    prompt: Collect the order number, then hand back.
    contactAttributes:
      order_number: The order number
pricing:
  agent-model: { input: 1.0, cachedInput: 0.5, output: 2.0 }
`;

/**
 * Ten cases, and what the fake LLM answers for each: right on six, wrong on a known four (c3, c5,
 * c6, c10), and c8 proposing an off-list topic. Every figure the report gives follows from this table.
 */
const CASES: Array<{ id: string; say: string; expect: string; answer: ScriptedDecision }> = [
  { id: 'c1', say: 'Where is my order A-10001?', expect: '{ action: reply, topics: [Shipping], attributes: { order_number: A-10001 } }', answer: { action: 'reply', message: 'Let me see.', topics: ['Shipping'], contactAttributes: [{ name: 'order_number', value: 'A-10001' }] } },
  { id: 'c2', say: 'Do you ship to Norway?', expect: '{ action: reply, topics: [Shipping], messageIncludes: [Norway] }', answer: { action: 'reply', message: 'Yes, we ship to Norway.', topics: ['Shipping'] } },
  { id: 'c3', say: 'Thanks, that is all', expect: '{ action: resolve }', answer: { action: 'reply', message: 'Anything else?' } },
  { id: 'c4', say: 'I want a refund of 300 EUR', expect: '{ action: handover }', answer: { action: 'handover', message: '' } },
  { id: 'c5', say: 'My tent arrived broken, this is a disgrace', expect: '{ action: handover }', answer: { action: 'reply', message: 'Sorry to hear that!' } },
  { id: 'c6', say: 'Send the invoice to jo@example.com please', expect: '{ action: reply, attributes: { email: jo@example.com } }', answer: { action: 'reply', message: 'Will do.', contactAttributes: [{ name: 'email', value: 'jo@example.org' }] } },
  { id: 'c7', say: 'Can I cancel my order?', expect: '{ action: [reply, handover] }', answer: { action: 'handover', message: '' } },
  { id: 'c8', say: 'Where is my invoice?', expect: '{ action: reply, topics: [Billing] }', answer: { action: 'reply', message: 'It is in your account.', topics: ['Billing', 'VIP'] } },
  { id: 'c9', say: 'Is this legal advice?', expect: '{ action: handover }', answer: { action: 'handover', message: '' } },
  { id: 'c10', say: 'Hello there', expect: '{ action: reply }', answer: { action: 'resolve', message: 'Bye.' } },
];

function caseFile(thresholds: string, cases = CASES): string {
  return [
    'agent: shop',
    'language: en',
    `thresholds: ${thresholds}`,
    'cases:',
    ...cases.flatMap((c) => [`  - id: ${c.id}`, '    tags: [known]', '    transcript:', `      - contact: "${c.say}"`, `    expect: ${c.expect}`]),
  ].join('\n');
}

const answers = new Map(CASES.map((c) => [c.say, c.answer]));
/** Per case: the answer scripted for the case's contact message. */
const perCase = (req: ChatRequest): Scripted | undefined => {
  const answer = answers.get(lastContactText(req));
  return answer ? { decision: { confidence: 0.9, reason: 'scripted per case', ...answer } } : undefined;
};

function quietIo(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: (l) => lines.push(l), stream: process.stderr };
}

function latestReport(out: string): { dir: string; report: EvalReport } {
  const dir = join(out, readdirSync(out).sort().at(-1)!);
  return { dir, report: JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) };
}

describe('npm run eval', () => {
  const llm = new FakeLlm();
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await llm.start();
  });
  afterAll(async () => {
    await llm.stop();
  });
  beforeEach(() => {
    llm.reset();
    llm.respondWith(perCase);
    dir = mkdtempSync(join(tmpdir(), 'iva-eval-'));
    writeFileSync(join(dir, 'agents.yaml'), AGENTS);
    env = { OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'test-key', OPENAI_MAX_RETRIES: '0' };
  });

  const run = (args: string[], io = quietIo()) => evalCommand(['--agents-file', join(dir, 'agents.yaml'), '--out', join(dir, 'out'), ...args], env, io);

  it('reports exactly the errors of an LLM scripted to be wrong on a known subset', async () => {
    writeFileSync(join(dir, 'known.yaml'), caseFile('{ handoverRecall: 0.5, maxOutOfPolicy: 1 }'));
    const io = quietIo();
    expect(await run(['--cases', join(dir, 'known.yaml')], io)).toBe(0);
    const { report, dir: reportDir } = latestReport(join(dir, 'out'));
    const m = report.metrics;

    expect(m.runs).toBe(10);
    expect(m.confusion).toEqual({
      reply: { reply: 4, resolve: 1, handover: 0 },
      resolve: { reply: 1, resolve: 0, handover: 0 },
      handover: { reply: 1, resolve: 0, handover: 3 },
    });
    expect(m.actionAccuracy).toBeCloseTo(0.7);
    expect(m.handoverRecall).toBeCloseTo(2 / 3); // c4 and c9 of c4, c5, c9: c7 accepts a reply too
    expect(m.perAction.reply).toEqual({ precision: 4 / 6, recall: 4 / 5, support: 5 });
    expect(m.perAction.handover).toEqual({ precision: 1, recall: 3 / 4, support: 4 });
    expect(m.perAction.resolve).toEqual({ precision: 0, recall: 0, support: 1 });
    expect(m.attributes.order_number).toMatchObject({ tp: 1, fp: 0, fn: 0, precision: 1, recall: 1 });
    expect(m.attributes.email).toMatchObject({ tp: 0, fp: 1, fn: 1, precision: 0, recall: 0 });
    expect(m.topicAccuracy).toBe(1); // c8's VIP was dropped by the guardrail: what applies is exactly [Billing]
    // The dropped topic is counted once: as an off-list topic, not again as the guardrail that dropped it.
    expect(m.outOfPolicy).toMatchObject({ total: 1, topics: 1, attributes: 0, runsWithAny: 1 });
    expect(m.passed).toBe(6);
    expect(report.runs.filter((r) => !r.passed).map((r) => r.caseId).sort()).toEqual(['c10', 'c3', 'c5', 'c6']);

    // The off-list topic was counted, and not applied.
    const c8 = report.runs.find((r) => r.caseId === 'c8')!;
    expect(c8.decided.topics).toEqual(['Billing']);
    expect(c8.outOfPolicy.topics).toEqual(['VIP']);
    expect(c8.outOfPolicy.guardrails).toEqual(['dropped topics outside the allow-list: VIP']);

    // Tokens and cost add up from the fake's usage and the price table.
    const prompt = report.runs.reduce((n, r) => n + r.usage.promptTokens, 0);
    expect(m.tokens.promptTokens).toBe(prompt);
    expect(m.costUsd).toBeCloseTo(report.runs.reduce((n, r) => n + r.usage.promptTokens * 1.0 + r.usage.completionTokens * 2.0, 0) / 1e6, 9);

    // The files a team reads: the report names the failing cases with what was expected and decided.
    const md = readFileSync(join(reportDir, 'report.md'), 'utf8');
    expect(md).toMatch(/Handover recall/);
    for (const id of ['c3', 'c5', 'c6', 'c10']) expect(md).toContain(id);
    expect(readFileSync(join(reportDir, 'results.jsonl'), 'utf8').trim().split('\n')).toHaveLength(10);
  });

  it('exits non-zero when a threshold of a case file is not met', async () => {
    writeFileSync(join(dir, 'strict.yaml'), caseFile('{ handoverRecall: 0.9 }'));
    expect(await run(['--cases', join(dir, 'strict.yaml')])).toBe(1);
    const { report } = latestReport(join(dir, 'out'));
    expect(report.thresholds).toEqual([expect.objectContaining({ name: 'handoverRecall', limit: 0.9, ok: false })]);

    writeFileSync(join(dir, 'policy.yaml'), caseFile('{ maxOutOfPolicy: 0 }'));
    expect(await run(['--cases', join(dir, 'policy.yaml')])).toBe(1);
  });

  it('names the file, line, case and field of a bad case file, and calls no LLM', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'agent: shop\ncases:\n  - id: ok\n    transcript:\n      - contact: hi\n    expect: { action: reply }\n  - id: broken\n    transcript:\n      - contact: hi\n    expect: { action: escalate }\n');
    const io = quietIo();
    expect(await run(['--cases', join(dir, 'bad.yaml')], io)).toBe(78);
    expect(io.lines.join('\n')).toMatch(/bad\.yaml:10: case "broken" field expect\.action/);
    expect(llm.requests).toHaveLength(0);
  });

  it('counts an LLM endpoint that gives no answer as an eval error, never as the agent handing over', async () => {
    writeFileSync(join(dir, 'known.yaml'), caseFile('{ handoverRecall: 0.5 }'));
    env.OPENAI_BASE_URL = 'http://127.0.0.1:9/v1'; // nothing listens there
    const io = quietIo();
    expect(await run(['--cases', join(dir, 'known.yaml'), '--concurrency', '1'], io)).toBe(70);
    const { report } = latestReport(join(dir, 'out'));
    expect(report.metrics.errors).toBe(10);
    expect(report.metrics.handoverRecall).toBeNull();
    expect(report.metrics.confusion.handover.handover).toBe(0);
    // Five in a row, then the rest are not attempted.
    expect(report.runs.filter((r) => r.unavailable)).toHaveLength(5);
    expect(report.runs.slice(5).every((r) => r.error?.startsWith('not run: the LLM endpoint gave no answer 5 times in a row'))).toBe(true);
    expect(io.lines.join('\n')).toMatch(/could not be evaluated/);
  });

  it('refuses, before any LLM call, a case id used twice for one agent and a case its agent cannot take', async () => {
    const one = 'agent: shop\ncases:\n  - id: same\n    transcript:\n      - contact: hi\n    expect: { action: reply }\n';
    writeFileSync(join(dir, 'a.yaml'), one);
    writeFileSync(join(dir, 'b.yaml'), one);
    writeFileSync(join(dir, 'c.yaml'), 'agent: shop\ncases:\n  - id: empty\n    expect: { action: reply }\n');
    const io = quietIo();
    expect(await run(['--cases', join(dir, '[ab].yaml')], io)).toBe(78);
    expect(io.lines.join('\n')).toMatch(/b\.yaml:3: case "same": agent shop already has a case with this id, at .*a\.yaml:3/);
    const io2 = quietIo();
    expect(await run(['--cases', join(dir, 'c.yaml')], io2)).toBe(78);
    expect(io2.lines.join('\n')).toMatch(/c\.yaml:3: case "empty": agent "shop" is an Inception agent: its cases need a contact message/);
    expect(llm.requests).toHaveLength(0);
  });

  it('checks only the attributes the contact does not have yet, as production sends only those', async () => {
    writeFileSync(
      join(dir, 'known-attr.yaml'),
      `agent: shop
cases:
  - id: known
    contactAttributes: { order_number: A-10001 }
    transcript:
      - contact: "Where is my order A-10001?"
    expect: { action: reply, attributes: { order_number: null } }
`,
    );
    expect(await run(['--cases', join(dir, 'known-attr.yaml')])).toBe(0);
    const { report } = latestReport(join(dir, 'out'));
    expect(report.runs[0]).toMatchObject({ passed: true, decided: { attributes: {} } });
  });

  it('--repeat k reports pass^k and the flaky case; --compare says what got better and worse', async () => {
    let calls = 0;
    // c2 passes every other time: flaky.
    llm.respondWith((req) => (lastContactText(req) === CASES[1].say && calls++ % 2 === 1 ? { decision: { action: 'handover', message: '' } } : perCase(req)));
    writeFileSync(join(dir, 'known.yaml'), caseFile('{}'));
    expect(await run(['--cases', join(dir, 'known.yaml'), '--repeat', '2', '--concurrency', '1'])).toBe(0);
    const first = latestReport(join(dir, 'out'));
    expect(first.report.metrics.runs).toBe(20);
    expect(first.report.metrics.flaky).toEqual(['shop/c2']);
    expect(first.report.metrics.passRate).toBeCloseTo(11 / 20);
    expect(first.report.metrics.passAllK).toBeCloseTo(5 / 10);

    // A prompt change fixes c3 and breaks c1.
    answers.set(CASES[2].say, { action: 'resolve', message: 'Bye!' });
    answers.set(CASES[0].say, { action: 'handover', message: '' });
    try {
      llm.respondWith(perCase);
      const io = quietIo();
      await new Promise((r) => setTimeout(r, 5)); // a distinct report directory
      expect(await run(['--cases', join(dir, 'known.yaml'), '--compare', join(first.dir, 'report.json')], io)).toBe(0);
      const second = latestReport(join(dir, 'out'));
      const md = readFileSync(join(second.dir, 'report.md'), 'utf8');
      const section = (title: string) => md.slice(md.indexOf(title)).split('\n\n')[1];
      expect(section('**Broken')).toMatch(/^- shop\/c1 .*reply → handover$/);
      // c2 was flaky before (pass^2 failed): it counts as fixed too.
      expect(section('**Fixed').split('\n').map((l) => l.split(' ')[1])).toEqual(['shop/c2', 'shop/c3']);
    } finally {
      answers.set(CASES[2].say, CASES[2].answer);
      answers.set(CASES[0].say, CASES[0].answer);
    }
  });

  it('judges rubric cases apart from the metrics, and plays a simulated contact to the end', async () => {
    writeFileSync(
      join(dir, 'judged.yaml'),
      `agent: shop
cases:
  - id: judged
    transcript:
      - contact: "Do you ship to Norway?"
    expect: { action: reply, judge: "Says whether the shop ships to Norway" }
  - id: simulated
    simulate: { goal: "Find out where order A-20002 is, then leave", maxTurns: 4 }
    expect: { action: resolve, attributes: { order_number: A-20002 } }
`,
    );
    let contactTurn = 0;
    llm.respondWith((req) => {
      const schema = req.response_format?.json_schema?.name;
      if (schema === 'judge_verdict') return { content: JSON.stringify({ pass: false, reason: 'does not mention Norway clearly enough' }) };
      if (schema === 'simulated_contact') {
        return { content: JSON.stringify(contactTurn++ === 0 ? { message: 'Where is order A-20002?', done: false } : { message: 'Great, thanks, bye!', done: true }) };
      }
      if (lastContactText(req) === 'Where is order A-20002?') return { decision: { action: 'reply', message: 'It ships today.', contactAttributes: [{ name: 'order_number', value: 'A-20002' }] } };
      if (lastContactText(req) === 'Great, thanks, bye!') return { decision: { action: 'resolve', message: 'Bye!' } };
      return perCase(req);
    });
    expect(await run(['--cases', join(dir, 'judged.yaml'), '--judge-model', 'judge-model'])).toBe(0);
    const { report } = latestReport(join(dir, 'out'));
    const judged = report.runs.find((r) => r.caseId === 'judged')!;
    expect(judged.passed).toBe(true); // the judge's "fail" never changes the deterministic result
    expect(judged.judge).toMatchObject({ status: 'fail', reason: 'does not mention Norway clearly enough' });
    expect(report.metrics.passRate).toBe(1);
    expect(report.metrics.judge).toMatchObject({ judged: 1, failed: 1 });
    const judgeRequest = llm.requests.find((r) => r.response_format?.json_schema?.name === 'judge_verdict')!;
    expect(judgeRequest.model).toBe('judge-model');
    // The team's rubric is an instruction; the conversation and what the agent knew are data.
    expect(judgeRequest.messages[0]).toMatchObject({ role: 'system', content: expect.stringContaining('Says whether the shop ships to Norway') });
    expect(JSON.parse(judgeRequest.messages[1].content)).toMatchObject({ known: { language: null, opening: false }, conversation: [{ from: 'contact', text: 'Do you ship to Norway?' }] });

    const sim = report.runs.find((r) => r.caseId === 'simulated')!;
    expect(sim).toMatchObject({ kind: 'simulation', passed: true, decided: { action: 'resolve', attributes: { order_number: 'A-20002' } } });
    expect(sim.conversation).toEqual([
      { contact: 'Where is order A-20002?' },
      { agent: 'It ships today.', action: 'reply' },
      { contact: 'Great, thanks, bye!' },
      { agent: 'Bye!', action: 'resolve' },
    ]);
  });

  it('for an agent with knowledge, searches its articles as a live turn does and checks citations and grounding', async () => {
    const db = await createTestDatabase();
    try {
      writeFileSync(
        join(dir, 'agents-kb.yaml'),
        AGENTS.replace(
          "    prompt: You are the shop's assistant.\n",
          `    prompt: You are the shop's assistant.\n    knowledge: { sources: [{ path: ${JSON.stringify(resolve('kb/acme/*.md'))} }], searchConfig: english }\n`,
        ),
      );
      writeFileSync(
        join(dir, 'kb-cases.yaml'),
        `agent: shop
cases:
  - id: returns
    transcript: [{ contact: "Can I still return shoes I only wore indoors?" }]
    expect: { action: reply, sources: [returns] }
  - id: kayaks
    transcript: [{ contact: "Do you rent kayaks?" }]
    expect: { action: handover, grounded: false }
  - id: wrong-article
    transcript: [{ contact: "How much does delivery to Norway cost?" }]
    expect: { action: reply, sources: [returns] }
`,
      );
      llm.respondWith((req) => {
        const excerpts = JSON.parse(req.messages.find((m) => m.content.startsWith(KNOWLEDGE_PREFIX))!.content.slice(KNOWLEDGE_PREFIX.length)) as Array<{ id: string }>;
        // A model that cites the first excerpt, and guesses when there is none.
        return { decision: { action: 'reply', message: 'Here is what our help centre says.', factual: true, sources: excerpts.slice(0, 1).map((e) => e.id) } };
      });
      env.DATABASE_URL = db.url;
      const io = quietIo();
      expect(await run(['--cases', join(dir, 'kb-cases.yaml'), '--agents-file', join(dir, 'agents-kb.yaml')], io)).toBe(0);
      expect(io.lines.join('\n')).toMatch(/knowledge of shop: 14 article\(s\)/);
      const { report } = latestReport(join(dir, 'out'));
      const byId = new Map(report.runs.map((r) => [r.caseId, r]));
      expect(byId.get('returns')).toMatchObject({ passed: true, decided: { sources: ['returns'] } });
      expect(byId.get('kayaks')).toMatchObject({ passed: true, decided: { action: 'handover', sources: [] } });
      expect(byId.get('wrong-article')).toMatchObject({ passed: false, checks: { missingSources: ['returns'] } });
      // Under the eval's own key, never the live agent's.
      expect(await db.query(`SELECT DISTINCT agent_id FROM kb_articles`)).toEqual([{ agent_id: 'eval:shop' }]);
    } finally {
      await db.drop();
    }
  });

  it('answers action calls from the case fixtures, trimmed as live, never from the shop, and reports calls without one', async () => {
    const shop = new FakeShop();
    await shop.start();
    try {
      writeFileSync(
        join(dir, 'agents-actions.yaml'),
        AGENTS.replace(
          '    contactAttributes:\n      order_number: The order number\n      email: The contact\'s e-mail address\n',
          `    contactAttributes:\n      order_number: The order number\n      email: The contact's e-mail address\n    actions:
      - name: order_status
        description: Look up one order.
        parameters: { type: object, required: [order_number], properties: { order_number: { type: string, pattern: "^A-[0-9]{5}$" } } }
        request: { url: "${shop.url}/api/orders/{order_number}" }
        response: { fields: [status, carrier, eta] }
        requires: [order_number]
`,
        ),
      );
      writeFileSync(
        join(dir, 'action-cases.yaml'),
        `agent: shop
thresholds: { callAccuracy: 0.5 }
cases:
  - id: status
    transcript: [{ contact: "Where is my order A-12345?" }]
    actions:
      order_status: { result: { status: shipped, carrier: DHL, eta: Thursday, customer_email: jane@example.com, internal_note: "margin 12%" } }
    expect: { action: reply, calls: [order_status], callArgs: { order_status: { order_number: A-12345 } }, sources: ["action:order_status"], messageIncludes: [DHL] }
  - id: not-found
    transcript: [{ contact: "Where is my order A-99999?" }]
    actions:
      order_status:
        - { when: { order_number: A-12345 }, result: { status: shipped } }
        - { when: { order_number: A-99999 }, error: "HTTP 404 (order not found)" }
    expect: { action: reply, calls: [order_status], messageExcludes: [shipped] }
  - id: no-fixture
    transcript: [{ contact: "Where is my order A-20001?" }]
    expect: { action: reply }
  - id: needless
    transcript: [{ contact: "Order A-12345 is fine. What is your return window?" }]
    actions:
      order_status: { result: { status: delivered } }
    expect: { action: reply, calls: [] }
  - id: refused
    transcript: [{ contact: "Where is my husband's order? I don't have the number." }]
    expect: { action: reply, calls: [] }
`,
      );
      // A model that looks up the number the contact wrote (or makes one up), then repeats what came back.
      llm.respondWith((req) => {
        const results = toolResults(req);
        if (!results.length) return { toolCalls: [{ name: 'order_status', arguments: { order_number: /A-\d{5}/.exec(lastContactText(req))?.[0] ?? 'A-55555' } }] };
        const [r] = results;
        return { decision: r.ok ? { message: `It is ${r.result!.status} with ${r.result!.carrier}.`, sources: [r.id], factual: true } : { message: `I could not look it up: ${r.error}` } };
      });
      const io = quietIo();
      expect(await run(['--cases', join(dir, 'action-cases.yaml'), '--agents-file', join(dir, 'agents-actions.yaml')], io)).toBe(0);
      expect(shop.requests).toEqual([]);

      const { report, dir: reportDir } = latestReport(join(dir, 'out'));
      const byId = new Map(report.runs.map((r) => [r.caseId, r]));
      // The model saw the listed fields of the fixture, and nothing else of it.
      const toolMessages = llm.requests.flatMap(toolResults);
      expect(toolMessages).toContainEqual({ id: 'act-1', ok: true, result: { status: 'shipped', carrier: 'DHL', eta: 'Thursday' } });
      expect(JSON.stringify(llm.requests)).not.toMatch(/jane@example\.com|margin 12%/);
      expect(byId.get('status')).toMatchObject({ passed: true, decided: { sources: ['action:order_status'], calls: [{ name: 'order_status', status: 'ok' }] } });
      expect(byId.get('not-found')).toMatchObject({ passed: true, decided: { message: 'I could not look it up: HTTP 404 (order not found)', calls: [{ status: 'http_error', httpStatus: 404 }] } });
      expect(byId.get('no-fixture')).toMatchObject({ passed: false, checks: { action: true, unfixtured: ['order_status(order_number=A-20001)'] }, decided: { calls: [{ status: 'skipped', error: 'no fixture in this case' }] } });
      expect(byId.get('needless')).toMatchObject({ passed: false, checks: { calls: false } });
      // Refused by the requires rule: not made, so "no call" holds.
      expect(byId.get('refused')).toMatchObject({ passed: true, decided: { calls: [{ status: 'refused', error: expect.stringMatching(/not one the contact gave/) }] } });

      expect(report.metrics).toMatchObject({ callAccuracy: 3 / 4, unfixturedCalls: { calls: 1, runs: 1 } });
      expect(report.metrics.actionCalls.order_status).toMatchObject({ asked: 5, byStatus: { ok: 2, http_error: 1, skipped: 1, refused: 1 }, expectedMade: 2, madeNotExpected: 1 });
      expect(report.thresholds).toEqual([expect.objectContaining({ name: 'callAccuracy', actual: 3 / 4, ok: true })]);
      const md = readFileSync(join(reportDir, 'report.md'), 'utf8');
      expect(md).toContain('no fixture in this case for order_status(order_number=A-20001)');
      expect(md).toContain('- **Calls:** order_status(order_number=A-12345): status=delivered');
      expect(io.lines.join('\n')).toMatch(/Action calls, expected vs made: 75% · 1 call without a fixture in 1 run/);
    } finally {
      await shop.stop();
    }
  });

  it('refuses, before any LLM call, a fixture or an expected call of an action the agent does not have', async () => {
    writeFileSync(join(dir, 'bad-actions.yaml'), 'agent: shop\ncases:\n  - id: lookup\n    transcript: [{ contact: "Where is A-12345?" }]\n    actions:\n      order_status: { result: { status: shipped } }\n    expect: { action: reply, calls: [order_status] }\n');
    const io = quietIo();
    expect(await run(['--cases', join(dir, 'bad-actions.yaml')], io)).toBe(78);
    expect(io.lines.join('\n')).toContain('bad-actions.yaml:6: case "lookup" field actions.order_status: agent "shop" has no action "order_status" (it has none)');
    expect(io.lines.join('\n')).toContain('bad-actions.yaml:7: case "lookup" field expect.calls: agent "shop" has no action "order_status" (it has none)');
    expect(llm.requests).toHaveLength(0);
  });

  it('runs every shipped case file end to end with --scripted (plumbing only)', async () => {
    const script = 'dist/scripts/eval.js';
    if (!existsSync(script)) throw new Error(`${script} is missing: npm test builds it first`);
    const shipped = (await loadCaseFiles(['evals/**/*.yaml'])).flatMap((f) => f.cases);
    const out = mkdtempSync(join(tmpdir(), 'iva-eval-shipped-'));
    const child = spawn(process.execPath, [script, '--scripted', '--out', out], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, output }).toMatchObject({ code: 0 });
    const { report } = latestReport(out);
    expect(report.info).toMatchObject({ scripted: true, gated: false });
    expect(report.metrics.errors).toBe(0);
    expect(report.metrics.cases).toBe(shipped.filter((c) => !c.simulate).length);
    expect(new Set(report.info.agents)).toEqual(new Set(['acme-triage', 'acme-helper']));
  }, 120_000);
});
