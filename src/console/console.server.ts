import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config.js';
import { safeError } from '../common/safe-error.js';
import { QUEUES } from '../scheduler/queues.js';
import { COOKIE_NAME, COOKIE_PATH, LOGIN_ATTEMPTS, LOGIN_WINDOW_MS, consoleAuth, passwordMatches, safeNext, shortenPreLoginSession } from './console.auth.js';
import { BadRunNameError, MAX_MARKDOWN_BYTES, listRuns, renderMarkdown, runDirectory, runFile, summarize } from './console.evals.js';
import {
  BadFilterError,
  ConversationIdSchema,
  ListFilterSchema,
  MODES,
  OverviewFilterSchema,
  SINCE_CHOICES,
  STATES,
  WINDOWS,
  filterQuery,
  parseQuery,
} from './console.filters.js';
import { conversationPage, overviewPage } from './console.pages.js';
import { ConsoleQueries, MAX_MESSAGES } from './console.queries.js';
import { ASSETS_DIR, DEADLINE_LABELS, createViews, format } from './console.views.js';

const require = createRequire(import.meta.url);

/** The files under /console/assets/: ours, and the two libraries, served from node_modules (never a CDN). */
const ASSETS: Record<string, string> = {
  'console.css': join(ASSETS_DIR, 'console.css'),
  'console.js': join(ASSETS_DIR, 'console.js'),
  'charts.js': join(ASSETS_DIR, 'charts.js'),
  'htmx.min.js': require.resolve('htmx.org/dist/htmx.min.js'),
  // chart.js exports no path to its UMD build: it sits beside the main entry.
  'chart.umd.min.js': join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'),
};

/**
 * Pages render no inline script or style, and load nothing from elsewhere: chart data travels in
 * `<script type="application/json">`, read by /console/assets/charts.js.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const securityHeaders: RequestHandler = (_req, res, next) => {
  res.removeHeader('X-Powered-By');
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  next();
};

const promised = (fn: (done: (err?: unknown) => void) => void) => new Promise<void>((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));

/**
 * The operator console (docs/console.md): an Express router that `createApp` mounts at /console
 * when CONSOLE_PASSWORD is set, on the web role. Server-rendered pages over read-only queries, a
 * session in Redis, CSRF on every form, a rate-limited login, bull-board for the queues.
 */
@Injectable()
export class ConsoleServer implements OnApplicationShutdown {
  private readonly logger = new Logger('Console');
  private readonly redis: Redis;
  private readonly views = createViews();
  private redisDown = false;

