import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContextOptions } from 'playwright-core';
import { LAPTOP, PHONE, SCREENSHOTS, launchChromium, signIn, takeConsoleScreenshots, type Browser, type BrowserContext, type Page } from '../scripts/console-browser.js';
import { COOKIE_NAME } from '../src/console/console.auth.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';
import { expectedOverviewCells } from './support/overview.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

// The console in a real browser: Debian's Chromium driven by playwright-core (scripts/console-browser.ts),
// over the real bridge on real PostgreSQL and Redis. The HTTP rules (CSRF, headers, rate limit) are
// tested without a browser in console.e2e-spec.ts; this file checks what only a browser shows.

const PASSWORD = 'correct horse battery staple';
const REASON = 'refunds over 100 EUR need a person';
const NOTE = 'Refund of 250 EUR asked for order A-12345';
const REPLY = 'A colleague will look at your refund.';
const HOSTILE = `Refund my order please <script>alert('script')</script><img src=x onerror="alert('img')">`;
const CONTACT = 'Ann <b>Lee</b>';

/** What an element of the page is, as far as these tests look at it (the project compiles without the DOM types). */
interface El {
  getAttribute(name: string): string | null;
  textContent: string | null;
}

interface Tab {
  context: BrowserContext;
  page: Page;
  /** Every alert/confirm/prompt any page of the context opened (dismissed at once). */
  dialogs: string[];
  /** Errors printed to the console and uncaught exceptions: a script the CSP blocked shows up here. */
  errors: string[];
}

