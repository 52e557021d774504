// What the command-line tools (chat, eval, replay) share: which agents file, secrets they do not
// need, and an LLM (the scripted stand-in or the configured endpoint).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
export { shownPath } from '../src/common/paths.js';
import { readAgentsFile, parseAgentsFile, type AgentsFile } from '../src/config/agents.loader.js';
import { redactUrl } from '../src/common/redact-url.js';
import { ConfigError } from '../src/config/config.error.js';
import { DEFAULT_DATABASE_URL, EnvSchema, type Env } from '../src/config/env.schema.js';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { runMigrationsLocked } from '../src/database/migrate.js';
import { DataSource } from 'typeorm';
import { OpenAiLlmClient } from '../src/llm/openai-llm.client.js';
import type { LlmClient } from '../src/llm/llm.client.js';
import { FakeLlm } from '../test/fakes/fake-llm.js';
import { scriptedAnswer } from './scripted-llm.js';

/** A count option (`--repeat 3`): digits only, from 1 to max; else the message that says so. */
export function wholeNumberOption(text: string, name: string, max: number): number | string {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  return n >= 1 && n <= max ? n : `--${name} must be a whole number from 1 to ${max}, not "${text}"`;
}

/** `--database`, else DATABASE_URL (an empty one is not set), else the service's default. */
export function toolDatabaseUrl(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit || env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

/**
 * PostgreSQL for a tool, migrated under the service's own lock; an Error that says where and why
 * otherwise (with the command that creates the database, when it is missing).
 */
export async function openToolDatabase(url: string, poolSize: number): Promise<DataSource> {
  const dataSource = new DataSource(dataSourceOptions(url, poolSize));
  try {
    await dataSource.initialize();
    await runMigrationsLocked(dataSource);
    return dataSource;
  } catch (err) {
    await dataSource.destroy().catch(() => undefined);
    const why = (err as Error).message;
    throw new Error(`cannot reach the database at ${redactUrl(url)}: ${why}${/does not exist/.test(why) ? ' (create it: createdb -h 127.0.0.1 -U postgres inbox_va_bridge)' : ''}`);
  }
}

/** `--agents-file`, else AGENTS_FILE, else agents.yaml when there is one, else the example. */
export function agentsFilePath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(explicit ?? env.AGENTS_FILE ?? (existsSync('agents.yaml') ? 'agents.yaml' : 'agents.example.yaml'));
}

/** These tools never receive a webhook: a missing secret gets a placeholder rather than an error. */
export const placeholderSecrets = (env: NodeJS.ProcessEnv = process.env) => new Proxy(env, { get: (e, key: string) => e[key] ?? '00' });

export function readAgentsForTools(path: string): AgentsFile {
  return readAgentsFile(path, placeholderSecrets());
}

export function parseAgentsForTools(source: string, name: string): AgentsFile {
  return parseAgentsFile(source, placeholderSecrets(), name);
}

/** The only variables the tools read: a wrong PORT must not stop an eval. */
const ToolEnvSchema = EnvSchema.pick({ OPENAI_BASE_URL: true, OPENAI_API_KEY: true, OPENAI_TIMEOUT: true, OPENAI_MAX_RETRIES: true });
export type ToolEnv = Pick<Env, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY' | 'OPENAI_TIMEOUT' | 'OPENAI_MAX_RETRIES'>;

export interface ToolLlm {
  client: LlmClient;
  env: ToolEnv;
  /** For the report header: where decisions come from. */
  label: string;
  scripted: boolean;
  /** Run at stop(): what else the command opened for its LLM work (a database for the knowledge base). */
  onStop(close: () => Promise<unknown>): void;
  stop(): Promise<void>;
}

/**
 * The scripted LLM (a keyword matcher behind a real OpenAI-compatible HTTP server, so the SDK path
 * is the production one) or OPENAI_BASE_URL with OPENAI_API_KEY.
 */
export async function toolLlm(scripted: boolean, env: NodeJS.ProcessEnv = process.env): Promise<ToolLlm> {
  let fake: FakeLlm | undefined;
  let baseUrl = env.OPENAI_BASE_URL;
  if (scripted) {
    fake = new FakeLlm().respondWith(scriptedAnswer);
    baseUrl = await fake.start();
  }
  const source: Record<string, string | undefined> = { ...env, OPENAI_BASE_URL: baseUrl, OPENAI_API_KEY: scripted ? 'scripted' : env.OPENAI_API_KEY };
  // An empty variable means "not set", as it does for the service.
  const result = ToolEnvSchema.safeParse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== '')));
  if (!result.success) {
    await fake?.stop();
    throw new ConfigError(result.error.issues.map((i) => `environment variable ${String(i.path[0])} ${source[String(i.path[0])] ? i.message : 'is required but not set'}`));
  }
  const parsed = result.data;
  const closers: Array<() => Promise<unknown>> = [];
  return {
    client: new OpenAiLlmClient(parsed),
    env: parsed,
    // A base URL may carry a key (`?api-key=`) or credentials: never into a report as it is.
    label: scripted ? 'scripted (keyword matcher, no API key)' : redactUrl(parsed.OPENAI_BASE_URL),
    scripted,
    onStop: (close) => void closers.push(close),
    stop: async () => {
      for (const close of closers) await close().catch(() => undefined);
      await fake?.stop();
    },
  };
}
