import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';
import { expectedOverviewCells } from './support/overview.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { COOKIE_NAME, LOGIN_ATTEMPTS } from '../src/console/console.auth.js';

const PASSWORD = 'correct horse battery staple';

interface Page {
  status: number;
  headers: Headers;
  text: string;
}

/** A browser as far as the console cares: one cookie, no redirects followed, forms posted as a browser posts them. */
class Browser {
  cookie?: string;
  constructor(private readonly base: string) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<Page> {
    return this.keep(await fetch(`${this.base}${path}`, { redirect: 'manual', headers: { ...this.cookieHeader(), ...headers } }));
  }

  async post(path: string, form: Record<string, string>): Promise<Page> {
    return this.keep(
      await fetch(`${this.base}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.cookieHeader() },
        body: new URLSearchParams(form).toString(),
      }),
    );
  }

  /** Opens the login page (a pre-login session and its CSRF token), then signs in. */
  async login(password = PASSWORD, next = '/console/conversations'): Promise<Page> {
    const page = await this.get(`/console/login?next=${encodeURIComponent(next)}`);
    return this.post('/console/login', { _csrf: csrfToken(page.text), password, next });
  }

  private cookieHeader(): Record<string, string> {
    return this.cookie ? { cookie: this.cookie } : {};
  }

  private async keep(res: Response): Promise<Page> {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      if (!pair.startsWith(`${COOKIE_NAME}=`)) continue;
      const expired = attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
      this.cookie = expired || pair === `${COOKIE_NAME}=` ? undefined : pair;
    }
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
}

const csrfToken = (html: string) => {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
};

/** The text of the element with this data-testid (the first one). */
const byTestId = (html: string, id: string) => new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`).exec(html)?.[1];
const valueOf = (html: string, id: string) => new RegExp(`data-testid="${id}" data-value="([^"]*)"`).exec(html)?.[1];
const count = (html: string, pattern: RegExp) => html.match(new RegExp(pattern.source, 'g'))?.length ?? 0;

describe('operator console', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let db: TestDatabase;
  let bridge: TestBridge;
  let evalDir: string;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    db = await createTestDatabase();
    evalDir = mkdtempSync(join(tmpdir(), 'iva-console-evals-'));
    bridge = await startBridge({ database: db, inbox, llm, env: { CONSOLE_PASSWORD: PASSWORD, EVAL_RESULTS_DIR: evalDir } });
  });
  afterAll(async () => {
    await bridge?.close();
    await db?.drop();
    await Promise.all([inbox.stop(), llm.stop()]);
    rmSync(evalDir, { recursive: true, force: true });
  });

  it('is off (404) when no password is configured', async () => {
    const off = await startBridge({ database: db });
    try {
      for (const path of ['/console', '/console/login', '/console/conversations', '/console/assets/console.css']) {
        const res = await fetch(`${off.url}${path}`, { redirect: 'manual' });
        expect([path, res.status]).toEqual([path, 404]);
      }
      // The rest of the service is unchanged.
      expect((await fetch(`${off.url}/health`)).status).toBe(200);
    } finally {
      await off.close();
    }
  });

  it('sends a visitor without a session to the login page, remembering where they were going', async () => {
    const browser = new Browser(bridge.url);
    for (const path of ['/console', '/console/conversations?state=active', '/console/overview', '/console/queues/', '/console/evals', '/console/conversations/00000000-0000-4000-8000-000000000000']) {
      const res = await browser.get(path);
      expect([path, res.status]).toEqual([path, 302]);
      expect(res.headers.get('location')).toBe(`/console/login?next=${encodeURIComponent(path)}`);
    }
    // The live refresh asks with htmx: it gets a redirect htmx follows as a whole page, not a login form swapped into the table.
    const fragment = await browser.get('/console/conversations/rows?state=active', { 'HX-Request': 'true', 'HX-Current-URL': `${bridge.url}/console/conversations?state=active` });
    expect(fragment.status).toBe(401);
    expect(fragment.headers.get('hx-redirect')).toBe(`/console/login?next=${encodeURIComponent('/console/conversations?state=active')}`);
    // Nothing but its own pages: a next that leaves the console is replaced.
    const login = await browser.get(`/console/login?next=${encodeURIComponent('//evil.example/x')}`);
    expect(login.text).toContain('name="next" value="/console/conversations"');
  });

  it('serves its pages with a strict content security policy and no framing', async () => {
    const res = await new Browser(bridge.url).get('/console/login');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
    // No inline script anywhere, and every asset from the console itself.
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc="\/console\/assets\/)(?![^>]*type="application\/json")/);
    for (const asset of ['console.css', 'console.js', 'htmx.min.js', 'chart.umd.min.js', 'charts.js']) {
      expect([asset, (await fetch(`${bridge.url}/console/assets/${asset}`)).status]).toEqual([asset, 200]);
    }
  });

  it('refuses a wrong password and lets the right one in with an HttpOnly, SameSite=Strict cookie', async () => {
    const browser = new Browser(bridge.url);
    const wrong = await browser.login('not the password at all');
    expect(wrong.status).toBe(401);
    expect(byTestId(wrong.text, 'login-error')).toBe('That password is not right.');
    expect((await browser.get('/console/conversations')).status).toBe(302);

    const page = await browser.get('/console/login?next=%2Fconsole%2Foverview%3Fwindow%3D7d');
    const preLogin = browser.cookie;
    const res = await fetch(`${bridge.url}/console/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookie! },
      body: new URLSearchParams({ _csrf: csrfToken(page.text), password: PASSWORD, next: '/console/overview?window=7d' }).toString(),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/overview?window=7d');
    const [cookie] = res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE_NAME}=`));
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    expect(cookie).toMatch(/; Path=\/console/i);
    expect(cookie).not.toMatch(/; Secure/i);
    // A new session id at login: the pre-login one is worth nothing.
    const session = cookie.split(';')[0];
    expect(session).not.toBe(preLogin);
    const after = await fetch(`${bridge.url}/console/conversations`, { redirect: 'manual', headers: { cookie: session } });
    expect(after.status).toBe(200);
  });