describe('operator console in Chromium', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let browser: Browser;
  let db: TestDatabase;
  let bridge: TestBridge;
  let evalDir: string;
  let conversationId: string;
  const inboxId = `browser-${Date.now()}`;
  const opened: BrowserContext[] = [];

  async function tab(options: BrowserContextOptions = LAPTOP): Promise<Tab> {
    const context = await browser.newContext(options);
    opened.push(context);
    context.setDefaultTimeout(30_000);
    const dialogs: string[] = [];
    const errors: string[] = [];
    context.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    context.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    context.on('weberror', (error) => errors.push(error.error().message));
    return { context, page: await context.newPage(), dialogs, errors };
  }

  const url = (path: string) => `${bridge.url}${path}`;
  const pathOf = (page: Page) => new URL(page.url()).pathname;
  const rowIds = (page: Page) =>
    page.getByTestId('conversation-row').evaluateAll((rows: El[]) => rows.map((r) => r.getAttribute('data-conversation-id')!).sort());
  const sortedIds = (rows: Array<{ id: string }>) => rows.map((r) => r.id).sort();

  beforeAll(async () => {
    // First: without Chromium nothing below can run, and the error says how to install it.
    browser = await launchChromium();
    await Promise.all([inbox.start(), llm.start()]);
    db = await createTestDatabase();
    evalDir = mkdtempSync(join(tmpdir(), 'iva-console-browser-evals-'));
    const run = join(evalDir, '2026-11-25T09-18-02-401Z-replay');
    mkdirSync(run);
    writeFileSync(join(run, 'report.md'), '# Replay of acme\n\n| | |\n|---|---|\n| turns found | 7 |\n| action changed | 2 |\n');
    writeFileSync(join(run, 'report.json'), JSON.stringify({ info: { kind: 'replay', startedAt: '2026-11-25T09:18:02.401Z', agents: ['acme'], llm: 'scripted', scripted: true }, totals: { replayed: 7, actionChanged: 2 } }));
    writeFileSync(join(run, 'results.jsonl'), '{"n":1}\n');
    bridge = await startBridge({ database: db, inbox, llm, env: { CONSOLE_PASSWORD: PASSWORD, EVAL_RESULTS_DIR: evalDir } });

    // A conversation through the real webhook path: the contact writes, the LLM hands over with a reason and a note.
    llm.script({ decision: { action: 'handover', message: REPLY, reason: REASON, handoverNote: NOTE, confidence: 0.9 } });
    const sender = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    await sender.startConversation(inboxId, { contactProfile: { id: 'p-1', primaryIdentifier: CONTACT } });
    await sender.contactSays(inboxId, HOSTILE);
    conversationId = (
      await waitFor('the conversation handed over', async () => {
        const rows = await db.query<{ id: string }>(
          `SELECT c.id FROM conversations c WHERE c.inbox_conversation_id = $1 AND c.state = 'handed_over'
              AND EXISTS (SELECT 1 FROM session_outcomes o WHERE o.conversation_id = c.id)`,
          [inboxId],
        );
        return rows[0];
      }, 30_000)
    ).id;
  }, 120_000);

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await bridge?.close();
    await db?.drop();
    await Promise.all([inbox.stop(), llm.stop()]);
    if (evalDir) rmSync(evalDir, { recursive: true, force: true });
  });

  it('refuses a wrong password with a message, then lets the right one in where the visitor was going', async () => {
    const { context, page, errors } = await tab();
    await page.goto(url('/console/overview?window=7d'));
    expect(pathOf(page)).toBe('/console/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/console/overview?window=7d');

    await page.getByTestId('login-password').fill('not the password at all');
    await page.getByTestId('login-submit').click();
    await expect(page.getByTestId('login-error').textContent()).resolves.toBe('That password is not right.');
    expect(pathOf(page)).toBe('/console/login');
    expect(await page.getByTestId('logout').count()).toBe(0);
    expect(await page.getByTestId('login-password').getAttribute('aria-invalid')).toBe('true');
    // The browser's cookie opens nothing.
    const refused = await context.request.get(url('/console/conversations'), { maxRedirects: 0 });
    expect(refused.status()).toBe(302);

    await page.getByTestId('login-password').fill(PASSWORD);
    await Promise.all([page.waitForURL((u) => u.pathname === '/console/overview'), page.getByTestId('login-submit').click()]);
    expect(new URL(page.url()).search).toBe('?window=7d');
    await page.getByTestId('logout').waitFor();
    const cookie = (await context.cookies()).find((c) => c.name === COOKIE_NAME);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    // HttpOnly: no script of the page can read it.
    expect(await page.evaluate('document.cookie')).not.toContain(COOKIE_NAME);

    // And logging out from the page ends it.
    await Promise.all([page.waitForURL((u) => u.pathname === '/console/login'), page.getByTestId('logout').click()]);
    expect((await context.request.get(url('/console/conversations'), { maxRedirects: 0 })).status()).toBe(302);
    // The refused sign-in answers 401, which Chromium reports; nothing else went wrong.
    expect(errors).toEqual(['Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
  });

  it('opens a conversation made through the real webhook path: its transcript, decision reason and handover note', async () => {
    const { page, errors } = await tab();
    await signIn(page, bridge.url, PASSWORD);
    const row = page.locator(`[data-testid="conversation-row"][data-conversation-id="${conversationId}"]`);
    await expect(row.getByTestId('conversation-state').textContent()).resolves.toBe('handed over');
    await Promise.all([page.waitForURL((u) => u.pathname === `/console/conversations/${conversationId}`), row.getByTestId('conversation-link').click()]);

    await expect(page.getByTestId('conversation-inbox-id').textContent()).resolves.toBe(inboxId);
    const messages = page.getByTestId('message');
    expect(await messages.evaluateAll((els: El[]) => els.map((m) => m.getAttribute('data-direction')))).toEqual(['inbound', 'outbound']);
    await expect(messages.nth(0).getByTestId('message-text').textContent()).resolves.toBe(HOSTILE);
    await expect(messages.nth(1).getByTestId('message-text').textContent()).resolves.toBe(REPLY);

    // The agent's message leads to its decision, which says why.
    const [decision] = await db.query<{ id: string; handover_reason: string | null }>(
      `SELECT id::text, handover_reason FROM decisions WHERE conversation_id = $1 AND action = 'handover'`,
      [conversationId],
    );
    await messages.nth(1).getByTestId('message-decision-link').click();
    await page.waitForURL((u) => u.hash === `#decision-${decision.id}`);
    expect(await page.evaluate(`document.querySelector(':target') && document.querySelector(':target').id`)).toBe(`decision-${decision.id}`);
    const shown = page.locator(`[data-testid="decision"][data-decision-id="${decision.id}"]`);
    await expect(shown.getByTestId('decision-reason').textContent()).resolves.toBe(REASON);
    await expect(shown.getByTestId('decision-handover-note').textContent()).resolves.toBe(NOTE);
    if (decision.handover_reason) {
      await expect(shown.getByTestId('decision-handover-reason').textContent()).resolves.toBe(decision.handover_reason.replace(/_/g, ' '));
    }

    // The note as the human reads it, sent with the handover call.
    await expect(page.getByTestId('handover-note').first().textContent()).resolves.toContain(NOTE);
    expect(await page.locator('[data-testid="outbox-row"][data-kind="handover"]').count()).toBe(1);
    expect(await page.locator('[data-testid="session-outcome"][data-outcome="handed_over"]').count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it(`shows a contact's <script> and <img onerror> as text, and no dialog opens`, async () => {
    const { page, dialogs, errors } = await tab();
    await signIn(page, bridge.url, PASSWORD);
    await page.goto(url(`/console/conversations/${conversationId}`), { waitUntil: 'load' });
    await expect(page.getByTestId('message-text').first().textContent()).resolves.toBe(HOSTILE);
    await expect(page.getByTestId('conversation-facts').textContent()).resolves.toContain(CONTACT);
    // Nothing the contact wrote became an element: no image to fail, no script to run.
    expect(await page.locator('main img, main b, main script:not([type="application/json"])').count()).toBe(0);

    // The list shows the contact's name as text too, and a search for markup is reflected as text.
    await page.goto(url(`/console/conversations?q=${encodeURIComponent("<script>alert('q')</script>")}`), { waitUntil: 'load' });
    await expect(page.getByTestId('filter-q').inputValue()).resolves.toBe("<script>alert('q')</script>");
    await page.goto(url(`/console/conversations?q=${encodeURIComponent(inboxId)}`), { waitUntil: 'load' });
    await expect(page.getByTestId('conversation-row').locator('.sub').first().textContent()).resolves.toBe(CONTACT);
    expect(await page.locator('main img, main b').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('narrows the list with the filters, keeping them in the form and the address', async () => {
    await db.query(`
      INSERT INTO conversations (agent_id, inbox_conversation_id, mode, state, state_reason, updated_at, contact_profile)
      VALUES ('acme', 'flt-active-1', 'inception', 'active', NULL, now(), '{"primaryIdentifier":"Zed Quist"}'),
             ('acme', 'flt-resolved-1', 'inception', 'resolved', 'the contact confirmed', now() - interval '3 days', NULL),
             ('acme', 'flt-resolved-2', 'inception', 'resolved', 'the contact confirmed', now() - interval '2 days', NULL),
             ('helper', 'flt-delegated-1', 'delegation', 'active', NULL, now() - interval '10 days', NULL)`);
    await db.query(`
      INSERT INTO messages (conversation_id, session, direction, text)
      SELECT id, 1, 'inbound', 'my kayak paddle is broken' FROM conversations WHERE inbox_conversation_id = 'flt-resolved-1'`);
    const { page, errors } = await tab();
    await signIn(page, bridge.url, PASSWORD);
    expect(await rowIds(page)).toEqual(sortedIds(await db.query<{ id: string }>(`SELECT id FROM conversations`)));

    await page.getByTestId('filter-state').selectOption('resolved');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('state') === 'resolved'), page.getByTestId('filter-submit').click()]);
    const resolved = sortedIds(await db.query<{ id: string }>(`SELECT id FROM conversations WHERE state = 'resolved'`));
    expect(resolved).toHaveLength(2);
    expect(await rowIds(page)).toEqual(resolved);
    expect(await page.getByTestId('filter-state').inputValue()).toBe('resolved');

    await page.getByTestId('filter-q').fill('KAYAK');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === 'KAYAK'), page.getByTestId('filter-q').press('Enter')]);
    expect(await page.getByTestId('conversation-link').allTextContents()).toEqual(['flt-resolved-1']);
    expect(await page.getByTestId('filter-state').inputValue()).toBe('resolved');

    await page.getByTestId('filter-state').selectOption('active');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('state') === 'active'), page.getByTestId('filter-submit').click()]);
    await expect(page.getByTestId('conversation-empty').textContent()).resolves.toMatch(/No conversation matches these filters/);

    await page.getByTestId('filter-q').fill('');
    await page.getByTestId('filter-agent').selectOption('helper');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('agent') === 'helper'), page.getByTestId('filter-submit').click()]);
    expect(await page.getByTestId('conversation-link').allTextContents()).toEqual(['flt-delegated-1']);

    await Promise.all([page.waitForURL((u) => u.search === ''), page.getByRole('link', { name: 'Clear filters' }).click()]);
    expect((await rowIds(page)).length).toBe((await db.query(`SELECT id FROM conversations`)).length);
    expect(errors).toEqual([]);
  });

  it('refreshes the list by itself when a conversation arrives, without reloading the page', async () => {
    const { page, errors } = await tab();
    await signIn(page, bridge.url, PASSWORD);
    await page.evaluate('window.__sameDocument = true');
    await db.query(`
      WITH c AS (INSERT INTO conversations (agent_id, inbox_conversation_id, mode, state) VALUES ('acme', 'live-arrival-1', 'inception', 'active') RETURNING id)
      INSERT INTO messages (conversation_id, session, direction, text) SELECT id, 1, 'inbound', 'hello?' FROM c`);
    // htmx asks every 5 seconds; give it several chances.
    await page.getByRole('link', { name: 'live-arrival-1' }).waitFor({ timeout: 45_000 });
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    // The new rows' times are shown in the viewer's zone as well.
    const time = page.getByRole('row', { name: /live-arrival-1/ }).locator('time').first();
    await waitFor('the new row localized', async () => (await time.getAttribute('data-utc')) !== null, 15_000);
    expect(errors).toEqual([]);
  });

  it('shows overview numbers equal to what the database holds, and draws its charts', async () => {
    await db.query(`
      INSERT INTO conversations (agent_id, inbox_conversation_id, mode, state, session)
      SELECT 'helper', 'ovw-' || n, 'delegation', 'resolved', 1 FROM generate_series(1, 4) AS n`);
    await db.query(`
      INSERT INTO session_outcomes (conversation_id, session, agent_id, mode, started_at, ended_at, outcome, resolution, reason, agent_turns,
                                    first_reply_ms, llm_calls, prompt_tokens, completion_tokens, cached_tokens, models)
      SELECT c.id, 1, 'helper', 'delegation', now() - v.ago - interval '5 minutes', now() - v.ago, v.outcome, v.resolution, v.reason, 2,
             900, 2, 1000, 100, 200, '{"test-model": {"prompt": 1000, "completion": 100, "cached": 200}}'
        FROM (VALUES ('ovw-1', interval '1 hour', 'resolved', 'confirmed', NULL),
                     ('ovw-2', interval '2 hours', 'resolved', 'assumed', NULL),
                     ('ovw-3', interval '3 hours', 'handed_over', NULL, 'va_deadline'),
                     ('ovw-4', interval '3 days', 'handed_over', NULL, 'customer_request')) AS v(inbox, ago, outcome, resolution, reason)
        JOIN conversations c ON c.inbox_conversation_id = v.inbox`);
    const { page, errors } = await tab();
    await signIn(page, bridge.url, PASSWORD);

    for (const window of ['24h', '7d'] as const) {
      await page.getByTestId('nav-overview').click();
      await page.getByTestId('overview-window').selectOption(window);
      await Promise.all([page.waitForURL((u) => u.searchParams.get('window') === window), page.getByRole('button', { name: 'Show' }).click()]);
      const { agents, cells: expected } = await expectedOverviewCells(db, window);
      expect(agents).toContain('acme');
      expect(agents).toContain('helper');
      const cells = Object.fromEntries(
        await page
          .locator('[data-testid="overview-agents"] td[data-value]')
          .evaluateAll((els: El[]) => els.map((e) => [e.getAttribute('data-testid')!, e.getAttribute('data-value')!])),
      );
      expect(await page.locator('th[data-testid^="overview-agent-"]').allTextContents()).toEqual(agents);
      expect(Object.fromEntries(Object.keys(expected).map((k) => [k, cells[k]]))).toEqual(expected);

      const reasons = await db.query<{ reason: string; n: number }>(
        `SELECT reason, count(*)::int AS n FROM session_outcomes WHERE outcome = 'handed_over' AND ended_at >= now() - interval '${window === '24h' ? '24 hours' : '7 days'}' GROUP BY reason`,
      );
      const shownReasons = await page.getByTestId('overview-reason').evaluateAll((els: El[]) => els.map((e) => [e.getAttribute('data-reason'), Number(e.getAttribute('data-count'))]));
      expect(Object.fromEntries(shownReasons)).toEqual(Object.fromEntries(reasons.map((r) => [r.reason ?? '(none recorded)', r.n])));

      // Chart.js ran under the page's CSP and drew each chart from the page's JSON.
      expect(await page.locator('#chart-outcomes').count()).toBe(1);
      await page.waitForFunction(`[...document.querySelectorAll('canvas[data-chart]')].every((c) => window.Chart && window.Chart.getChart(c))`);
    }
    expect(errors).toEqual([]);
  });

  it('can be used with the keyboard: Tab reaches the skip link and the navigation, Enter follows them', async () => {
    const { page, errors } = await tab();
    await signIn(page, bridge.url, PASSWORD);
    const focused = () =>
      page.evaluate(`(() => { const e = document.activeElement; return { text: e && e.textContent.trim(), testId: e && e.getAttribute('data-testid'), id: e && e.id }; })()`) as Promise<{
        text: string;
        testId: string | null;
        id: string;
      }>;

    await page.keyboard.press('Tab');
    expect((await focused()).text).toBe('Skip to content');
    // Hidden until focused, then on the screen.
    const box = await page.getByRole('link', { name: 'Skip to content' }).boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.hash === '#main');
    expect((await focused()).id).toBe('main');

    await page.goto(url('/console/conversations'));
    const seen: Array<string | null> = [];
    for (let i = 0; i < 10 && !seen.includes('nav-overview'); i++) {
      await page.keyboard.press('Tab');
      seen.push((await focused()).testId);
    }
    expect(seen).toContain('nav-conversations');
    expect(seen.at(-1)).toBe('nav-overview');
    await Promise.all([page.waitForURL((u) => u.pathname === '/console/overview'), page.keyboard.press('Enter')]);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview');
    expect(await page.getByTestId('nav-overview').getAttribute('aria-current')).toBe('page');
    expect(errors).toEqual([]);
  });

  it('reads without JavaScript: signing in, the list and a conversation, times in UTC', async () => {
    const { page } = await tab({ ...LAPTOP, javaScriptEnabled: false });
    await signIn(page, bridge.url, PASSWORD);
    const row = page.locator(`[data-testid="conversation-row"][data-conversation-id="${conversationId}"]`);
    await expect(row.locator('time').first().textContent()).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await Promise.all([page.waitForURL((u) => u.pathname.endsWith(conversationId)), row.getByTestId('conversation-link').click()]);
    await expect(page.getByTestId('message-text').first().textContent()).resolves.toBe(HOSTILE);
    await expect(page.getByTestId('decision-reason').first().textContent()).resolves.toBe(REASON);
    await expect(page.getByTestId('handover-note').first().textContent()).resolves.toContain(NOTE);
    // The webhook events fold away in a <details>, which opens without a script.
    await page.getByText(/events? received for this conversation/).click();
    expect(await page.getByTestId('webhook-events').isVisible()).toBe(true);
  });

  it(`shows times in the viewer's time zone when JavaScript is on`, async () => {
    const { page, errors } = await tab({ ...LAPTOP, timezoneId: 'Asia/Tokyo', locale: 'en-US' });
    await signIn(page, bridge.url, PASSWORD);
    const [{ at }] = await db.query<{ at: Date }>(`SELECT created_at AS at FROM conversations WHERE id = $1`, [conversationId]);
    await page.goto(url(`/console/conversations/${conversationId}`));
    const time = page.getByTestId('conversation-facts').locator(`time[datetime="${at.toISOString()}"]`).first();
    await waitFor('the time localized', async () => (await time.getAttribute('data-utc')) !== null, 15_000);
    // Formatted by the browser's own Intl, so that the expectation does not depend on Node's ICU.
    const inZone = (zone: string) =>
      page.evaluate(`new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'medium', timeZone: '${zone}' }).format(new Date('${at.toISOString()}'))`);
    const [tokyo, utc] = await Promise.all([inZone('Asia/Tokyo'), inZone('UTC')]);
    expect(tokyo).not.toBe(utc);
    await expect(time.textContent()).resolves.toBe(tokyo);
    await expect(time.getAttribute('title')).resolves.toMatch(/ UTC$/);
    expect(errors).toEqual([]);
  });

  it('fits a phone: no page scrolls sideways, wide tables scroll inside their own region', async () => {
    const { page, errors } = await tab(PHONE);
    await signIn(page, bridge.url, PASSWORD);
    for (const path of ['/console/conversations', `/console/conversations/${conversationId}`, '/console/overview', '/console/evals']) {
      await page.goto(url(path), { waitUntil: 'load' });
      const [scrollWidth, innerWidth] = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as [number, number];
      expect([path, scrollWidth]).toEqual([path, innerWidth]);
    }
    expect(errors).toEqual([]);
  });

  it('takes the screenshots the docs use, of pages with real content', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'iva-console-screenshots-'));
    try {
      const files = await takeConsoleScreenshots(browser, { baseUrl: bridge.url, password: PASSWORD, outDir, conversationId });
      expect(Object.keys(files).sort()).toEqual([...SCREENSHOTS].sort());
      for (const [name, file] of Object.entries(files)) {
        const png = readFileSync(file);
        expect([name, png.subarray(1, 4).toString('latin1')]).toEqual([name, 'PNG']);
        const width = png.readUInt32BE(16);
        const height = png.readUInt32BE(20);
        expect([name, width]).toEqual([name, name === 'conversations-phone' ? 390 * 2 : 1280]);
        expect(height).toBeGreaterThan(400);
        // A blank page compresses to almost nothing.
        expect(png.length).toBeGreaterThan(15_000);
      }
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});
