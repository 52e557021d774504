// Chromium for the console's browser tests and its screenshots (docs/console.md): Debian's
// `chromium` binary driven by playwright-core. Playwright's own browser download cannot work on a
// closed network, so nothing here downloads a browser.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Without the background-networking switches Chromium keeps dialling Google's services, which a
// closed network refuses. `launch` adds --headless and gives each run a fresh --user-data-dir of its
// own (a temporary profile it deletes at close).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}. The console's browser tests drive Debian's chromium: ` +
        'install it with `apt-get install -y chromium` (.ci/run does), or point CHROMIUM_PATH at a Chromium binary.',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** A laptop-sized window; times shown in UTC so that screenshots do not depend on where they were taken. */
export const LAPTOP: BrowserContextOptions = { viewport: { width: 1280, height: 860 }, locale: 'en-GB', timezoneId: 'UTC', colorScheme: 'light' };
export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: 'en-GB',
  timezoneId: 'UTC',
  colorScheme: 'light',
};

/** Signs in through the login form and waits for the page it leads to. */
export async function signIn(page: Page, baseUrl: string, password: string, next = '/console/conversations'): Promise<void> {
  await page.goto(`${baseUrl}/console/login?next=${encodeURIComponent(next)}`);
  await page.getByTestId('login-password').fill(password);
  await Promise.all([page.waitForURL((url) => url.pathname !== '/console/login'), page.getByTestId('login-submit').click()]);
}

export const SCREENSHOTS = ['login', 'conversations', 'conversation', 'overview', 'queues', 'evals', 'conversations-phone'] as const;
export type ScreenshotName = (typeof SCREENSHOTS)[number];

export interface ScreenshotOptions {
  baseUrl: string;
  password: string;
  outDir: string;
  /** The conversation to show (our uuid); by default the most recent one handed over, else the most recent. */
  conversationId?: string;
  /** The overview's window. */
  window?: '24h' | '7d';
}

/**
 * Takes the docs' screenshots of a running console (docs/console.md, "Screenshots"): every page
 * with the data it has. Fails on an error page or an empty list rather than saving it.
 */
export async function takeConsoleScreenshots(browser: Browser, options: ScreenshotOptions): Promise<Record<ScreenshotName, string>> {
  const { baseUrl, password, outDir } = options;
  mkdirSync(outDir, { recursive: true });
  const files = Object.fromEntries(SCREENSHOTS.map((name) => [name, join(outDir, `${name}.png`)])) as Record<ScreenshotName, string>;

  const laptop = await browser.newContext(LAPTOP);
  try {
    const page = await laptop.newPage();
    await open(page, `${baseUrl}/console/login`);
    await page.screenshot({ path: files.login });

    await signIn(page, baseUrl, password);
    await open(page, `${baseUrl}/console/conversations`);
    await page.getByTestId('conversation-row').first().waitFor();
    await page.screenshot({ path: files.conversations, fullPage: true });

    const id = options.conversationId ?? (await pickConversation(page));
    await open(page, `${baseUrl}/console/conversations/${id}`);
    await page.getByTestId('transcript').first().waitFor();
    await page.screenshot({ path: files.conversation, fullPage: true });

    await open(page, `${baseUrl}/console/overview?window=${options.window ?? '7d'}`);
    // Chart.js draws on DOMContentLoaded (no animation): each canvas holds its chart once it has run.
    await page.waitForFunction(`[...document.querySelectorAll('canvas[data-chart]')].every((c) => window.Chart && window.Chart.getChart(c))`);
    await page.screenshot({ path: files.overview, fullPage: true });

    await open(page, `${baseUrl}/console/queues/`);
    // bull-board draws its page with its own script: wait for its card of each queue.
    await page.getByText(/^\d+ Jobs?$/).nth(1).waitFor();
    await page.screenshot({ path: files.queues });

    await open(page, `${baseUrl}/console/evals`);
    const run = page.getByTestId('eval-run-link').first();
    if (await run.count()) {
      await Promise.all([page.waitForURL(/\/console\/evals\/[^/]+$/), run.click()]);
      await page.getByTestId('eval-report').waitFor();
    }
    await page.screenshot({ path: files.evals });
  } finally {
    await laptop.close();
  }

  const phone = await browser.newContext(PHONE);
  try {
    const page = await phone.newPage();
    await signIn(page, baseUrl, password);
    await open(page, `${baseUrl}/console/conversations`);
    await page.getByTestId('conversation-row').first().waitFor();
    await page.screenshot({ path: files['conversations-phone'], fullPage: true });
  } finally {
    await phone.close();
  }
  return files;
}

async function open(page: Page, url: string): Promise<void> {
  const res = await page.goto(url);
  if (!res || res.status() !== 200) throw new Error(`${url} answered ${res?.status() ?? 'nothing'}, not a page to show`);
}

async function pickConversation(page: Page): Promise<string> {
  const handedOver = page.locator('[data-testid="conversation-row"][data-state="handed_over"]');
  const row = (await handedOver.count()) ? handedOver.first() : page.getByTestId('conversation-row').first();
  const id = await row.getAttribute('data-conversation-id');
  if (!id) throw new Error('the conversation list shows no conversation to open');
  return id;
}

export type { Browser, BrowserContext, Page };
