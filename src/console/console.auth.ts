import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import { RedisStore as SessionStore } from 'connect-redis';
import { rateLimit } from 'express-rate-limit';
import { RedisStore as LimitStore, type RedisReply } from 'rate-limit-redis';
import { csrfSync } from 'csrf-sync';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.schema.js';

declare module 'express-session' {
  interface SessionData {
    /** Set at login, in a regenerated session; the session is the operator's from then on. */
    operator?: boolean;
    loggedInAt?: number;
  }
}

export const COOKIE_NAME = 'iva_console';
export const COOKIE_PATH = '/console';
/** Failed logins per client address in LOGIN_WINDOW_MS, then 429 until the window ends. */
export const LOGIN_ATTEMPTS = 10;
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** A visitor who opened the login page and went away: their pre-login session is gone after this. */
const PRE_LOGIN_TTL_MS = 30 * 60_000;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function passwordMatches(given: unknown, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(sha256(given), sha256(expected));
}

/**
 * CONSOLE_SESSION_SECRET, else one derived from the password (HKDF-SHA256), so that a restart or
 * another replica keeps the same signing key, and changing the password logs everyone out.
 */
export function sessionSecret(env: Pick<Env, 'CONSOLE_PASSWORD' | 'CONSOLE_SESSION_SECRET'>): string {
  if (env.CONSOLE_SESSION_SECRET) return env.CONSOLE_SESSION_SECRET;
  const key = hkdfSync('sha256', env.CONSOLE_PASSWORD ?? '', 'inbox-va-bridge console', 'session cookie signing key', 32);
  return Buffer.from(key).toString('hex');
}

/**
 * Where to go after logging in: only a path of the console itself (`/console/...`), so that the
 * login page cannot be used to send someone elsewhere (`//evil.example`, `/\evil.example`).
 */
export function safeNext(next: unknown): string {
  const fallback = '/console/conversations';
  if (typeof next !== 'string' || next.length > 2000 || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) return fallback;
  let url: URL;
  try {
    url = new URL(next, 'http://console.invalid');
  } catch {
    return fallback;
  }
  if (url.origin !== 'http://console.invalid') return fallback;
  if (url.pathname !== '/console' && !url.pathname.startsWith('/console/')) return fallback;
  if (url.pathname === '/console/login' || url.pathname === '/console/logout') return fallback;
  return `${url.pathname}${url.search}`;
}

/** Resolves once the client is connected (immediately when it is). */
function whenReady(client: Redis): Promise<void> {
  return client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve()));
}

export interface ConsoleAuth {
  session: RequestHandler;
  loginLimiter: RequestHandler;
  csrf: ReturnType<typeof csrfSync>;
  requireLogin: RequestHandler;
  loginPageLimiter: RequestHandler;
}

/** Sign-in page views per address and LOGIN_WINDOW_MS: far more than people need, few enough to bound the sessions stored. */
const LOGIN_PAGE_VIEWS = 120;

export function consoleAuth(env: Env, redis: Redis, onLimited: (req: Request, res: Response, retryAfterMs: number) => void): ConsoleAuth {
  const sessionMiddleware = session({
    name: COOKIE_NAME,
    secret: sessionSecret(env),
    store: new SessionStore({ client: redis, prefix: `${env.REDIS_PREFIX}:console:session:`, ttl: Math.ceil(env.CONSOLE_SESSION_TTL / 1000) }),
    resave: false,
    saveUninitialized: false,
    // Trust X-Forwarded-Proto for the Secure check only when the operator says a TLS proxy is in front.
    proxy: env.CONSOLE_SECURE_COOKIE,
    cookie: { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: env.CONSOLE_SECURE_COOKIE, maxAge: env.CONSOLE_SESSION_TTL },
  });

  const loginLimiter = rateLimit({
    windowMs: LOGIN_WINDOW_MS,
    limit: LOGIN_ATTEMPTS,
    // Only failures count: operators behind one proxy share an address, and their good logins should not lock each other out.
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    // Redis down: refuse rather than let guesses through uncounted.
    passOnStoreError: false,
    // The key is the address Express sees (the proxy's, behind one: docs/console.md says so); the
    // library's check would log that as an error on every start behind a proxy.
    validate: { xForwardedForHeader: false },
    store: new LimitStore({
      prefix: `${env.REDIS_PREFIX}:console:login:`,
      // The scripts are loaded once, at start: wait for the connection rather than keep a failed load for ever.
      sendCommand: async (...args: string[]) => {
        if (args[0] === 'SCRIPT') await whenReady(redis);
        return (await redis.call(args[0], ...args.slice(1))) as RedisReply;
      },
    }),
    handler: (req, res, _next, options) => {
      const info = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit;
      onLimited(req, res, info?.resetTime ? info.resetTime.getTime() - Date.now() : options.windowMs);
    },
  });

  const csrf = csrfSync({
    getTokenFromRequest: (req) => {
      const body = req.body as Record<string, unknown> | undefined;
      const fromBody = body && typeof body._csrf === 'string' ? body._csrf : undefined;
      const header = req.headers['x-csrf-token'];
      return fromBody ?? (typeof header === 'string' ? header : undefined);
    },
  });

  // Sign-in page views per address (in memory: a bound on the sessions anyone can make us store, not a secret).
  const loginPageLimiter = rateLimit({
    windowMs: LOGIN_WINDOW_MS,
    limit: LOGIN_PAGE_VIEWS,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    validate: { xForwardedForHeader: false },
    handler: (req, res, _next, options) => onLimited(req, res, options.windowMs),
  });

  const requireLogin: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    const s = req.session;
    if (s?.operator && s.loggedInAt !== undefined && Date.now() - s.loggedInAt <= env.CONSOLE_SESSION_TTL) {
      next();
      return;
    }
    const login = `/console/login?next=${encodeURIComponent(safeNext(htmxPage(req) ?? req.originalUrl))}`;
    if (req.headers['hx-request']) {
      // htmx follows a redirect inside the XHR and would swap the login page into a table: send the page instead.
      res.status(401).setHeader('HX-Redirect', login).end();
      return;
    }
    res.redirect(302, login);
  };

  return { session: sessionMiddleware, loginLimiter, loginPageLimiter, csrf, requireLogin };
}

/** The page an htmx request came from (its fragment is no place to land after logging in). */
function htmxPage(req: Request): string | undefined {
  const current = req.headers['hx-current-url'];
  if (!req.headers['hx-request'] || typeof current !== 'string') return undefined;
  try {
    const url = new URL(current);
    return `${url.pathname}${url.search}`;
  } catch {
    return undefined;
  }
}

/** A session started by the login page expires soon unless it logs in. */
export function shortenPreLoginSession(req: Request): void {
  if (!req.session.operator) req.session.cookie.maxAge = PRE_LOGIN_TTL_MS;
}
