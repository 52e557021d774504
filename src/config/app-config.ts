import { resolve } from 'node:path';
import type { AgentConfig, ModelPrice } from './agents.schema.js';
import { readAgentsFile } from './agents.loader.js';
import { parseEnv, type Env } from './env.schema.js';

/** The validated configuration of one process: the environment and every agent it serves. */
export class AppConfig {
  private readonly byId: Map<string, AgentConfig>;

  constructor(
    readonly env: Env,
    readonly agents: readonly AgentConfig[],
    /** The agents file's price table: the console estimates costs with it. */
    readonly pricing: Readonly<Record<string, ModelPrice>> = {},
  ) {
    this.byId = new Map(agents.map((a) => [a.id, a]));
  }

  /** Validates the environment, then the agents file it names; throws ConfigError naming each problem. */
  static load(source: Record<string, string | undefined> = process.env): AppConfig {
    const env = parseEnv(source);
    const file = readAgentsFile(resolve(env.AGENTS_FILE), source);
    return new AppConfig(env, file.agents, file.pricing);
  }

  agent(id: string): AgentConfig | undefined {
    return this.byId.get(id);
  }

  get runsWeb(): boolean {
    return this.env.ROLE !== 'worker';
  }

  get runsWorkers(): boolean {
    return this.env.ROLE !== 'web';
  }

  /** The operator console is served by the web role, and only once a password is set. */
  get runsConsole(): boolean {
    return this.runsWeb && this.env.CONSOLE_PASSWORD !== undefined;
  }
}
