import { resolve } from 'node:path';
import type { AgentConfig } from './agents.schema.js';
import { loadAgentsFile } from './agents.loader.js';
import { parseEnv, type Env } from './env.schema.js';

/** The validated configuration of one process: the environment and every agent it serves. */
export class AppConfig {
  private readonly byId: Map<string, AgentConfig>;

  constructor(
    readonly env: Env,
    readonly agents: readonly AgentConfig[],
  ) {
    this.byId = new Map(agents.map((a) => [a.id, a]));
  }

  /** Validates the environment, then the agents file it names; throws ConfigError naming each problem. */
  static load(source: Record<string, string | undefined> = process.env): AppConfig {
    const env = parseEnv(source);
    return new AppConfig(env, loadAgentsFile(resolve(env.AGENTS_FILE), source));
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
}
