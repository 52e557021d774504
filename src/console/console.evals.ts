import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { Marked, type Tokens } from 'marked';
import { SafeHtml, escapeHtml } from './console.views.js';

/*
 * The reports `npm run eval` and `npm run replay` write: one folder per run under EVAL_RESULTS_DIR
 * (`<time>/` and `<time>-replay/`), each with report.md, report.json and results.jsonl.
 */

export const RUN_FILES = ['report.md', 'report.json', 'results.jsonl'] as const;
export type RunFile = (typeof RUN_FILES)[number];

/** What a run folder may be called: the commands write ISO times with `-` for `:` and `.`. No separators, no dot segments. */
const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
/** report.json is read whole for its header; past this it is only linked. */
const MAX_SUMMARY_BYTES = 20 * 1024 * 1024;
const MAX_RUNS = 200;
/** report.md is shown on the page up to this size; past it, downloaded. */
export const MAX_MARKDOWN_BYTES = 5 * 1024 * 1024;

export interface RunSummary {
  name: string;
  kind: 'eval' | 'replay' | 'unknown';
  startedAt: Date | null;
  agents: string[];
  llm: string | null;
  scripted: boolean | null;
  /** The headline: pass rate of an eval, changed turns of a replay. */
  headline: string | null;
  files: RunFile[];
}

export class BadRunNameError extends Error {
  override name = 'BadRunNameError';
}

/**
 * The folder of a run, or undefined when there is none. A name that could leave the results folder
 * (`..`, a separator, a symlink pointing out) throws: the caller answers 400, never reads it.
 */
export function runDirectory(root: string, name: string): string | undefined {
  if (!RUN_NAME.test(name) || name.includes('..')) throw new BadRunNameError(`"${name}" is not a run name`);
  const base = resolve(root);
  const dir = join(base, name);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  const real = realpathSync(dir);
  if (!real.startsWith(realpathSync(base) + sep)) throw new BadRunNameError(`"${name}" points outside ${root}`);
  return real;
}

/** A file of a run, checked the same way (the file itself may be a symlink too). */
export function runFile(root: string, name: string, file: string): string | undefined {
  if (!(RUN_FILES as readonly string[]).includes(file)) throw new BadRunNameError(`"${file}" is not a report file`);
  const dir = runDirectory(root, name);
  if (!dir) return undefined;
  const path = join(dir, file);
  if (!existsSync(path) || !statSync(path).isFile()) return undefined;
  const real = realpathSync(path);
  if (!real.startsWith(dir + sep)) throw new BadRunNameError(`"${name}/${file}" points outside ${root}`);
  return real;
}

/** The newest runs first (their names start with the time). */
export function listRuns(root: string): { runs: RunSummary[]; missing: boolean; more: number } {
  const base = resolve(root);
  if (!existsSync(base)) return { runs: [], missing: true, more: 0 };
  const names = readdirSync(base, { withFileTypes: true })
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && RUN_NAME.test(e.name))
    .map((e) => e.name)
    .sort()
    .reverse();
  const runs: RunSummary[] = [];
  for (const name of names) {
    if (runs.length >= MAX_RUNS) break;
    const summary = summarize(base, name);
    if (summary) runs.push(summary);
  }
  return { runs, missing: false, more: Math.max(0, names.length - runs.length) };
}

export function summarize(root: string, name: string): RunSummary | undefined {
  let dir: string | undefined;
  try {
    dir = runDirectory(root, name);
  } catch {
    return undefined;
  }
  if (!dir) return undefined;
  const files = RUN_FILES.filter((f) => existsSync(join(dir, f)));
  if (!files.includes('report.md') && !files.includes('report.json')) return undefined;
  const summary: RunSummary = {
    name,
    kind: name.endsWith('-replay') ? 'replay' : 'unknown',
    startedAt: timeFromName(name),
    agents: [],
    llm: null,
    scripted: null,
    headline: null,
    files,
  };
  const json = join(dir, 'report.json');
  if (files.includes('report.json') && statSync(json).size <= MAX_SUMMARY_BYTES) {
    try {
      const report = JSON.parse(readFileSync(json, 'utf8')) as ReportHeader;
      const info = report.info ?? {};
      if (info.kind === 'eval' || info.kind === 'replay') summary.kind = info.kind;
      if (typeof info.startedAt === 'string' && !Number.isNaN(Date.parse(info.startedAt))) summary.startedAt = new Date(info.startedAt);
      if (Array.isArray(info.agents)) summary.agents = info.agents.filter((a): a is string => typeof a === 'string');
      if (typeof info.llm === 'string') summary.llm = info.llm;
      if (typeof info.scripted === 'boolean') summary.scripted = info.scripted;
      summary.headline = headline(report);
    } catch {
      // A report being written, or hand-edited: listed by its name only.
    }
  }
  return summary;
}

interface ReportHeader {
  info?: { kind?: unknown; startedAt?: unknown; agents?: unknown[]; llm?: unknown; scripted?: unknown };
  metrics?: { passed?: unknown; runs?: unknown };
  totals?: { turns?: unknown; replayed?: unknown; actionChanged?: unknown; changed?: unknown };
}

function headline(report: ReportHeader): string | null {
  const m = report.metrics;
  if (m && typeof m.passed === 'number' && typeof m.runs === 'number') return `${m.passed} of ${m.runs} runs passed`;
  const t = report.totals;
  if (t && typeof t.replayed === 'number' && typeof t.actionChanged === 'number') return `${t.actionChanged} of ${t.replayed} turns changed action`;
  return null;
}

/** `2026-11-25T09-18-02-401Z-replay` → 2026-11-25T09:18:02.401Z */
function timeFromName(name: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z/.exec(name);
  if (!m) return null;
  const date = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

const SAFE_HREF = /^(https?:|mailto:|#|\/(?!\/))/i;

/**
 * Markdown as HTML for a report page. Raw HTML in the source is shown as text, never as markup: a
 * report quotes contact messages, and a contact can write `<script>`. Links keep only http(s),
 * mailto and local targets; images become links (the page loads nothing from elsewhere).
 */
const markdown = new Marked({
  gfm: true,
  renderer: {
    // The page has its own h1: the report's headings go one level down.
    heading(token: Tokens.Heading): string {
      const depth = Math.min(token.depth + 1, 6);
      return `<h${depth}>${this.parser.parseInline(token.tokens)}</h${depth}>\n`;
    },
    html(token: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(token.text);
    },
    link(token: Tokens.Link): string | false {
      if (SAFE_HREF.test(token.href.trim())) return false;
      return this.parser.parseInline(token.tokens);
    },
    image(token: Tokens.Image): string {
      const text = escapeHtml(token.text || token.href);
      return SAFE_HREF.test(token.href.trim()) ? `<a href="${escapeHtml(token.href)}" rel="noopener noreferrer">[image: ${text}]</a>` : `[image: ${text}]`;
    },
  },
});

export function renderMarkdown(source: string): SafeHtml {
  return new SafeHtml(markdown.parse(source, { async: false }));
}
