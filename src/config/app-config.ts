import { resolve } from 'node:path';
import type { AgentConfig, ModelPrice } from './agents.schema.js';
import { readAgentsFile, type AgentsFile } from './agents.loader.js';
import { parseEnv, type Env } from './env.schema.js';

/** What a reload changed, per agent, for the log (never a secret's value). */
export interface AgentsChange {
  added: string[];
  removed: string[];
  /** Agent id → the top-level fields that differ (`secret` when only the secret did). */
  changed: Record<string, string[]>;
  pricing: boolean;
}

/** The fields compared as values; the secret is compared, never shown. */
const HIDDEN = new Set(['secret', 'actionEnv', 'baseDir', 'organisation', 'llmEndpoint']);

/**
 * The validated configuration of one process: the environment (fixed for the process's life) and
 * the agents it serves, which a reload of the agents file replaces at once (agents-reloader.ts).
 * Each turn reads its agent once and keeps that object, so a turn in flight finishes with the
 * configuration it started with.
 */
export class AppConfig {
  private served: { agents: readonly AgentConfig[]; byId: Map<string, AgentConfig>; pricing: Readonly<Record<string, ModelPrice>> };
  /** Agents a reload removed: intake refuses them, but their open conversations end by their timers. */
  private readonly retired = new Map<string, AgentConfig>();

  constructor(
    readonly env: Env,
    agents: readonly AgentConfig[],
    /** The agents file's price table: the console estimates costs with it. */
    pricing: Readonly<Record<string, ModelPrice>> = {},
    /** Where a reload reads the secrets the agents file names (the environment, and `.env` again). */
    readonly envSource: () => Record<string, string | undefined> = () => process.env,
  ) {
    this.served = { agents, byId: new Map(agents.map((a) => [a.id, a])), pricing };
  }

  /**
   * Validates the environment, then the agents file it names; throws ConfigError naming each
   * problem. `reread` gives the variables again at a reload (by default, `source` itself).
   */
  static load(source: Record<string, string | undefined> = process.env, reread: () => Record<string, string | undefined> = () => source): AppConfig {
    const env = parseEnv(source);
    const file = readAgentsFile(resolve(env.AGENTS_FILE), source);
    return new AppConfig(env, file.agents, file.pricing, reread);
  }

  get agents(): readonly AgentConfig[] {
    return this.served.agents;
  }

  get pricing(): Readonly<Record<string, ModelPrice>> {
    return this.served.pricing;
  }

  /** The agent of a conversation: served now, or removed by a reload while it was open. */
  agent(id: string): AgentConfig | undefined {
    return this.served.byId.get(id) ?? this.retired.get(id);
  }

  /** The agent a webhook may reach: only one the agents file lists now. */
  servedAgent(id: string): AgentConfig | undefined {
    return this.served.byId.get(id);
  }

  /** Swaps in a validated agents file at once, and says what changed. */
  replace(file: AgentsFile): AgentsChange {
    const before = this.served;
    const byId = new Map(file.agents.map((a) => [a.id, a]));
    const change: AgentsChange = { added: [], removed: [], changed: {}, pricing: JSON.stringify(before.pricing) !== JSON.stringify(file.pricing) };
    for (const agent of file.agents) {
      const old = before.byId.get(agent.id);
      if (!old) {
        change.added.push(agent.id);
        continue;
      }
      const fields = Object.keys({ ...old, ...agent }).filter((key) => !HIDDEN.has(key) && JSON.stringify(old[key as keyof AgentConfig]) !== JSON.stringify(agent[key as keyof AgentConfig]));
      if (!old.secret.equals(agent.secret)) fields.push('secret');
      if (JSON.stringify(old.actionEnv) !== JSON.stringify(agent.actionEnv)) fields.push('action secrets');
      if (JSON.stringify(old.organisation) !== JSON.stringify(agent.organisation)) fields.push('inbox credentials');
      if (JSON.stringify(old.llmEndpoint) !== JSON.stringify(agent.llmEndpoint)) fields.push('llm credentials');
      if (fields.length) change.changed[agent.id] = fields;
    }
    for (const old of before.agents) {
      if (!byId.has(old.id)) {
        change.removed.push(old.id);
        this.retired.set(old.id, old);
      }
    }
    for (const id of byId.keys()) this.retired.delete(id);
    this.served = { agents: file.agents, byId, pricing: file.pricing };
    return change;
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