  constructor(
    private readonly config: AppConfig,
    private readonly queries: ConsoleQueries,
    @InjectQueue(QUEUES.turns) private readonly turns: Queue,
    @InjectQueue(QUEUES.timers) private readonly timers: Queue,
  ) {
    // Sessions and the login limiter: one connection, failing a request after one retry while Redis is away.
    this.redis = new Redis(config.env.REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: 5000, retryStrategy: (n) => Math.min(1000 * 2 ** Math.max(0, n - 1), 20_000) });
    this.redis.on('error', (err) => {
      if (!this.redisDown) this.logger.warn({ err: safeError(err), msg: 'console: Redis (sessions) unreachable' });
      this.redisDown = true;
    });
    this.redis.on('ready', () => (this.redisDown = false));
  }

  async onApplicationShutdown(): Promise<void> {
    // QUIT waits for an answer a Redis that is away would never give.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  router(): Router {
    const env = this.config.env;
    const password = env.CONSOLE_PASSWORD;
    if (!password) throw new Error('the console needs CONSOLE_PASSWORD');
    const auth = consoleAuth(env, this.redis, (req, res, retryAfterMs) => {
      const minutes = Math.max(1, Math.ceil(retryAfterMs / 60_000));
      this.logger.warn({ msg: 'console: login attempts limited' });
      this.error(req, res, 429, 'Too many sign-in attempts', `Too many wrong passwords from your address. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`);
    });
    const router = Router();
    // Express matches the mount path in any case; the session cookie's path does not. Only /console is the console.
    router.use((req, res, next) => (/^\/console(?:[/?]|$)/.test(req.originalUrl) ? next() : res.status(404).end()));
    router.use(securityHeaders);
    router.get('/assets/:name', (req, res, next) => {
      const path = Object.hasOwn(ASSETS, req.params.name) ? ASSETS[req.params.name] : undefined;
      if (!path) return next();
      res.setHeader('Cache-Control', 'public, max-age=3600');
      // The app may be installed under a folder whose name starts with a dot.
      res.sendFile(path, { dotfiles: 'allow' });
    });
    router.use(auth.session);
    router.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }));
    // Counted before the CSRF check: a guess without a token is still a guess.
    router.post('/login', auth.loginLimiter);
    router.use(auth.csrf.csrfSynchronisedProtection);

    // Each visit to the sign-in page stores a (short) session in Redis, which the queues share: bounded per address.
    router.get('/login', auth.loginPageLimiter);
    router.get('/login', (req, res) => {
      const next = safeNext(req.query.next);
      if (req.session.operator) return res.redirect(302, next);
      shortenPreLoginSession(req);
      this.render(req, res, 200, 'login', { title: 'Sign in', next, error: undefined, attempts: LOGIN_ATTEMPTS, windowMinutes: LOGIN_WINDOW_MS / 60_000 });
    });
    router.post('/login', async (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const next = safeNext(body.next);
      if (!passwordMatches(body.password, password)) {
        this.logger.warn({ msg: 'console: wrong password' });
        return this.render(req, res, 401, 'login', {
          title: 'Sign in',
          next,
          error: 'That password is not right.',
          attempts: LOGIN_ATTEMPTS,
          windowMinutes: LOGIN_WINDOW_MS / 60_000,
        });
      }
      // A new session id at login: one planted before it (session fixation) is worth nothing.
      await promised((done) => req.session.regenerate(done));
      req.session.operator = true;
      req.session.loggedInAt = Date.now();
      await promised((done) => req.session.save(done));
      this.logger.log({ msg: 'console: operator logged in' });
      res.redirect(303, next);
    });

    router.use(auth.requireLogin);
    router.post('/logout', async (req, res) => {
      await promised((done) => req.session.destroy(done));
      this.logger.log({ msg: 'console: operator logged out' });
      res.clearCookie(COOKIE_NAME, { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: env.CONSOLE_SECURE_COOKIE });
      res.redirect(303, '/console/login');
    });
    router.get('/', (_req, res) => res.redirect(302, '/console/conversations'));
    router.get('/conversations', (req, res) => this.conversations(req, res, false));
    router.get('/conversations/rows', (req, res) => this.conversations(req, res, true));
    router.get('/conversations/:id', (req, res) => this.conversation(req, res));
    router.get('/overview', (req, res) => this.overview(req, res));
    router.get('/evals', (req, res) => this.evals(req, res));
    router.get('/evals/:run', (req, res) => this.evalRun(req, res));
    router.get('/evals/:run/:file', (req, res) => this.evalFile(req, res));
    router.use('/queues', this.queuesBoard());

    router.use((req, res) => this.error(req, res, 404, 'Not found', 'There is no such page in the console.'));
    router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => this.failed(err, req, res));
    return router;
  }

  private async conversations(req: Request, res: Response, fragment: boolean): Promise<void> {
    const filter = parseQuery(ListFilterSchema, req.query as Record<string, unknown>);
    const page = await this.queries.conversations(filter);
    const data = {
      title: 'Conversations',
      nav: 'conversations',
      live: true,
      filter,
      page,
      filtered: Boolean(filter.agent || filter.mode || filter.state || filter.since || filter.q),
      query: filterQuery(filter),
      prevQuery: filterQuery(filter, { page: page.page > 2 ? page.page - 1 : undefined }),
      nextQuery: filterQuery(filter, { page: page.page + 1 }),
      agentChoices: this.agentChoices(filter.agent),
      modes: MODES,
      states: STATES,
      sinceChoices: [...SINCE_CHOICES.map((s) => ({ value: s, label: s })), ...(filter.since && !(SINCE_CHOICES as readonly string[]).includes(filter.since.text) ? [{ value: filter.since.text, label: filter.since.text }] : [])],
      deadlineLabels: DEADLINE_LABELS,
    };
    this.render(req, res, 200, fragment ? '_conversation-rows' : 'conversations', data);
  }

  private async conversation(req: Request, res: Response): Promise<void> {
    const id = ConversationIdSchema.safeParse(req.params.id);
    const record = id.success ? await this.queries.conversation(id.data) : undefined;
    if (!record) return this.error(req, res, 404, 'No such conversation', 'The console has no conversation with this id.');
    const agent = this.config.agent(record.conversation.agentId);
    this.render(req, res, 200, 'conversation', {
      title: `Conversation ${record.conversation.inboxConversationId}`,
      nav: 'conversations',
      agentName: agent?.name,
      maxMessages: MAX_MESSAGES,
      ...conversationPage(record),
    });
  }

  private async overview(req: Request, res: Response): Promise<void> {
    const filter = parseQuery(OverviewFilterSchema, req.query as Record<string, unknown>);
    const data = await this.queries.overview(WINDOWS[filter.window], filter.agent);
    const configured = filter.agent ? [filter.agent] : this.config.agents.map((a) => a.id);
    this.render(req, res, 200, 'overview', {
      title: 'Overview',
      nav: 'overview',
      chartScripts: true,
      filter,
      windows: [
        { value: '24h', label: 'Last 24 hours' },
        { value: '7d', label: 'Last 7 days' },
      ],
      windowLabel: filter.window === '24h' ? 'last 24 hours' : 'last 7 days',
      agentChoices: this.agentChoices(filter.agent),
      ...overviewPage(data, configured, this.config.pricing),
    });
  }

  private evals(req: Request, res: Response): void {
    const dir = this.config.env.EVAL_RESULTS_DIR;
    this.render(req, res, 200, 'evals', { title: 'Evals', nav: 'evals', dir, ...listRuns(dir) });
  }

  private evalRun(req: Request, res: Response): void {
    const root = this.config.env.EVAL_RESULTS_DIR;
    const name = String(req.params.run);
    const dir = runDirectory(root, name);
    const run = dir ? summarize(root, name) : undefined;
    if (!run) return this.error(req, res, 404, 'No such report', `There is no report called "${name}" in ${root}.`, { back: '/console/evals', backLabel: 'Back to the evals' });
    let html;
    let why = 'This run has no report.md: download its report.json instead.';
    const md = runFile(root, name, 'report.md');
    if (md) {
      if (statSync(md).size <= MAX_MARKDOWN_BYTES) html = renderMarkdown(readFileSync(md, 'utf8'));
      else why = 'report.md is too large to show here: download it.';
    }
    this.render(req, res, 200, 'eval-run', { title: `Report ${name}`, nav: 'evals', run, html, why });
  }

  private evalFile(req: Request, res: Response): void {
    const root = this.config.env.EVAL_RESULTS_DIR;
    const name = String(req.params.run);
    const file = String(req.params.file);
    const path = runFile(root, name, file);
    if (!path) return this.error(req, res, 404, 'No such file', `There is no ${file} in the report "${name}".`, { back: '/console/evals', backLabel: 'Back to the evals' });
    const type = file.endsWith('.md') ? 'text/markdown; charset=utf-8' : file.endsWith('.jsonl') ? 'application/x-ndjson; charset=utf-8' : 'application/json; charset=utf-8';
    res.setHeader('Content-Type', type);
    res.attachment(`${name}-${file}`);
    res.sendFile(path, { headers: { 'Content-Type': type }, dotfiles: 'allow' });
  }

  /** bull-board, read-only: the console never retries, removes or promotes a job. */
  private queuesBoard(): RequestHandler {
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath('/console/queues');
    createBullBoard({
      queues: [this.turns, this.timers].map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
      serverAdapter,
      options: {
        uiBasePath: dirname(require.resolve('@bull-board/ui/package.json')),
        uiConfig: { boardTitle: 'inbox-va-bridge queues', hideDocsLink: true, miscLinks: [{ text: 'Back to the console', url: '/console/conversations' }] },
      },
    });
    return serverAdapter.getRouter() as RequestHandler;
  }

  private agentChoices(selected?: string): Array<{ id: string; label: string }> {
    const choices = this.config.agents.map((a) => ({ id: a.id, label: `${a.id} (${a.name})` }));
    if (selected && !choices.some((c) => c.id === selected)) choices.push({ id: selected, label: selected });
    return choices;
  }

  private render(req: Request, res: Response, status: number, template: string, data: Record<string, unknown>): void {
    const operator = Boolean(req.session?.operator);
    // A token for the forms of the page (logout everywhere, the login form); only an operator's or a
    // login page's session gets one, so that a stranger's 404 creates no session.
    const csrfToken = (operator || template === 'login') && req.csrfToken ? req.csrfToken() : undefined;
    const html = this.views.render(template, { f: format, operator, csrfToken, ...data });
    res.status(status).type('html').send(html);
  }

  private error(req: Request, res: Response, status: number, heading: string, message: string, extra: Record<string, unknown> = {}): void {
    this.render(req, res, status, 'error', { title: heading, heading, message, ...extra });
  }

  private failed(err: unknown, req: Request, res: Response): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err instanceof BadFilterError) return this.error(req, res, 400, 'These filters do not work', 'Change them and try again:', { problems: err.problems });
    if (err instanceof BadRunNameError) return this.error(req, res, 400, 'Not a report', err.message, { back: '/console/evals', backLabel: 'Back to the evals' });
    const e = err as { code?: string; status?: number; statusCode?: number; expose?: boolean; type?: string };
    if (e.code === 'EBADCSRFTOKEN') {
      return this.error(req, res, 403, 'This form has expired', 'The form was sent without its security token, or with an old one. Go back, reload the page and try again.', {
        back: req.session?.operator ? '/console/conversations' : '/console/login',
        backLabel: req.session?.operator ? 'Back to the conversations' : 'Back to sign-in',
      });
    }
    const status = e.status ?? e.statusCode;
    if (status && status >= 400 && status < 500 && e.expose) return this.error(req, res, status, 'Request refused', 'The console could not read this request.');
    const correlationId = randomUUID();
    this.logger.error({ correlationId, err: safeError(err), msg: 'console: request failed' });
    const unavailable = this.redisDown || /ECONNREFUSED|Connection is closed|max retries|timed out|timeout/i.test(String((err as Error)?.message ?? ''));
    this.error(
      req,
      res,
      unavailable ? 503 : 500,
      unavailable ? 'The console is unavailable' : 'Something went wrong',
      unavailable ? 'The console cannot reach its database or Redis right now. Try again in a minute.' : 'The console could not show this page.',
      { correlationId },
    );
  }
}