  it('refuses a form without its CSRF token, or with a wrong one (403)', async () => {
    const noSession = await new Browser(bridge.url).post('/console/login', { password: PASSWORD });
    expect(noSession.status).toBe(403);

    const browser = new Browser(bridge.url);
    await browser.get('/console/login');
    expect((await browser.post('/console/login', { password: PASSWORD })).status).toBe(403);
    expect((await browser.post('/console/login', { _csrf: 'f'.repeat(256), password: PASSWORD })).status).toBe(403);

    expect((await browser.login()).status).toBe(303);
    const missing = await browser.post('/console/logout', {});
    expect(missing.status).toBe(403);
    expect(byTestId(missing.text, 'error-title')).toBe('This form has expired');
    expect((await browser.post('/console/logout', { _csrf: 'nope' })).status).toBe(403);
    // Still logged in: the forged logouts did nothing.
    expect((await browser.get('/console/conversations')).status).toBe(200);
  });

  it('ends the session at logout: the old cookie no longer opens anything', async () => {
    const browser = new Browser(bridge.url);
    expect((await browser.login()).status).toBe(303);
    const cookie = browser.cookie!;
    const page = await browser.get('/console/conversations');
    const res = await browser.post('/console/logout', { _csrf: csrfToken(page.text) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/login');
    const replayed = await fetch(`${bridge.url}/console/conversations`, { redirect: 'manual', headers: { cookie } });
    expect(replayed.status).toBe(302);
    expect(replayed.headers.get('location')).toMatch(/^\/console\/login/);
  });

  it('shows a conversation from the real webhook path: transcript, decision reason and handover note, the contact text escaped', async () => {
    const sender = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    llm.script({
      decision: {
        action: 'handover',
        message: 'A colleague will look at your refund.',
        reason: 'refunds over 100 EUR need a person',
        handoverNote: 'Refund of 250 EUR asked for order A-12345',
        confidence: 0.9,
      },
    });
    const inboxId = `console-${Date.now()}`;
    await sender.startConversation(inboxId, { contactProfile: { id: 'p-1', primaryIdentifier: 'Ann <b>Lee</b>' } });
    await sender.contactSays(inboxId, 'Refund my order please <script>alert(1)</script>');
    await waitFor('the handover', () => inbox.calls(inboxId).some((c) => (c.body as { complete?: string }).complete === 'HANDOVER'));
    const row = await waitFor('the conversation handed over', async () => {
      const rows = await db.query<{ id: string }>(`SELECT id FROM conversations WHERE inbox_conversation_id = $1 AND state = 'handed_over'`, [inboxId]);
      return rows[0];
    });

    const browser = new Browser(bridge.url);
    await browser.login();
    const list = await browser.get('/console/conversations');
    expect(list.status).toBe(200);
    expect(list.text).toContain(`href="/console/conversations/${row.id}"`);
    expect(list.text).toContain('Ann &lt;b&gt;Lee&lt;/b&gt;');

    const page = await browser.get(`/console/conversations/${row.id}`);
    expect(page.status).toBe(200);
    // The contact's text, as text.
    expect(page.text).toContain('Refund my order please &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).not.toContain('<script>alert(1)');
    expect(page.text).not.toContain('<b>Lee</b>');
    // The agent's message, linked to its decision, with the reason.
    expect(page.text).toContain('A colleague will look at your refund.');
    const [, decisionId] = /data-testid="decision" data-decision-id="(\d+)"/.exec(page.text)!;
    expect(page.text).toContain(`href="#decision-${decisionId}" data-testid="message-decision-link"`);
    expect(byTestId(page.text, 'decision-reason')).toBe('refunds over 100 EUR need a person');
    // The note the human reads, as sent with the handover call.
    expect(page.text).toMatch(/data-testid="handover-note"[\s\S]*Refund of 250 EUR asked for order A-12345/);
    expect(page.text).toMatch(/data-testid="outbox-row" data-kind="handover"/);
    expect(count(page.text, /data-testid="message" data-direction="inbound"/)).toBe(1);
    expect(byTestId(page.text, 'conversation-state')).toBe('handed over');
    // The session ended: its outcome is on the page.
    expect(page.text).toMatch(/data-testid="session-outcome" data-outcome="handed_over"/);
  });

  it('answers 404 for an unknown or malformed conversation id', async () => {
    const browser = new Browser(bridge.url);
    await browser.login();
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', "1' OR '1'='1"]) {
      const res = await browser.get(`/console/conversations/${encodeURIComponent(id)}`);
      expect([id, res.status]).toEqual([id, 404]);
      expect(byTestId(res.text, 'error-title')).toBe('No such conversation');
    }
  });

  it('narrows the list with each filter, and explains a bad filter (400)', async () => {
    await db.query(`
      INSERT INTO conversations (agent_id, inbox_conversation_id, mode, state, state_reason, updated_at, contact_profile)
      VALUES ('acme', 'flt-active-1', 'inception', 'active', NULL, now(), '{"primaryIdentifier":"Zed Quist"}'),
             ('acme', 'flt-resolved-1', 'inception', 'resolved', 'the contact confirmed', now() - interval '3 days', NULL),
             ('helper', 'flt-delegated-1', 'delegation', 'active', NULL, now() - interval '10 days', NULL)`);
    await db.query(`
      INSERT INTO messages (conversation_id, session, direction, text)
      SELECT id, 1, 'inbound', 'my kayak paddle is broken' FROM conversations WHERE inbox_conversation_id = 'flt-resolved-1'`);
    const browser = new Browser(bridge.url);
    await browser.login();
    const ids = async (query: string) => {
      const res = await browser.get(`/console/conversations${query}`);
      expect([query, res.status]).toEqual([query, 200]);
      return [...res.text.matchAll(/data-testid="conversation-link">([^<]+)</g)].map((m) => m[1]).filter((id) => id.startsWith('flt-')).sort();
    };
    expect(await ids('')).toEqual(['flt-active-1', 'flt-delegated-1', 'flt-resolved-1']);
    expect(await ids('?agent=helper')).toEqual(['flt-delegated-1']);
    expect(await ids('?mode=inception&state=active')).toEqual(['flt-active-1']);
    expect(await ids('?state=resolved')).toEqual(['flt-resolved-1']);
    expect(await ids('?since=7d')).toEqual(['flt-active-1', 'flt-resolved-1']);
    expect(await ids('?since=24h')).toEqual(['flt-active-1']);
    expect(await ids('?q=KAYAK')).toEqual(['flt-resolved-1']);
    expect(await ids('?q=zed')).toEqual(['flt-active-1']);
    // LIKE's wildcards are text like any other.
    expect(await ids('?q=%25')).toEqual([]);
    expect(await ids('?agent=&state=&q=')).toEqual(['flt-active-1', 'flt-delegated-1', 'flt-resolved-1']);
    // The live refresh asks for the same rows.
    const rows = await browser.get('/console/conversations/rows?agent=helper');
    expect(rows.text.trimStart()).toMatch(/^<tbody id="conversation-rows"/);
    expect(rows.text).toContain('hx-get="/console/conversations/rows?agent=helper"');
    expect(count(rows.text, /data-testid="conversation-row"/)).toBe(1);

    // An active conversation's deadlines: the next one in the list, every armed one on its page.
    const [active] = await db.query<{ id: string }>(
      `UPDATE conversations SET va_deadline_at = now() + interval '10 minutes', nudge_at = now() + interval '2 minutes'
        WHERE inbox_conversation_id = 'flt-active-1' RETURNING id`,
    );
    const listed = await browser.get('/console/conversations?q=flt-active-1');
    expect(listed.text).toMatch(/<time datetime="[^"]+" data-relative>[^<]+<\/time>\s*<span class="sub">nudge the contact<\/span>/);
    const detail = await browser.get(`/console/conversations/${active.id}`);
    expect([...detail.text.matchAll(/data-testid="deadline" data-kind="([a-z_]+)"/g)].map((m) => m[1])).toEqual(['nudge', 'va_deadline']);

    for (const [query, reason] of [
      ['?state=bogus', 'state: must be one of active, handed_over, resolved, lost'],
      ['?since=yesterday', 'since: &quot;yesterday&quot; is neither a duration'],
      ['?page=0', 'page: must be at least 1'],
      ['?page=9999', 'page: must be at most 200'],
      ['?agent=ACME%3B', 'agent: must be an agent id'],
      ['?colour=red', 'unknown filter &quot;colour&quot;'],
      ['?state=active&state=lost', 'state: given more than once'],
    ]) {
      const res = await browser.get(`/console/conversations${query}`);
      expect([query, res.status]).toEqual([query, 400]);
      expect(res.text).toContain(reason);
    }
  });

  it('shows overview numbers that match the session outcomes in the database', async () => {
    await db.query(`
      INSERT INTO conversations (agent_id, inbox_conversation_id, mode, state, session)
      SELECT 'helper', 'ovw-' || n, 'delegation', 'resolved', 1 FROM generate_series(1, 6) AS n`);
    // Six sessions of helper in the last 24 hours, one 3 days ago, one 10 days ago.
    await db.query(`
      INSERT INTO session_outcomes (conversation_id, session, agent_id, mode, started_at, ended_at, outcome, resolution, reason, agent_turns,
                                    first_reply_ms, llm_calls, prompt_tokens, completion_tokens, cached_tokens, models)
      SELECT c.id, 1, 'helper', 'delegation', now() - v.ago - interval '5 minutes', now() - v.ago, v.outcome, v.resolution, v.reason, 2,
             v.first_reply, 2, 1000, 100, 200, '{"test-model": {"prompt": 1000, "completion": 100, "cached": 200}}'
        FROM (VALUES ('ovw-1', interval '1 hour', 'resolved', 'confirmed', NULL, 800),
                     ('ovw-2', interval '2 hours', 'resolved', 'assumed', NULL, 1200),
                     ('ovw-3', interval '3 hours', 'handed_over', NULL, 'customer_request', 900),
                     ('ovw-4', interval '4 hours', 'handed_over', NULL, 'va_deadline', NULL),
                     ('ovw-5', interval '3 days', 'handed_over', NULL, 'customer_request', 1000),
                     ('ovw-6', interval '10 days', 'lost', NULL, NULL, 700)) AS v(inbox, ago, outcome, resolution, reason, first_reply)
        JOIN conversations c ON c.inbox_conversation_id = v.inbox`);
    // ovw-1 came back to the agent (its session 2 is the current one, started after the first ended).
    await db.query(`UPDATE conversations SET session = 2, session_started_at = now() - interval '30 minutes', state = 'active' WHERE inbox_conversation_id = 'ovw-1'`);

    const browser = new Browser(bridge.url);
    await browser.login();
    for (const window of ['24h', '7d'] as const) {
      const res = await browser.get(`/console/overview?window=${window}&agent=helper`);
      expect(res.status).toBe(200);
      const since = window === '24h' ? `now() - interval '24 hours'` : `now() - interval '7 days'`;
      const { cells } = await expectedOverviewCells(db, window);
      const helperCells = Object.keys(cells).filter((k) => k.startsWith('overview-helper-'));
      expect(Object.fromEntries(helperCells.map((k) => [k, valueOf(res.text, k)]))).toEqual(Object.fromEntries(helperCells.map((k) => [k, cells[k]])));
      const shown = (metric: string) => valueOf(res.text, `overview-helper-${metric}`);
      const [expected] = await db.query<{ resolved: number; ended: number }>(
        `SELECT count(*) FILTER (WHERE outcome = 'resolved')::int AS resolved, count(*)::int AS ended FROM session_outcomes WHERE agent_id = 'helper' AND ended_at >= ${since}`,
      );
      expect(Number(shown('resolution-rate'))).toBeCloseTo(expected.resolved / expected.ended, 4);
      const reasons = await db.query<{ reason: string; n: number }>(
        `SELECT reason, count(*)::int AS n FROM session_outcomes WHERE agent_id = 'helper' AND outcome = 'handed_over' AND ended_at >= ${since} GROUP BY reason`,
      );
      const shownReasons = Object.fromEntries([...res.text.matchAll(/data-testid="overview-reason" data-reason="([^"]+)" data-count="(\d+)"/g)].map((m) => [m[1], Number(m[2])]));
      expect(shownReasons).toEqual(Object.fromEntries(reasons.map((r) => [r.reason, r.n])));
    }
    // The numbers above, as the rows say: 4 in the last 24 hours, 5 in 7 days (the 10-day-old one in neither).
    const day = await browser.get('/console/overview?window=24h&agent=helper');
    expect(valueOf(day.text, 'overview-helper-ended')).toBe('4');
    expect(valueOf(day.text, 'overview-helper-reopened')).toBe('1');
    // test-model has no price in the agents file: unpriced, not free.
    expect(day.text).toMatch(/data-testid="overview-helper-cost" data-value="">unpriced/);
    expect(day.text).toContain('<script type="application/json" id="chart-outcomes-data">');

    for (const query of ['?window=30d', '?agent=%3Cscript%3E', '?since=1h']) {
      expect([query, (await browser.get(`/console/overview${query}`)).status]).toEqual([query, 400]);
    }
  });

  it('lists eval reports, shows one with its raw HTML escaped, and refuses paths out of the results folder', async () => {
    const run = '2026-11-25T09-18-02-401Z-replay';
    mkdirSync(join(evalDir, run));
    writeFileSync(
      join(evalDir, run, 'report.md'),
      '# Replay of acme\n\nThe contact wrote <script>alert(1)</script> and <img src=x onerror=alert(2)>.\n\n[a link](javascript:alert(3)) [ok](https://example.com/x)\n',
    );
    writeFileSync(join(evalDir, run, 'report.json'), JSON.stringify({ info: { kind: 'replay', startedAt: '2026-11-25T09:18:02.401Z', agents: ['acme'], llm: 'scripted', scripted: true }, totals: { replayed: 7, actionChanged: 2 } }));
    writeFileSync(join(evalDir, run, 'results.jsonl'), '{"n":1}\n');
    const outside = mkdtempSync(join(tmpdir(), 'iva-outside-'));
    writeFileSync(join(outside, 'report.md'), 'SECRET OUTSIDE');
    symlinkSync(outside, join(evalDir, 'linked-out'));

    const browser = new Browser(bridge.url);
    await browser.login();
    const list = await browser.get('/console/evals');
    expect(list.status).toBe(200);
    expect(list.text).toContain(`data-testid="eval-run" data-run="${run}"`);
    expect(list.text).toContain('2 of 7 turns changed action');

    const page = await browser.get(`/console/evals/${run}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).not.toContain('<script>alert(1)');
    expect(page.text).not.toContain('<img src=x');
    expect(page.text).not.toContain('javascript:');
    expect(page.text).toContain('<a href="https://example.com/x">ok</a>');
    expect(page.text).toContain('<h2>Replay of acme</h2>');

    const json = await browser.get(`/console/evals/${run}/report.json`);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.headers.get('content-disposition')).toMatch(/^attachment/);
    expect((await browser.get(`/console/evals/${run}/results.jsonl`)).text).toBe('{"n":1}\n');

    for (const path of [
      `/console/evals/${encodeURIComponent('../../etc')}`,
      `/console/evals/..%2F..%2Fetc%2Fpasswd`,
      `/console/evals/${run}/${encodeURIComponent('../../package.json')}`,
      `/console/evals/${run}/package.json`,
      `/console/evals/linked-out`,
      `/console/evals/linked-out/report.md`,
    ]) {
      const res = await browser.get(path);
      expect([path, res.status]).toEqual([path, 400]);
      expect(res.text).not.toContain('SECRET OUTSIDE');
    }
    expect((await browser.get('/console/evals/2020-01-01T00-00-00-000Z')).status).toBe(404);
    rmSync(outside, { recursive: true, force: true });
  });

  it('shows the queues with bull-board, behind the same login', async () => {
    const browser = new Browser(bridge.url);
    await browser.login();
    const page = await browser.get('/console/queues/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<base href="/console/queues/"');
    const api = await browser.get('/console/queues/api/queues');
    expect(api.status).toBe(200);
    const body = JSON.parse(api.text) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['timers', 'turns']);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    // Read-only: bull-board's own write routes need the console's CSRF token, which its UI never sends.
    const res = await fetch(`${bridge.url}/console/queues/api/queues/turns/clean/failed`, { method: 'PUT', redirect: 'manual', headers: { cookie: browser.cookie! } });
    expect(res.status).toBe(403);
  });

  it(`limits failed logins: after ${LOGIN_ATTEMPTS} wrong passwords from one address, even the right one waits (429)`, async () => {
    // Its own bridge (its own Redis prefix): the limit must not lock the other tests out.
    const limited = await startBridge({ database: db, inbox, llm, env: { CONSOLE_PASSWORD: PASSWORD } });
    try {
      const browser = new Browser(limited.url);
      for (let i = 0; i < LOGIN_ATTEMPTS; i++) expect((await browser.login('wrong password number ' + i)).status).toBe(401);
      const blocked = await browser.login();
      expect(blocked.status).toBe(429);
      expect(byTestId(blocked.text, 'error-title')).toBe('Too many sign-in attempts');
      expect(blocked.text).toMatch(/Try again in \d+ minutes?/);
    } finally {
      await limited.close();
    }
  });
});
