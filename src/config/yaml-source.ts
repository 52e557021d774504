import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './config.error.js';

/** A YAML file parsed with its line positions, so a validation error can name the line. */
export interface YamlSource {
  name: string;
  doc: Document;
  lines: LineCounter;
  raw: unknown;
}

/** Parses YAML; a syntax error becomes a ConfigError naming the file and line. */
export function parseYamlSource(source: string, name: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${name}:${lines.linePos(e.pos[0]).line}: YAML: ${e.message.split('\n')[0]}`));
  }
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // e.g. an alias bomb ("Excessive alias count"): still this file's problem, named as such.
    throw new ConfigError([`${name}: YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  return { name, doc, lines, raw };
}

/** The line of the deepest node that exists on the path (a missing field points at its parent). */
export function lineOf(src: Pick<YamlSource, 'doc' | 'lines'>, path: ReadonlyArray<PropertyKey>): number {
  const keys = path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  for (let depth = keys.length; depth >= 0; depth--) {
    const node = depth === 0 ? src.doc.contents : src.doc.getIn(keys.slice(0, depth), true);
    if (isNode(node) && node.range) return src.lines.linePos(node.range[0]).line;
  }
  return 1;
}

/** A zod issue in words: the message, with zod's wording for the common cases made plain. */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_key') return issue.issues[0]?.message ?? issue.message;
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return 'is required';
  if (issue.code === 'invalid_union') {
    // The branch that got furthest says the most; else zod's summary.
    const deepest = issue.errors.map((branch) => branch[0]).filter(Boolean).sort((a, b) => b.path.length - a.path.length)[0];
    if (deepest) return issueMessage(deepest);
  }
  return issue.message;
}

/**
 * `file:line: subject: problem`, where the subject names the list item by its key ("agent \"x\"
 * field llm.model", "case \"y\" field expect.action") so a long file's error is found at once.
 */
export function describeIssue(issue: z.core.$ZodIssue, src: YamlSource, list: { key: string; noun: string }): string {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  let subject = 'top level';
  if (path[0] === list.key && typeof path[1] === 'number') {
    const id = (src.raw as Record<string, Array<{ id?: unknown }> | undefined>)?.[list.key]?.[path[1]]?.id;
    const item = typeof id === 'string' ? `${list.noun} "${id}"` : `${list.noun} #${path[1] + 1}`;
    const field = path.slice(2).join('.');
    subject = field ? `${item} field ${field}` : item;
  } else if (path.length > 0) {
    subject = `field ${path.join('.')}`;
  }
  return `${src.name}:${lineOf(src, path)}: ${subject}: ${issueMessage(issue)}`;
}
