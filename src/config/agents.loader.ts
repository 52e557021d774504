import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './config.error.js';
import { AgentsFileSchema, defaultHandoverMessage, type AgentConfig, type ModelPrice } from './agents.schema.js';

/** The whole agents file: the agents, and the price table the cost estimates use. */
export interface AgentsFile {
  agents: AgentConfig[];
  pricing: Record<string, ModelPrice>;
}
import { HEADER_VALUE, envReferences } from '../actions/action.schema.js';
import { offeredActions } from '../actions/action.port.js';
import { describeIssue, lineOf, parseYamlSource } from './yaml-source.js';

/** Reads, validates and resolves the agents file; every problem names the line, the agent and the field. */
export function loadAgentsFile(path: string, env: Record<string, string | undefined>): AgentConfig[] {
  return readAgentsFile(path, env).agents;
}

export function readAgentsFile(path: string, env: Record<string, string | undefined>): AgentsFile {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`agents file ${path} cannot be read: ${(err as Error).message}`]);
  }
  return parseAgentsFile(source, env, path, dirname(resolve(path)));
}

export function parseAgents(source: string, env: Record<string, string | undefined>, name = 'agents file'): AgentConfig[] {
  return parseAgentsFile(source, env, name).agents;
}

/** `baseDir`: what knowledge `path` sources are relative to (the agents file's folder; here by default). */
export function parseAgentsFile(source: string, env: Record<string, string | undefined>, name = 'agents file', baseDir = process.cwd()): AgentsFile {
  const src = parseYamlSource(source, name);
  const result = AgentsFileSchema.safeParse(src.raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, src, { key: 'agents', noun: 'agent' })));
  }

  const problems: string[] = [];
  const agents = result.data.agents.map((agent, i) => {
    const where = `${name}:${lineOf(src, ['agents', i, 'secretEnv'])}: agent "${agent.id}" field secretEnv`;
    const secretHex = env[agent.secretEnv];
    if (!secretHex) problems.push(`${where}: environment variable ${agent.secretEnv} is not set`);
    else if (!/^([0-9a-fA-F]{2})+$/.test(secretHex))
      problems.push(`${where}: environment variable ${agent.secretEnv} is not a hex string`);
    // A lookup's header secrets must be there at boot, not discovered by the first contact who asks;
    // they are read once, here, with the rest of the configuration.
    const actionEnv: Record<string, string> = {};
    offeredActions(agent).forEach((action) => {
      const at = `${src.name}:${lineOf(src, ['agents', i, 'actions', agent.actions.indexOf(action), 'request', 'headers'])}: agent "${agent.id}" action "${action.name}"`;
      for (const name of envReferences(action)) {
        const value = env[name];
        if (!value) problems.push(`${at}: environment variable ${name} is not set`);
        else if (!HEADER_VALUE.test(value)) problems.push(`${at}: environment variable ${name} holds characters an HTTP header cannot carry`);
        else actionEnv[name] = value;
      }
    });
    // An agent's own organisation and LLM endpoint: read here, like its secret, so a missing
    // variable stops the load (or a reload) instead of failing the first conversation.
    const needed = (path: (string | number)[], field: string, variable: string | undefined, check?: (v: string) => string | undefined): string | undefined => {
      if (variable === undefined) return undefined;
      const value = env[variable];
      const at = `${src.name}:${lineOf(src, ['agents', i, ...path])}: agent "${agent.id}" field ${field}`;
      if (!value) {
        problems.push(`${at}: environment variable ${variable} is not set`);
        return undefined;
      }
      const problem = check?.(value);
      if (problem) problems.push(`${at}: environment variable ${variable} ${problem}`);
      return value;
    };
    const httpUrl = (v: string) => (/^https?:\/\/[^\s]+$/.test(v) && URL.canParse(v) ? undefined : 'is not an http(s) URL');
    const organisation = agent.inbox && {
      ...(agent.inbox.apiUrl ? { apiUrl: agent.inbox.apiUrl } : {}),
      clientId: needed(['inbox', 'clientIdEnv'], 'inbox.clientIdEnv', agent.inbox.clientIdEnv) ?? '',
      clientSecret: needed(['inbox', 'clientSecretEnv'], 'inbox.clientSecretEnv', agent.inbox.clientSecretEnv) ?? '',
      organizationId: needed(['inbox', 'organizationIdEnv'], 'inbox.organizationIdEnv', agent.inbox.organizationIdEnv) ?? '',
    };
    const baseUrl = needed(['llm', 'baseUrlEnv'], 'llm.baseUrlEnv', agent.llm.baseUrlEnv, httpUrl);
    const apiKey = needed(['llm', 'apiKeyEnv'], 'llm.apiKeyEnv', agent.llm.apiKeyEnv);
    // The deployment's own key must never go to another endpoint (another organisation's, say).
    if (agent.llm.baseUrlEnv && !agent.llm.apiKeyEnv)
      problems.push(`${src.name}:${lineOf(src, ['agents', i, 'llm', 'baseUrlEnv'])}: agent "${agent.id}" field llm.baseUrlEnv: name llm.apiKeyEnv too, so that OPENAI_API_KEY is never sent to another endpoint (a variable with any value will do for an endpoint that takes no key)`);
    const llmEndpoint = baseUrl || apiKey ? { ...(baseUrl ? { baseUrl } : {}), ...(apiKey ? { apiKey } : {}) } : undefined;
    return {
      ...agent,
      ...(organisation ? { organisation } : {}),
      ...(llmEndpoint ? { llmEndpoint } : {}),
      secret: Buffer.from(secretHex ?? '', 'hex'),
      messages: { ...agent.messages, handover: agent.messages.handover ?? defaultHandoverMessage(agent.handoffRule) },
      baseDir,
      actionEnv,
    };
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { agents, pricing: result.data.pricing };
}
