import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './config.error.js';
import { AgentsFileSchema, defaultHandoverMessage, type AgentConfig } from './agents.schema.js';

/** Reads, validates and resolves the agents file; every problem names the line, the agent and the field. */
export function loadAgentsFile(path: string, env: Record<string, string | undefined>): AgentConfig[] {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`agents file ${path} cannot be read: ${(err as Error).message}`]);
  }
  return parseAgents(source, env, path);
}

export function parseAgents(source: string, env: Record<string, string | undefined>, name = 'agents file'): AgentConfig[] {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `${name}:${lines.linePos(e.pos[0]).line}: YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const raw: unknown = doc.toJS();
  const result = AgentsFileSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, doc, lines, raw, name)));
  }

  const problems: string[] = [];
  const agents = result.data.agents.map((agent, i) => {
    const where = `${name}:${lineOf(doc, lines, ['agents', i, 'secretEnv'])}: agent "${agent.id}" field secretEnv`;
    const secretHex = env[agent.secretEnv];
    if (!secretHex) problems.push(`${where}: environment variable ${agent.secretEnv} is not set`);
    else if (!/^([0-9a-fA-F]{2})+$/.test(secretHex))
      problems.push(`${where}: environment variable ${agent.secretEnv} is not a hex string`);
    return {
      ...agent,
      secret: Buffer.from(secretHex ?? '', 'hex'),
      messages: { ...agent.messages, handover: agent.messages.handover ?? defaultHandoverMessage(agent.handoffRule) },
    };
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return agents;
}

function describeIssue(
  issue: z.core.$ZodIssue,
  doc: Document,
  lines: LineCounter,
  raw: unknown,
  name: string,
): string {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  const line = lineOf(doc, lines, path);
  let subject = 'top level';
  if (path[0] === 'agents' && typeof path[1] === 'number') {
    const id = (raw as { agents?: Array<{ id?: unknown }> }).agents?.[path[1]]?.id;
    const agent = typeof id === 'string' ? `agent "${id}"` : `agent #${path[1] + 1}`;
    const field = path.slice(2).join('.');
    subject = field ? `${agent} field ${field}` : agent;
  } else if (path.length > 0) {
    subject = `field ${path.join('.')}`;
  }
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field(s) ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_key') message = issue.issues[0]?.message ?? message;
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) message = 'is required';
  return `${name}:${line}: ${subject}: ${message}`;
}

/** The line of the deepest node that exists on the path (a missing field points at its parent). */
function lineOf(doc: Document, lines: LineCounter, path: Array<string | number>): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return 1;
}
